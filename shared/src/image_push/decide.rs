//! How image-push decides for one application (pure, no I/O): a deploy ([`super::plan`]) or a
//! rollback ([`super::rollback`]), with what the service ran when observed.

use super::plan::{plan_deploy, rolls_back_on_failure};
use super::rollback::plan_rollback;
use super::{Goal, Observation, Plan};
use crate::input::config::AppConfig;

/// Plans a deploy or rollback of one application (pure).
pub fn plan_app(app: &AppConfig, goal: &Goal, obs: &Observation, region: &str) -> Plan {
    let mut plan = match goal {
        Goal::Rollback { revision, force } => plan_rollback(app, *revision, *force, obs),
        Goal::Push { .. } | Goal::Manual(_) => plan_deploy(app, goal, obs, region),
    };
    if let Some(service) = &obs.service {
        plan.observed_task_definition = Some(service.task_definition.clone());
        plan.observed_deployment = service
            .deployments
            .iter()
            .find(|d| d.status == "PRIMARY")
            .map(|d| d.id.clone());
        plan.rolls_back_on_failure = rolls_back_on_failure(service, &plan.steps);
    }
    plan
}
