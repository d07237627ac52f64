//! Revision clean-up after a completed deploy: the retention rules of
//! [`super::retention::plan_retention`] applied to the running family's ACTIVE revisions older
//! than the running one — never the running one, a newer one, one the deployer did not register,
//! one any service of the configured clusters runs or deploys, or the last good one; the last
//! `keep_revisions` that completed stay. (Deleting INACTIVE revisions is the retention pass's.)

use super::retention::{plan_retention, RetentionFacts, RevisionFacts};
use super::{Observation, Plan, Step};
use crate::aws::arn::short_name;
use crate::input::config::AppConfig;

/// Adds the clean-up steps of one application to `plan`.
pub(crate) fn plan_revision_cleanup(app: &AppConfig, obs: &Observation, plan: &mut Plan) {
    let (Some(service), Some(revisions)) = (&obs.service, &obs.revisions) else {
        return;
    };
    let facts = RetentionFacts {
        running: Some(service.task_definition.clone()),
        revisions: revisions
            .iter()
            .map(|r| RevisionFacts {
                revision: r.revision,
                arn: r.arn.clone(),
                managed: r.managed,
                active: true,
                deregistered_at: None,
            })
            .collect(),
        in_use: obs.revisions_in_use.clone(),
        last_good: obs.last_good.clone(),
        completed: obs.completed_revisions.clone(),
        recorded: !obs.completed_revisions.is_empty(),
        undescribed: Vec::new(),
    };
    // `revisions` holds the older ones only; the running one is kept and, in the count without
    // records, takes the first of the `keep_revisions` places (as the rule counts it).
    for (arn, why) in plan_retention(app, &facts, std::time::SystemTime::now()).deregister {
        let action = format!("- task definition {} ({why})", short_name(&arn));
        plan.push(Step::DeregisterRevision(arn), action);
    }
}
