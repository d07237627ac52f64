//! Typed events and manual payloads, parsed strictly: every error names the field and what was
//! expected, and nothing is done with an input that does not parse. One file per function's
//! input; the EventBridge envelope and the checks they share are here.

mod image_push;
mod manual;
mod nlb_sync;
mod service_sync;
#[cfg(test)]
mod tests;

use serde::Deserialize;
use serde_json::Value;

pub use image_push::{
    DeployTarget, EcrImageAction, EcsServiceAction, EcsTaskContainer, EcsTaskDetail, ImagePushRequest,
};

/// Parses an `image-push` invocation: an EventBridge event (ECR, ECS, the schedule) or a manual
/// payload.
pub fn parse_image_push(value: &serde_json::Value) -> Result<ImagePushRequest, InputError> {
    if is_envelope(value) {
        image_push::parse_event(value)
    } else {
        manual::parse_manual(value)
    }
}
pub use nlb_sync::{parse_nlb_sync, NlbSyncRequest};
pub use service_sync::{parse_service_sync, EcsDeploymentDetail, ServiceSyncRequest};

use crate::input::json::{deserialize_at, require_objects};
use crate::input::InputError;

/// Detail type of ECR image events.
pub const ECR_IMAGE_ACTION: &str = "ECR Image Action";
/// Detail type of ECR's event for an image that reached a replica (`action-type` `REPLICATE`),
/// sent in the replica's account and region.
pub const ECR_REPLICATION_ACTION: &str = "ECR Replication Action";

/// Detail type of ECS deployment events.
pub const ECS_DEPLOYMENT_STATE_CHANGE: &str = "ECS Deployment State Change";
/// Detail type of ECS service events (`SERVICE_TASK_START_IMPAIRED`, ...).
pub const ECS_SERVICE_ACTION: &str = "ECS Service Action";
/// Detail type of EventBridge schedules.
pub const SCHEDULED_EVENT: &str = "Scheduled Event";
/// detail-type of ECS's lifecycle hook events (`HOOK_AWAITING_ACTION` and the others; AWS
/// documents no `detail` for them, so only the service ARN in `resources` is read).
pub const ECS_HOOK_STATE_CHANGE: &str = "ECS Hook State Change";
/// detail-type of ECS's task events: a gate task's stop (`lastStatus` `STOPPED`) decides its
/// deploy.
pub const ECS_TASK_STATE_CHANGE: &str = "ECS Task State Change";

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

/// True when the value looks like an EventBridge envelope rather than a manual payload.
pub fn is_envelope(value: &Value) -> bool {
    value.get("detail-type").is_some() || value.get("source").is_some() || value.get("detail").is_some()
}

/// Parses the EventBridge envelope, naming the first bad field.
pub fn parse_envelope(value: &Value) -> Result<Envelope, InputError> {
    require_objects(value, "", &["detail"])?;
    deserialize_at(value, "")
}

/// The ECS service ARN an ECS event names in `resources`.
pub(crate) fn service_arn_of(envelope: &Envelope) -> Result<String, InputError> {
    envelope
        .resources
        .iter()
        .find(|r| r.starts_with("arn:") && r.contains(":service/"))
        .cloned()
        .ok_or_else(|| InputError::new("resources", "the ECS service ARN (`arn:...:service/cluster/name`)"))
}

pub(crate) fn check_app_name(app: &str, field: &str) -> Result<(), InputError> {
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

/// The longest image tag ECR takes (`PutImage`'s `imageTag`: 1-300 characters; Docker's own
/// tags stop at 128).
pub const TAG_MAX_CHARS: usize = 300;

/// True for an image tag an application can follow or a payload can name: 1-300 letters,
/// digits, `_`, `.`, `-`.
pub fn is_tag(s: &str) -> bool {
    (1..=TAG_MAX_CHARS).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Tag prefixes the deployer keeps for itself: `live-<app>` and `prev-<app>` (or one
/// `live-sha256-<hex>` an image) mark the images in use, `retired-` an image released with no
/// other tag. Putting them is a `PutImage`, which ECR reports as a push, so a push of such a tag
/// is never a deploy.
pub const RESERVED_TAG_PREFIXES: [&str; 3] = ["live-", "prev-", "retired-"];

/// True for a tag of the deployer's own ([`RESERVED_TAG_PREFIXES`]).
pub fn is_reserved_tag(tag: &str) -> bool {
    RESERVED_TAG_PREFIXES.iter().any(|prefix| tag.starts_with(prefix))
}
