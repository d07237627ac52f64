//! The manual payloads of `image-push`: `deploy`, `rollback`, `promote`, `approve`, `status`,
//! `continue` and `abort`, each with `by` and (where it means something) `dry_run`.

use serde::Deserialize;
use serde_json::Value;

use super::image_push::{DeployTarget, ImagePushRequest};
use super::{check_app_name, is_digest, is_tag};
use crate::input::json::{deserialize_at, require_objects};
use crate::input::InputError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualImagePush {
    #[serde(default)]
    deploy: Option<ManualDeploy>,
    #[serde(default)]
    rollback: Option<ManualRollback>,
    #[serde(default)]
    status: Option<ManualStatus>,
    #[serde(default)]
    promote: Option<ManualPromote>,
    #[serde(default)]
    approve: Option<ManualApprove>,
    #[serde(default, rename = "continue")]
    go_on: Option<ManualPaused>,
    #[serde(default)]
    abort: Option<ManualPaused>,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    by: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualDeploy {
    app: String,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    revision: Option<i32>,
    #[serde(default, rename = "override")]
    override_gate: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualRollback {
    app: String,
    #[serde(default)]
    revision: Option<i32>,
    #[serde(default)]
    force: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualStatus {
    #[serde(default)]
    app: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualPromote {
    app: String,
    #[serde(default)]
    digest: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualApprove {
    app: String,
    digest: String,
}

/// `continue` and `abort`: the application whose deploy is paused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualPaused {
    app: String,
}

/// Characters of `by` kept: it is free text that records, events and `status` show.
pub const MAX_BY_CHARS: usize = 80;

/// `by` as kept: printable characters only (no control characters, which would forge lines in
/// logs and terminals), trimmed, at most [`MAX_BY_CHARS`]; refused when nothing printable is left.
fn who_asks(by: &str) -> Result<String, InputError> {
    let printable: String = by.chars().filter(|c| !c.is_control()).collect();
    let kept: String = printable.trim().chars().take(MAX_BY_CHARS).collect();
    match kept.trim_end() {
        "" => Err(InputError::new(
            "by",
            "who or what asks: printable text (80 characters are kept)",
        )),
        kept => Ok(kept.to_owned()),
    }
}

/// Parses a manual payload (anything that is not an EventBridge envelope).
pub(super) fn parse_manual(value: &Value) -> Result<ImagePushRequest, InputError> {
    if !value.is_object() {
        return Err(InputError::new(
            "$",
            "an EventBridge `ECR Image Action` event or a manual payload object such as {\"deploy\": {\"app\": \"orders\", \"tag\": \"v42\"}}",
        ));
    }
    require_objects(
        value,
        "",
        &[
            "deploy", "rollback", "status", "promote", "approve", "continue", "abort",
        ],
    )?;
    let mut manual: ManualImagePush = deserialize_at(value, "")?;
    manual.by = manual.by.as_deref().map(who_asks).transpose()?;
    let asked = [
        manual.deploy.is_some(),
        manual.rollback.is_some(),
        manual.status.is_some(),
        manual.promote.is_some(),
        manual.approve.is_some(),
        manual.go_on.is_some(),
        manual.abort.is_some(),
    ];
    if asked.iter().filter(|a| **a).count() > 1 {
        return Err(InputError::new(
            "$",
            "one of `deploy`, `rollback`, `promote`, `approve`, `continue`, `abort` or `status`, not several",
        ));
    }
    for (paused, field) in [(&manual.go_on, "continue"), (&manual.abort, "abort")] {
        let Some(paused) = paused else { continue };
        check_app_name(&paused.app, &format!("{field}.app"))?;
        if manual.dry_run {
            return Err(InputError::new(
                "dry_run",
                format!("not with `{field}`: it answers what ECS waits for"),
            ));
        }
        let (app, by) = (paused.app.clone(), manual.by.clone());
        return Ok(match field {
            "continue" => ImagePushRequest::Continue { app, by },
            _ => ImagePushRequest::Abort { app, by },
        });
    }
    if let Some(promote) = manual.promote {
        check_app_name(&promote.app, "promote.app")?;
        if promote.digest.as_deref().is_some_and(|d| !is_digest(d)) {
            return Err(InputError::new(
                "promote.digest",
                "a digest `sha256:` followed by 64 hex digits",
            ));
        }
        return Ok(ImagePushRequest::Promote {
            app: promote.app,
            digest: promote.digest,
            by: manual.by,
            dry_run: manual.dry_run,
        });
    }
    if let Some(approve) = manual.approve {
        check_app_name(&approve.app, "approve.app")?;
        if !is_digest(&approve.digest) {
            return Err(InputError::new(
                "approve.digest",
                "the pending promotion's digest: `sha256:` followed by 64 hex digits",
            ));
        }
        if manual.dry_run {
            return Err(InputError::new(
                "dry_run",
                "not with `approve`: approving is the decision",
            ));
        }
        return Ok(ImagePushRequest::Approve {
            app: approve.app,
            digest: approve.digest,
            by: manual.by,
        });
    }
    if let Some(status) = manual.status {
        if let Some(app) = &status.app {
            check_app_name(app, "status.app")?;
        }
        return Ok(ImagePushRequest::Status { app: status.app });
    }
    match (manual.deploy, manual.rollback) {
        (Some(deploy), None) => {
            check_app_name(&deploy.app, "deploy.app")?;
            if let Some(revision) = deploy.revision {
                if revision < 1 {
                    return Err(InputError::new("deploy.revision", "a revision number of at least 1"));
                }
                if deploy.tag.is_some() {
                    return Err(InputError::new(
                        "deploy.tag",
                        "not with `revision`: a revision is deployed with a digest (`digest`, or the one the application runs)",
                    ));
                }
            }
            let target = match (deploy.tag, deploy.digest, deploy.revision) {
                (None, digest, Some(revision)) if digest.as_deref().is_none_or(is_digest) => {
                    DeployTarget::Revision { revision, digest }
                }
                (Some(tag), None, None) if is_tag(&tag) => DeployTarget::Tag(tag),
                (Some(_), None, None) => {
                    return Err(InputError::new(
                        "deploy.tag",
                        "a tag of 1-300 letters, digits, `_`, `.`, `-`",
                    ))
                }
                (None, Some(digest), None) if is_digest(&digest) => DeployTarget::Digest(digest),
                (None, Some(_), _) => {
                    return Err(InputError::new(
                        "deploy.digest",
                        "a digest `sha256:` followed by 64 hex digits",
                    ))
                }
                _ => {
                    return Err(InputError::new(
                        "deploy",
                        "exactly one of `tag`, `digest` or `revision` (a revision may come with a `digest`)",
                    ))
                }
            };
            Ok(ImagePushRequest::Deploy {
                app: deploy.app,
                target,
                override_gate: deploy.override_gate,
                by: manual.by,
                dry_run: manual.dry_run,
            })
        }
        (None, Some(rollback)) => {
            check_app_name(&rollback.app, "rollback.app")?;
            if let Some(revision) = rollback.revision {
                if revision < 1 {
                    return Err(InputError::new("rollback.revision", "a revision number of at least 1"));
                }
            }
            Ok(ImagePushRequest::Rollback {
                app: rollback.app,
                revision: rollback.revision,
                force: rollback.force,
                by: manual.by,
                dry_run: manual.dry_run,
            })
        }
        _ => Err(InputError::new(
            "$",
            "exactly one of `deploy`, `rollback`, `promote`, `approve`, `continue`, `abort` or `status` (and optionally `dry_run`, `by`)",
        )),
    }
}
