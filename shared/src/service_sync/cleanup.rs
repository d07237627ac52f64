//! Revision clean-up after a completed deploy: deregister the deployer's own revisions of the
//! running family beyond `keep_revisions`; never the running one, a newer one, one it did not
//! register, one any service of the configured clusters runs or deploys, or the last good one.

use std::collections::BTreeSet;

use super::{Plan, RevisionInfo, Step};
use crate::aws::arn::family_and_revision;
use crate::aws::ecs::ServiceState;
use crate::input::config::AppConfig;

/// Adds the clean-up steps of one application to `plan`.
pub(crate) fn plan_revision_cleanup(
    app: &AppConfig,
    service: Option<&ServiceState>,
    revisions: &[RevisionInfo],
    in_use: &BTreeSet<String>,
    last_good: Option<&str>,
    plan: &mut Plan,
) {
    let Some(running) = service.and_then(|s| family_and_revision(&s.task_definition)) else {
        return;
    };
    // The running revision counts as kept; newer ones (a deploy on its way) are never touched.
    let mut kept = 1u32;
    for info in revisions.iter().filter(|r| r.revision < running.1 && r.managed) {
        if in_use.contains(&info.arn) || last_good == Some(info.arn.as_str()) {
            continue;
        }
        if kept < app.keep_revisions {
            kept += 1;
        } else {
            plan.push(
                Step::DeregisterRevision(info.arn.clone()),
                format!(
                    "- task definition {}:{} (beyond the {} kept)",
                    running.0, info.revision, app.keep_revisions
                ),
            );
        }
    }
}
