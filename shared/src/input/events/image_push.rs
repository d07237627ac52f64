//! `image-push` input: the `ECR Image Action` event and the manual `deploy` and `rollback` payloads.

use serde::Deserialize;
use serde_json::Value;

use super::{
    check_app_name, is_digest, is_envelope, is_tag, parse_envelope, service_arn_of, EcsDeploymentDetail,
    ECR_IMAGE_ACTION, ECR_REPLICATION_ACTION, ECS_DEPLOYMENT_STATE_CHANGE, ECS_SERVICE_ACTION, SCHEDULED_EVENT,
};
use crate::input::json::{deserialize_at, require_objects};
use crate::input::{quoted, InputError};

/// `detail` of an `ECR Image Action` event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct EcrImageAction {
    /// `PUSH` or `DELETE`; `REPLICATE` in an `ECR Replication Action` (the image reached a
    /// replica: to the deployer, a push there).
    pub action_type: String,
    /// `SUCCESS` or `FAILURE`.
    pub result: String,
    /// Repository name.
    pub repository_name: String,
    /// Image digest (`sha256:...`).
    #[serde(default)]
    pub image_digest: Option<String>,
    /// Image tag; absent or empty for a push by digest.
    #[serde(default)]
    pub image_tag: Option<String>,
    /// Media type of the manifest.
    #[serde(default)]
    pub manifest_media_type: Option<String>,
    /// Media type of the artifact.
    #[serde(default)]
    pub artifact_media_type: Option<String>,
}

/// `detail` of an `ECS Service Action` event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcsServiceAction {
    /// `INFO`, `WARN` or `ERROR`.
    #[serde(default)]
    pub event_type: Option<String>,
    /// `SERVICE_TASK_START_IMPAIRED`, `SERVICE_STEADY_STATE`, ...
    pub event_name: String,
    /// When ECS noticed it.
    #[serde(default)]
    pub created_at: Option<String>,
}

/// What to deploy in a manual `deploy` payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeployTarget {
    /// The tag's current digest.
    Tag(String),
    /// A digest (`sha256:...`).
    Digest(String),
    /// A revision of the service's family: its shape, with the followed container pinned to
    /// `digest` (none: the digest the application runs now).
    Revision {
        /// Revision number.
        revision: i32,
        /// The image to pin, or none for the running one.
        digest: Option<String>,
    },
}

/// An invocation of `image-push`.
#[derive(Debug, Clone, PartialEq)]
pub enum ImagePushRequest {
    /// An `ECR Image Action` event from EventBridge.
    Push {
        /// Event ID.
        id: String,
        /// The account of the registry pushed to (the envelope's `account`).
        account: String,
        /// When the push happened (the envelope's `time`, RFC 3339).
        time: String,
        /// The event's detail.
        detail: EcrImageAction,
    },
    /// A manual deploy of one application.
    Deploy {
        /// Application name.
        app: String,
        /// Tag or digest.
        target: DeployTarget,
        /// Deploy an application promoted from another (`promote_from`) around its promotion
        /// gate: recorded and published as an override.
        override_gate: bool,
        /// Who or what asked (the payload's `by`), kept in the deploy record.
        by: Option<String>,
        /// Plan only.
        dry_run: bool,
    },
    /// A manual rollback of one application.
    Rollback {
        /// Application name.
        app: String,
        /// Revision of the service's family; none means the last good one.
        revision: Option<i32>,
        /// Roll back even to a revision that names its image by tag (which may now name the
        /// image being fled).
        force: bool,
        /// Who or what asked (the payload's `by`), kept in the deploy record.
        by: Option<String>,
        /// Plan only.
        dry_run: bool,
    },
    /// ECS says a deployment of a service changed state: the deploy it rolls out moves on.
    Deployment {
        /// The service ARN (`resources[0]`).
        service_arn: String,
        /// When it happened (the envelope's `time`).
        time: String,
        /// The event's detail.
        detail: EcsDeploymentDetail,
    },
    /// ECS says something of a service (`SERVICE_TASK_START_IMPAIRED` matters).
    ServiceAction {
        /// The service ARN.
        service_arn: String,
        /// When it happened (the envelope's `time`).
        time: String,
        /// The event's detail.
        detail: EcsServiceAction,
    },
    /// The settle schedule: deploys with no end after the settle time are settled from ECS.
    Settle,
    /// A manual `promote`: the application's `promote_from` source's last completed digest (or
    /// the one named, which must have completed there) deployed to it.
    Promote {
        /// The application promoted to.
        app: String,
        /// The digest; none means the source's last completed one.
        digest: Option<String>,
        /// Who or what asked.
        by: Option<String>,
        /// Plan only: say what would move and why.
        dry_run: bool,
    },
    /// A manual `approve` of the promotion pending for an application.
    Approve {
        /// The application promoted to.
        app: String,
        /// The digest approved: it must be the pending one.
        digest: String,
        /// Who approved.
        by: Option<String>,
    },
    /// A manual `status` of one application (none: all).
    Status {
        /// Application name.
        app: Option<String>,
    },
}

