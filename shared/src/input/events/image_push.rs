//! `image-push` input: the events it takes (ECR pushes and replications, ECS deployment, service
//! and hook events, the schedule) and what a request is; the manual payloads are [`super::manual`]'s.

use serde::Deserialize;
use serde_json::Value;

use super::{
    is_digest, parse_envelope, service_arn_of, EcsDeploymentDetail, ECR_IMAGE_ACTION, ECR_REPLICATION_ACTION,
    ECS_DEPLOYMENT_STATE_CHANGE, ECS_HOOK_STATE_CHANGE, ECS_SERVICE_ACTION, ECS_TASK_STATE_CHANGE, SCHEDULED_EVENT,
};
use crate::input::json::deserialize_at;
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

/// `detail` of an `ECS Task State Change` event (the fields a gate task's end needs).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcsTaskDetail {
    /// The task's cluster.
    pub cluster_arn: String,
    /// The task.
    pub task_arn: String,
    /// `PROVISIONING` ... `RUNNING` ... `STOPPED`.
    pub last_status: String,
    /// Why it stopped.
    #[serde(default)]
    pub stopped_reason: Option<String>,
    /// ECS's stop code.
    #[serde(default)]
    pub stop_code: Option<String>,
    /// Who started it (`ecs-deployer/gate` for a gate task).
    #[serde(default)]
    pub started_by: Option<String>,
    /// Its containers.
    #[serde(default)]
    pub containers: Vec<EcsTaskContainer>,
}

/// One container of an [`EcsTaskDetail`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcsTaskContainer {
    /// Its name in the task definition.
    pub name: String,
    /// Its exit code, once it exited.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Why it stopped, when ECS says.
    #[serde(default)]
    pub reason: Option<String>,
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
    /// ECS says a lifecycle hook of a service's deployment changed state (a pause hook waits,
    /// or was answered): the service's deploys in progress are followed through the service
    /// deployments API. AWS documents no `detail` for it: only the service ARN is used.
    Hook {
        /// The service ARN (`resources[0]`).
        service_arn: String,
    },
    /// ECS says a task changed state: a gate task's stop decides its deploy.
    Task {
        /// The event's detail.
        detail: EcsTaskDetail,
    },
    /// The settle schedule: deploys with no end after the settle time are settled from ECS.
    Settle,
    /// A `continue` payload: the application's deploy paused at a lifecycle hook goes on.
    Continue {
        /// Application name.
        app: String,
        /// Who asked.
        by: Option<String>,
    },
    /// An `abort` payload: the application's deploy paused at a lifecycle hook rolls back.
    Abort {
        /// Application name.
        app: String,
        /// Who asked.
        by: Option<String>,
    },
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
            | ImagePushRequest::Hook { .. }
            | ImagePushRequest::Task { .. }
            | ImagePushRequest::Continue { .. }
            | ImagePushRequest::Abort { .. }
            | ImagePushRequest::Approve { .. }
            | ImagePushRequest::Status { .. } => false,
            ImagePushRequest::Deploy { dry_run, .. }
            | ImagePushRequest::Rollback { dry_run, .. }
            | ImagePushRequest::Promote { dry_run, .. } => *dry_run,
        }
    }
}

/// Parses an EventBridge envelope sent to `image-push`: ECR pushes and replications, ECS
/// deployment, service and hook events, the schedule.
pub(super) fn parse_event(value: &Value) -> Result<ImagePushRequest, InputError> {
    let envelope = parse_envelope(value)?;
    let expected_source = match envelope.detail_type.as_str() {
            ECR_IMAGE_ACTION | ECR_REPLICATION_ACTION => "aws.ecr",
            ECS_DEPLOYMENT_STATE_CHANGE | ECS_SERVICE_ACTION | ECS_HOOK_STATE_CHANGE | ECS_TASK_STATE_CHANGE => "aws.ecs",
            SCHEDULED_EVENT => "aws.events",
            other => {
                return Err(InputError::new(
                    "detail-type",
                    format!(
                        "`{ECR_IMAGE_ACTION}`, `{ECR_REPLICATION_ACTION}`, `{ECS_DEPLOYMENT_STATE_CHANGE}`, `{ECS_SERVICE_ACTION}`, `{ECS_HOOK_STATE_CHANGE}`, `{ECS_TASK_STATE_CHANGE}` or `{SCHEDULED_EVENT}`, got {}",
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
        ECS_HOOK_STATE_CHANGE => {
            return Ok(ImagePushRequest::Hook {
                service_arn: service_arn_of(&envelope)?,
            })
        }
        ECS_TASK_STATE_CHANGE => {
            return Ok(ImagePushRequest::Task {
                detail: deserialize_at(&envelope.detail, "detail")?,
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
    Ok(ImagePushRequest::Push {
        id: envelope.id,
        account: envelope.account,
        time: envelope.time,
        detail,
    })
}
