//! Typed events and manual payloads, parsed strictly: every error names the field and what was
//! expected, and nothing is done with an input that does not parse.

use serde::Deserialize;
use serde_json::Value;

use crate::error::InputError;

/// The EventBridge envelope shared by every event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Envelope {
    /// Event ID (stable across redeliveries of one event).
    pub id: String,
    /// Kind of event, such as `ECR Image Action`.
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    /// Emitting service, such as `aws.ecr`.
    pub source: String,
    /// Account the event happened in.
    #[serde(default)]
    pub account: String,
    /// When the event happened (RFC 3339).
    #[serde(default)]
    pub time: String,
    /// Region the event happened in.
    #[serde(default)]
    pub region: String,
    /// ARNs of the resources concerned.
    #[serde(default)]
    pub resources: Vec<String>,
    /// The event's own fields.
    pub detail: Value,
}

/// `detail` of an `ECR Image Action` event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct EcrImageAction {
    /// `PUSH` or `DELETE`.
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

/// What to deploy in a manual `deploy` payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeployTarget {
    /// The tag's current digest.
    Tag(String),
    /// A digest (`sha256:...`).
    Digest(String),
}

/// An invocation of `image-push`.
#[derive(Debug, Clone, PartialEq)]
pub enum ImagePushRequest {
    /// An `ECR Image Action` event from EventBridge.
    Push {
        /// Event ID.
        id: String,
        /// The event's detail.
        detail: EcrImageAction,
    },
    /// A manual deploy of one application.
    Deploy {
        /// Application name.
        app: String,
        /// Tag or digest.
        target: DeployTarget,
        /// Plan only.
        dry_run: bool,
    },
    /// A manual rollback of one application.
    Rollback {
        /// Application name.
        app: String,
        /// Revision of the service's family; none means the one before the current.
        revision: Option<i32>,
        /// Plan only.
        dry_run: bool,
    },
}

impl ImagePushRequest {
    /// True when the request asks for the plan only.
    pub fn dry_run(&self) -> bool {
        match self {
            ImagePushRequest::Push { .. } => false,
            ImagePushRequest::Deploy { dry_run, .. } | ImagePushRequest::Rollback { dry_run, .. } => *dry_run,
        }
    }
}

/// Detail type of ECR image events.
pub const ECR_IMAGE_ACTION: &str = "ECR Image Action";