impl ImagePushRequest {
    /// True when the request asks for the plan only.
    pub fn dry_run(&self) -> bool {
        match self {
            ImagePushRequest::Push { .. }
            | ImagePushRequest::Deployment { .. }
            | ImagePushRequest::ServiceAction { .. }
            | ImagePushRequest::Settle
            | ImagePushRequest::Approve { .. }
            | ImagePushRequest::Status { .. } => false,
            ImagePushRequest::Deploy { dry_run, .. }
            | ImagePushRequest::Rollback { dry_run, .. }
            | ImagePushRequest::Promote { dry_run, .. } => *dry_run,
        }
    }
}

/// Parses an `image-push` invocation: an `ECR Image Action` event or a manual payload.
pub fn parse_image_push(value: &Value) -> Result<ImagePushRequest, InputError> {
    if is_envelope(value) {
        let envelope = parse_envelope(value)?;
        let expected_source = match envelope.detail_type.as_str() {
            ECR_IMAGE_ACTION | ECR_REPLICATION_ACTION => "aws.ecr",
            ECS_DEPLOYMENT_STATE_CHANGE | ECS_SERVICE_ACTION => "aws.ecs",
            SCHEDULED_EVENT => "aws.events",
            other => {
                return Err(InputError::new(
                    "detail-type",
                    format!(
                        "`{ECR_IMAGE_ACTION}`, `{ECR_REPLICATION_ACTION}`, `{ECS_DEPLOYMENT_STATE_CHANGE}`, `{ECS_SERVICE_ACTION}` or `{SCHEDULED_EVENT}`, got {}",
                        quoted(other)
                    ),
                ))
            }
        };
        if envelope.source != expected_source {
            return Err(InputError::new(
                "source",
                format!(
                    "`{expected_source}` for `{}`, got {}",
                    envelope.detail_type,
                    quoted(&envelope.source)
                ),
            ));
        }
        match envelope.detail_type.as_str() {
            ECS_DEPLOYMENT_STATE_CHANGE => {
                return Ok(ImagePushRequest::Deployment {
                    service_arn: service_arn_of(&envelope)?,
                    detail: deserialize_at(&envelope.detail, "detail")?,
                    time: envelope.time,
                })
            }
            ECS_SERVICE_ACTION => {
                return Ok(ImagePushRequest::ServiceAction {
                    service_arn: service_arn_of(&envelope)?,
                    detail: deserialize_at(&envelope.detail, "detail")?,
                    time: envelope.time,
                })
            }
            SCHEDULED_EVENT => return Ok(ImagePushRequest::Settle),
            _ => {}
        }
        let detail: EcrImageAction = deserialize_at(&envelope.detail, "detail")?;
        if let Some(digest) = &detail.image_digest {
            if !is_digest(digest) {
                return Err(InputError::new(
                    "detail.image-digest",
                    "a digest `sha256:` followed by 64 hex digits",
                ));
            }
        }
        // Any tag ECR sends is taken as it is: one no application can follow (longer than
        // Docker's 128 characters, up to ECR's 300) is ignored when applications are selected,
        // never refused (a refusal would retry and raise the failure alarm for nothing).
        return Ok(ImagePushRequest::Push {
            id: envelope.id,
            account: envelope.account,
            time: envelope.time,
            detail,
        });
    }
    parse_manual(value)
}

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

fn parse_manual(value: &Value) -> Result<ImagePushRequest, InputError> {
    if !value.is_object() {
        return Err(InputError::new(
            "$",
            "an EventBridge `ECR Image Action` event or a manual payload object such as {\"deploy\": {\"app\": \"orders\", \"tag\": \"v42\"}}",
        ));
    }
    require_objects(value, "", &["deploy", "rollback", "status", "promote", "approve"])?;
    let mut manual: ManualImagePush = deserialize_at(value, "")?;
    manual.by = manual.by.as_deref().map(who_asks).transpose()?;
    let asked = [
        manual.deploy.is_some(),
        manual.rollback.is_some(),
        manual.status.is_some(),
        manual.promote.is_some(),
        manual.approve.is_some(),
    ];
    if asked.iter().filter(|a| **a).count() > 1 {
        return Err(InputError::new(
            "$",
            "one of `deploy`, `rollback`, `promote`, `approve` or `status`, not several",
        ));
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
            "exactly one of `deploy`, `rollback`, `promote`, `approve` or `status` (and optionally `dry_run`, `by`)",
        )),
    }
}
