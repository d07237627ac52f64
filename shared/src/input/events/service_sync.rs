//! `service-sync` input: ECS deployment events, the drift-repair schedule and the manual `sync` payload.

use serde::Deserialize;
use serde_json::Value;

use super::{
    check_app_name, is_envelope, parse_envelope, service_arn_of, ECS_DEPLOYMENT_STATE_CHANGE, SCHEDULED_EVENT,
};
use crate::input::json::{deserialize_at, require_objects};
use crate::input::{quoted, InputError};

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
    /// A retention pass over one application's revisions (none: every application).
    Retention {
        /// Application name.
        app: Option<String>,
        /// List what would be kept and removed; change nothing.
        dry_run: bool,
    },
}

impl ServiceSyncRequest {
    /// True when the request asks for the plan only.
    pub fn dry_run(&self) -> bool {
        matches!(
            self,
            ServiceSyncRequest::Manual { dry_run: true, .. } | ServiceSyncRequest::Retention { dry_run: true, .. }
        )
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
struct ManualRetention {
    retention: RetentionOf,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetentionOf {
    #[serde(default)]
    app: Option<String>,
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
                let service_arn = service_arn_of(&envelope)?;
                Ok(ServiceSyncRequest::Deployment { service_arn, detail })
            }
            (SCHEDULED_EVENT, "aws.events") => Ok(ServiceSyncRequest::Scheduled),
            (ECS_DEPLOYMENT_STATE_CHANGE | SCHEDULED_EVENT, source) => Err(InputError::new(
                "source",
                format!("`aws.ecs` or `aws.events`, got {}", quoted(source)),
            )),
            (other, _) => Err(InputError::new(
                "detail-type",
                format!(
                    "`{ECS_DEPLOYMENT_STATE_CHANGE}` or `{SCHEDULED_EVENT}`, got {}",
                    quoted(other)
                ),
            )),
        };
    }
    if !value.is_object() {
        return Err(InputError::new(
            "$",
            "an EventBridge event or a manual payload such as {\"sync\": {\"apps\": [\"orders\"]}}",
        ));
    }
    if value.get("retention").is_some() {
        require_objects(value, "", &["retention"])?;
        let manual: ManualRetention = deserialize_at(value, "")?;
        if let Some(app) = &manual.retention.app {
            check_app_name(app, "retention.app")?;
        }
        return Ok(ServiceSyncRequest::Retention {
            app: manual.retention.app,
            dry_run: manual.dry_run,
        });
    }
    require_objects(value, "", &["sync"])?;
    let manual: ManualSync = deserialize_at(value, "")?;
    if let Some(apps) = &manual.sync.apps {
        for (i, app) in apps.iter().enumerate() {
            check_app_name(app, &format!("sync.apps[{i}]"))?;
        }
        crate::input::json::require_distinct(apps, "sync.apps")?;
    }
    Ok(ServiceSyncRequest::Manual {
        apps: manual.sync.apps,
        dry_run: manual.dry_run,
    })
}