/// Parses an `image-push` invocation: an `ECR Image Action` event or a manual payload.
pub fn parse_image_push(value: &Value) -> Result<ImagePushRequest, InputError> {
    if is_envelope(value) {
        let envelope = parse_envelope(value)?;
        if envelope.detail_type != ECR_IMAGE_ACTION {
            return Err(InputError::new(
                "detail-type",
                format!(
                    "`{ECR_IMAGE_ACTION}` (this function takes ECR events), got `{}`",
                    envelope.detail_type
                ),
            ));
        }
        if envelope.source != "aws.ecr" {
            return Err(InputError::new(
                "source",
                format!("`aws.ecr`, got `{}`", envelope.source),
            ));
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
        if let Some(tag) = detail.image_tag.as_deref().filter(|t| !t.is_empty()) {
            if !is_tag(tag) {
                return Err(InputError::new(
                    "detail.image-tag",
                    "a tag of 1-128 letters, digits, `_`, `.`, `-`",
                ));
            }
        }
        return Ok(ImagePushRequest::Push {
            id: envelope.id,
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
    dry_run: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualDeploy {
    app: String,
    #[serde(default)]
    tag: Option<String>,
    #[serde(default)]
    digest: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualRollback {
    app: String,
    #[serde(default)]
    revision: Option<i32>,
}

fn parse_manual(value: &Value) -> Result<ImagePushRequest, InputError> {
    if !value.is_object() {
        return Err(InputError::new(
            "$",
            "an EventBridge `ECR Image Action` event or a manual payload object such as {\"deploy\": {\"app\": \"orders\", \"tag\": \"v42\"}}",
        ));
    }
    require_objects(value, "", &["deploy", "rollback"])?;
    let manual: ManualImagePush = deserialize_at(value, "")?;
    match (manual.deploy, manual.rollback) {
        (Some(deploy), None) => {
            check_app_name(&deploy.app, "deploy.app")?;
            let target = match (deploy.tag, deploy.digest) {
                (Some(tag), None) if is_tag(&tag) => DeployTarget::Tag(tag),
                (Some(_), None) => {
                    return Err(InputError::new(
                        "deploy.tag",
                        "a tag of 1-128 letters, digits, `_`, `.`, `-`",
                    ))
                }
                (None, Some(digest)) if is_digest(&digest) => DeployTarget::Digest(digest),
                (None, Some(_)) => {
                    return Err(InputError::new(
                        "deploy.digest",
                        "a digest `sha256:` followed by 64 hex digits",
                    ))
                }
                _ => return Err(InputError::new("deploy", "exactly one of `tag` or `digest`")),
            };
            Ok(ImagePushRequest::Deploy {
                app: deploy.app,
                target,
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
                dry_run: manual.dry_run,
            })
        }
        _ => Err(InputError::new(
            "$",
            "exactly one of `deploy` or `rollback` (and optionally `dry_run`)",
        )),
    }
}

/// True when the value looks like an EventBridge envelope rather than a manual payload.
pub fn is_envelope(value: &Value) -> bool {
    value.get("detail-type").is_some() || value.get("source").is_some() || value.get("detail").is_some()
}

/// Parses the EventBridge envelope, naming the first bad field.
pub fn parse_envelope(value: &Value) -> Result<Envelope, InputError> {
    require_objects(value, "", &["detail"])?;
    deserialize_at(value, "")
}

/// Serde fills a struct from an array too (`{"sync": [["x"]]}` reads as `sync.apps`), which
/// would name fields the input does not have: where a struct is expected under one of `keys`,
/// only an object (or null) is accepted.
pub fn require_objects(value: &Value, base: &str, keys: &[&str]) -> Result<(), InputError> {
    for key in keys {
        match value.get(*key) {
            None | Some(Value::Null) | Some(Value::Object(_)) => {}
            Some(other) => {
                let field = if base.is_empty() {
                    (*key).to_owned()
                } else {
                    format!("{base}.{key}")
                };
                return Err(InputError::new(field, format!("an object (got {})", json_kind(other))));
            }
        }
    }
    Ok(())
}

/// `a string`, `an array`, ... for messages.
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A key as it appears in an error's field path (an empty key is shown as `""`).
pub fn key_in_path(key: &str) -> String {
    if key.is_empty() {
        "\"\"".to_owned()
    } else {
        key.to_owned()
    }
}

/// Deserializes `value`, turning serde's error into one that names the field path.
pub fn deserialize_at<T: serde::de::DeserializeOwned>(value: &Value, base: &str) -> Result<T, InputError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let inner = err.path().to_string();
        let field = match (base.is_empty(), inner == ".") {
            (true, true) => "$".to_owned(),
            (true, false) => inner,
            (false, true) => base.to_owned(),
            (false, false) => format!("{base}.{inner}"),
        };
        let message = err.into_inner().to_string();
        // serde names the missing or unknown field in its message; lift it into the path.
        let field = match missing_or_unknown_field(&message) {
            Some(name) if field == "$" => name,
            Some(name) if field != name && !field.ends_with(&format!(".{name}")) => {
                format!("{field}.{name}")
            }
            _ => field,
        };
        InputError::new(field, describe_serde_message(&message))
    })
}

fn missing_or_unknown_field(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("missing field `")
        .or_else(|| message.strip_prefix("unknown field `"))?;
    Some(key_in_path(rest.split('`').next()?))
}

/// Turns serde's "invalid type: X, expected Y" into "Y (got X)", the shape of every message here.
fn describe_serde_message(message: &str) -> String {
    if message.starts_with("missing field") {
        return "a value: the field is required".into();
    }
    // serde adds " at line L column C" for text input; values carry no position.
    let message = message.split(" at line ").next().unwrap_or(message);
    match message.split_once(", expected ") {
        Some((got, expected)) if message.starts_with("unknown field") => {
            format!("{expected} ({got})")
        }
        Some((got, expected)) => format!(
            "{expected} (got {})",
            got.trim_start_matches("invalid type: ")
                .trim_start_matches("invalid value: ")
        ),
        None => message.to_owned(),
    }
}

fn check_app_name(app: &str, field: &str) -> Result<(), InputError> {
    if app.is_empty() || app.len() > 64 {
        return Err(InputError::new(field, "an application name of 1-64 characters"));
    }
    Ok(())
}

/// True for `sha256:` followed by 64 lowercase hex digits.
pub fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)))
}

