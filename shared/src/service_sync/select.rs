//! Which applications a service-sync invocation concerns.

use crate::input::config::{AppConfig, Config, OwnPlace};
use crate::input::events::ServiceSyncRequest;
use crate::input::InputError;

/// Which applications a request concerns.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection<'a> {
    /// Sync these; `completed` asks for the revision clean-up too.
    Sync {
        /// Applications.
        apps: Vec<&'a AppConfig>,
        /// After a completed deploy.
        completed: bool,
    },
    /// Report a failed deployment of this application.
    DeploymentFailed {
        /// The application.
        app: &'a AppConfig,
        /// Deployment ID.
        deployment_id: String,
        /// Why it failed.
        reason: Option<String>,
    },
    /// A retention pass over these applications' revisions.
    Retention(Vec<&'a AppConfig>),
    /// Nothing to do, and why.
    Ignored(String),
}

/// Picks the applications a request concerns; an unknown application in a manual payload is an
/// input error.
pub fn select<'a>(
    config: &'a Config,
    request: &ServiceSyncRequest,
    own: OwnPlace<'_>,
) -> Result<Selection<'a>, InputError> {
    match request {
        ServiceSyncRequest::Scheduled | ServiceSyncRequest::Manual { apps: None, .. } => Ok(Selection::Sync {
            apps: config.apps.iter().collect(),
            completed: false,
        }),
        ServiceSyncRequest::Manual { apps: Some(names), .. } => {
            let apps = names
                .iter()
                .enumerate()
                .map(|(i, name)| config.find_app(name, &format!("sync.apps[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Selection::Sync { apps, completed: false })
        }
        ServiceSyncRequest::Retention { app: Some(name), .. } => {
            Ok(Selection::Retention(vec![config.find_app(name, "retention.app")?]))
        }
        ServiceSyncRequest::Retention { app: None, .. } => Ok(Selection::Retention(config.apps.iter().collect())),
        ServiceSyncRequest::Deployment { service_arn, detail } => {
            let Some(app) = config.app_for_service_arn(service_arn, own) else {
                return Ok(Selection::Ignored(format!(
                    "no application (or more than one, for a short ARN) is configured for {service_arn} in its account and region"
                )));
            };
            Ok(match detail.event_name.as_str() {
                "SERVICE_DEPLOYMENT_COMPLETED" => Selection::Sync {
                    apps: vec![app],
                    completed: true,
                },
                "SERVICE_DEPLOYMENT_FAILED" => Selection::DeploymentFailed {
                    app,
                    deployment_id: detail.deployment_id.clone(),
                    reason: detail.reason.clone(),
                },
                other => Selection::Ignored(format!("{other} of {}: nothing to sync until it completes", app.name)),
            })
        }
    }
}