/// True for a valid image tag.
pub fn is_tag(s: &str) -> bool {
    (1..=128).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample(name: &str) -> Value {
        let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    fn field_of(value: Value) -> String {
        parse_image_push(&value).unwrap_err().field
    }

    #[test]
    fn the_sample_events_parse() {
        let ImagePushRequest::Push { detail, .. } = parse_image_push(&sample("ecr-push.json")).unwrap() else {
            panic!("not a push")
        };
        assert_eq!(
            (detail.action_type.as_str(), detail.repository_name.as_str()),
            ("PUSH", "orders")
        );
        assert_eq!(detail.image_tag.as_deref(), Some("latest"));
        assert!(matches!(
            parse_image_push(&sample("ecr-delete.json")),
            Ok(ImagePushRequest::Push { .. })
        ));
        assert_eq!(
            parse_image_push(&sample("manual-deploy-tag.json")).unwrap(),
            ImagePushRequest::Deploy {
                app: "orders".into(),
                target: DeployTarget::Tag("latest".into()),
                dry_run: false
            }
        );
        assert!(parse_image_push(&sample("manual-deploy-dry-run.json"))
            .unwrap()
            .dry_run());
        assert!(matches!(
            parse_image_push(&sample("manual-deploy-digest.json")).unwrap(),
            ImagePushRequest::Deploy {
                target: DeployTarget::Digest(_),
                ..
            }
        ));
        assert_eq!(
            parse_image_push(&sample("manual-rollback-revision-dry-run.json")).unwrap(),
            ImagePushRequest::Rollback {
                app: "orders".into(),
                revision: Some(1),
                dry_run: true
            }
        );
    }

    #[test]
    fn errors_name_the_field() {
        let mut event = sample("ecr-push.json");
        event["detail"]["image-digest"] = json!("md5:1");
        assert_eq!(field_of(event), "detail.image-digest");
        let mut event = sample("ecr-push.json");
        event["detail"].as_object_mut().unwrap().remove("action-type");
        assert_eq!(field_of(event), "detail.action-type");
        let mut event = sample("ecr-push.json");
        event["detail"]["result"] = json!(7);
        assert_eq!(field_of(event), "detail.result");
        let mut event = sample("ecr-push.json");
        event["source"] = json!("aws.s3");
        assert_eq!(field_of(event), "source");
        let mut event = sample("ecr-push.json");
        event.as_object_mut().unwrap().remove("detail");
        assert_eq!(field_of(event), "detail");
        assert_eq!(field_of(json!({"deploy": {"tag": "x"}})), "deploy.app");
        assert_eq!(
            field_of(json!({"deploy": {"app": "a", "tag": "bad tag"}})),
            "deploy.tag"
        );
        assert_eq!(
            field_of(json!({"deploy": {"app": "a", "digest": "sha256:12"}})),
            "deploy.digest"
        );
        assert_eq!(
            field_of(json!({"deploy": {"app": "a", "tag": "v", "extra": 1}})),
            "deploy.extra"
        );
        assert_eq!(
            field_of(json!({"rollback": {"app": "a", "revision": 0}})),
            "rollback.revision"
        );
        assert_eq!(field_of(json!({"dry_run": true})), "$");
        assert_eq!(field_of(json!("deploy")), "$");
    }

    #[test]
    fn the_service_sync_samples_parse() {
        let ServiceSyncRequest::Deployment { service_arn, detail } =
            parse_service_sync(&sample("ecs-deployment-completed.json")).unwrap()
        else {
            panic!("not a deployment event")
        };
        assert_eq!(
            service_arn,
            "arn:aws:ecs:ap-northeast-1:123456789012:service/sss/orders"
        );
        assert_eq!(detail.event_name, "SERVICE_DEPLOYMENT_COMPLETED");
        let failed = parse_service_sync(&sample("ecs-deployment-failed.json")).unwrap();
        assert!(
            matches!(failed, ServiceSyncRequest::Deployment { detail, .. } if detail.reason.as_deref().is_some_and(|r| r.contains("circuit breaker")))
        );
        assert_eq!(
            parse_service_sync(&sample("scheduled.json")).unwrap(),
            ServiceSyncRequest::Scheduled
        );
        assert_eq!(
            parse_service_sync(&sample("manual-sync.json")).unwrap(),
            ServiceSyncRequest::Manual {
                apps: Some(vec!["orders".into()]),
                dry_run: false
            }
        );
        assert!(parse_service_sync(&sample("manual-sync-dry-run.json"))
            .unwrap()
            .dry_run());
        assert_eq!(
            parse_service_sync(&sample("ecr-push.json")).unwrap_err().field,
            "detail-type"
        );
        let mut event = sample("ecs-deployment-completed.json");
        event["detail"].as_object_mut().unwrap().remove("deploymentId");
        assert_eq!(parse_service_sync(&event).unwrap_err().field, "detail.deploymentId");
    }

    #[test]
    fn digests_and_tags_are_checked() {
        assert!(is_digest(&format!("sha256:{}", "a".repeat(64))));
        assert!(!is_digest(&format!("sha256:{}", "A".repeat(64))));
        assert!(!is_digest("sha256:abc"));
        assert!(is_tag("release-1.2_3"));
        assert!(!is_tag(""));
        assert!(!is_tag(&"x".repeat(129)));
        assert!(!is_tag("a/b"));
    }
}

/// Detail type of ECS deployment events.
pub const ECS_DEPLOYMENT_STATE_CHANGE: &str = "ECS Deployment State Change";
/// Detail type of EventBridge schedules.
pub const SCHEDULED_EVENT: &str = "Scheduled Event";

/// `detail` of an `ECS Deployment State Change` event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcsDeploymentDetail {
    /// `INFO`, `WARN` or `ERROR`.
    #[serde(default)]
    pub event_type: Option<String>,
    /// `SERVICE_DEPLOYMENT_IN_PROGRESS`, `SERVICE_DEPLOYMENT_COMPLETED` or `SERVICE_DEPLOYMENT_FAILED`.
    pub event_name: String,
    /// The deployment (`ecs-svc/...`).
    pub deployment_id: String,
    /// When it changed.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// Why (for failures).
    #[serde(default)]
    pub reason: Option<String>,
}

/// An invocation of `service-sync`.
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceSyncRequest {
    /// A deployment of one service changed state.
    Deployment {
        /// The service ARN (`resources[0]`).
        service_arn: String,
        /// The event's detail.
        detail: EcsDeploymentDetail,
    },
    /// The drift-repair schedule: sync every application.
    Scheduled,
    /// A manual sync of the named applications (none: all).
    Manual {
        /// Application names.
        apps: Option<Vec<String>>,
        /// Plan only.
        dry_run: bool,
    },
}

impl ServiceSyncRequest {
    /// True when the request asks for the plan only.
    pub fn dry_run(&self) -> bool {
        matches!(self, ServiceSyncRequest::Manual { dry_run: true, .. })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualSync {
    sync: ManualSyncApps,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualSyncApps {
    #[serde(default)]
    apps: Option<Vec<String>>,
}

/// Parses a `service-sync` invocation: an ECS deployment event, a schedule, or a manual payload.
pub fn parse_service_sync(value: &Value) -> Result<ServiceSyncRequest, InputError> {
    if is_envelope(value) {
        let envelope = parse_envelope(value)?;
        return match (envelope.detail_type.as_str(), envelope.source.as_str()) {
            (ECS_DEPLOYMENT_STATE_CHANGE, "aws.ecs") => {
                let detail: EcsDeploymentDetail = deserialize_at(&envelope.detail, "detail")?;
                let service_arn = envelope
                    .resources
                    .iter()
                    .find(|r| r.starts_with("arn:") && r.contains(":service/"))
                    .cloned()
                    .ok_or_else(|| {
                        InputError::new("resources", "the ECS service ARN (`arn:...:service/cluster/name`)")
                    })?;
                Ok(ServiceSyncRequest::Deployment { service_arn, detail })
            }
            (SCHEDULED_EVENT, "aws.events") => Ok(ServiceSyncRequest::Scheduled),
            (ECS_DEPLOYMENT_STATE_CHANGE | SCHEDULED_EVENT, source) => Err(InputError::new(
                "source",
                format!("`aws.ecs` or `aws.events`, got `{source}`"),
            )),
            (other, _) => Err(InputError::new(
                "detail-type",
                format!("`{ECS_DEPLOYMENT_STATE_CHANGE}` or `{SCHEDULED_EVENT}`, got `{other}`"),
            )),
        };
    }
    if !value.is_object() {
        return Err(InputError::new(
            "$",
            "an EventBridge event or a manual payload such as {\"sync\": {\"apps\": [\"orders\"]}}",
        ));
    }
    require_objects(value, "", &["sync"])?;
    let manual: ManualSync = deserialize_at(value, "")?;
    if let Some(apps) = &manual.sync.apps {
        for (i, app) in apps.iter().enumerate() {
            check_app_name(app, &format!("sync.apps[{i}]"))?;
        }
    }
    Ok(ServiceSyncRequest::Manual {
        apps: manual.sync.apps,
        dry_run: manual.dry_run,
    })
}
