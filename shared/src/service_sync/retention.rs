//! Revision retention that knows use. A pass over one application's family keeps every
//! revision some service of the configured clusters runs or deploys, the last good one, any
//! newer than the running one, and the last `keep_revisions` that completed (from the deploy
//! records; without records, the newest the deployer registered); it deregisters the rest of
//! the deployer's ACTIVE revisions and deletes the deployer's INACTIVE ones deregistered more than
//! `retention_grace_days` ago. Revisions the deployer did not register are never touched.
//! [`plan_retention`] is pure; [`observe_retention`] reads, [`apply_retention`] writes.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use super::{Clients, Reads};
use crate::aws::arn::{family_and_revision, short_name};
use crate::aws::{ecs, AwsError};
use crate::input::config::AppConfig;
use crate::ownership::is_managed;
use crate::records::DeployIndex;

/// One revision of the family as retention sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionFacts {
    /// Revision number.
    pub revision: i32,
    /// ARN.
    pub arn: String,
    /// Registered by the deployer (tagged `ecs-deployer:managed`).
    pub managed: bool,
    /// ACTIVE (false: INACTIVE, deregistered).
    pub active: bool,
    /// When it was deregistered, when AWS says.
    pub deregistered_at: Option<SystemTime>,
}

/// What a retention pass reads for one application.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetentionFacts {
    /// The family's revision the service runs.
    pub running: Option<String>,
    /// Every revision of the family, newest first.
    pub revisions: Vec<RevisionFacts>,
    /// Revisions some service of the configured clusters runs or deploys.
    pub in_use: BTreeSet<String>,
    /// The last good revision (the newest completed deploy's before the running one).
    pub last_good: Option<String>,
    /// Revisions of completed deploys, newest first (none without records).
    pub completed: Vec<String>,
    /// True when deploy records were read (then "completed" is what counts).
    pub recorded: bool,
    /// INACTIVE revisions AWS would not describe (AWS says describing them may change), with
    /// its answer: skipped, never deleted blind.
    pub undescribed: Vec<(String, String)>,
}

/// The pass's decision, each line with its reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionPlan {
    /// Kept: `family:revision (why)`.
    pub kept: Vec<String>,
    /// ACTIVE revisions to deregister, with why.
    pub deregister: Vec<(String, String)>,
    /// INACTIVE revisions to delete, with why.
    pub delete: Vec<(String, String)>,
}

impl RetentionPlan {
    /// The changes as readable lines.
    pub fn actions(&self) -> Vec<String> {
        self.deregister
            .iter()
            .map(|(arn, why)| format!("- deregister {} ({why})", short_name(arn)))
            .chain(
                self.delete
                    .iter()
                    .map(|(arn, why)| format!("- delete {} ({why})", short_name(arn))),
            )
            .collect()
    }
}

/// Decides one application's retention (pure).
pub fn plan_retention(app: &AppConfig, facts: &RetentionFacts, now: SystemTime) -> RetentionPlan {
    let mut plan = RetentionPlan::default();
    let running = facts.running.as_deref().and_then(family_and_revision);
    let keep = app.keep_revisions as usize;
    let last_completed: BTreeSet<&str> = {
        let mut seen = Vec::new();
        for arn in &facts.completed {
            if !seen.contains(&arn.as_str()) {
                seen.push(arn.as_str());
            }
        }
        seen.into_iter().take(keep).collect()
    };
    let mut newest_kept = 0usize;
    for facts_of in facts.revisions.iter().filter(|r| r.active) {
        let label = short_name(&facts_of.arn).to_owned();
        let keep_because = if !facts_of.managed {
            Some("not registered by the deployer: never touched".to_string())
        } else if facts.in_use.contains(&facts_of.arn) || facts.running.as_deref() == Some(facts_of.arn.as_str()) {
            Some("runs or is deploying in a service of the configured clusters".into())
        } else if running.as_ref().is_some_and(|(_, n)| facts_of.revision > *n) {
            Some("newer than the running revision: a deploy on its way".into())
        } else if facts.last_good.as_deref() == Some(facts_of.arn.as_str()) {
            Some("last good: where a rollback goes".into())
        } else if facts.recorded {
            last_completed
                .contains(facts_of.arn.as_str())
                .then(|| format!("one of the last {keep} deploys that completed"))
        } else {
            newest_kept += 1;
            (newest_kept < keep).then(|| format!("one of the {keep} newest the deployer registered"))
        };
        match keep_because {
            Some(why) => plan.kept.push(format!("{label} ({why})")),
            None => {
                let why = if facts.recorded {
                    format!("not in use, not the last good, not among the last {keep} completed")
                } else {
                    format!("beyond the {keep} kept")
                };
                plan.deregister.push((facts_of.arn.clone(), why));
            }
        }
    }
    let grace = Duration::from_secs(u64::from(app.retention_grace_days) * 86_400);
    for facts_of in facts.revisions.iter().filter(|r| !r.active && r.managed) {
        let elapsed = facts_of.deregistered_at.and_then(|at| now.duration_since(at).ok());
        if grace.is_zero() || elapsed.is_some_and(|e| e >= grace) {
            plan.delete.push((
                facts_of.arn.clone(),
                format!("inactive for {} days or more", app.retention_grace_days),
            ));
        } else {
            plan.kept.push(format!(
                "{} (inactive, within the {}-day grace)",
                short_name(&facts_of.arn),
                app.retention_grace_days
            ));
        }
    }
    for (arn, why) in &facts.undescribed {
        plan.kept.push(format!(
            "{} (inactive, and AWS would not describe it: skipped; {why})",
            short_name(arn)
        ));
    }
    plan
}

/// Reads what a retention pass over `app` needs: its service, the family's ACTIVE and INACTIVE
/// revisions with their tags, and the deploy records; `in_use` is what the configured clusters
/// run, read once for the pass.
pub async fn observe_retention(
    clients: &Clients,
    app: &AppConfig,
    reads: Reads<'_>,
    in_use: &BTreeSet<String>,
) -> Result<RetentionFacts, AwsError> {
    let index = match reads.records {
        Some(store) => Some(store.read(&clients.s3, &app.name).await?),
        None => None,
    };
    let (running, family) = match &app.family {
        // Scheduled tasks alone: what runs is what the newest completed deploy put in place
        // (the revisions their targets run are `in_use`).
        Some(family) if app.is_schedule_only() => {
            let completed = index
                .as_ref()
                .and_then(|index| index.completed_revisions().into_iter().next());
            (completed, family.clone())
        }
        _ => {
            let service = ecs::describe_services(&clients.ecs, &app.cluster, std::slice::from_ref(&app.service))
                .await?
                .into_iter()
                .find(|s| s.is(&app.service));
            let Some(service) = service else {
                return Err(AwsError {
                    service: "ECS",
                    transient: false,
                    operation: "DescribeServices",
                    resource: app.service_label(),
                    code: Some("ServiceNotFoundException".into()),
                    message: "the service does not exist: nothing to keep revisions for".into(),
                });
            };
            let Some((family, _)) = family_and_revision(&service.task_definition) else {
                return Ok(RetentionFacts {
                    running: Some(service.task_definition),
                    ..RetentionFacts::default()
                });
            };
            (Some(service.task_definition), family)
        }
    };
    let mut facts = RetentionFacts {
        running,
        ..RetentionFacts::default()
    };
    for (revision, arn) in ecs::list_revisions(&clients.ecs, &family).await? {
        let managed = is_managed(&ecs::list_tags(&clients.ecs, &arn).await?);
        facts.revisions.push(RevisionFacts {
            revision,
            arn,
            managed,
            active: true,
            deregistered_at: None,
        });
    }
    for (revision, arn) in ecs::list_inactive_revisions(&clients.ecs, &family).await? {
        let described = match ecs::describe_task_definition(&clients.ecs, &arn).await {
            Ok(described) => described,
            // A refusal of this revision skips it, and the pass goes on; throttling or a server
            // error fails the pass (the next one reads it again).
            Err(err) if is_refusal(&err) => {
                facts.undescribed.push((arn, err.to_string()));
                continue;
            }
            Err(err) => return Err(err),
        };
        facts.revisions.push(RevisionFacts {
            revision,
            managed: is_managed(&described.tags),
            deregistered_at: described
                .definition
                .deregistered_at()
                .and_then(|t| SystemTime::try_from(*t).ok()),
            arn,
            active: false,
        });
    }
    facts.in_use = in_use.clone();
    if let Some(index) = index {
        read_records(&index, &mut facts);
    }
    Ok(facts)
}

/// True for ECS's answer that it will not describe a revision (not a transient failure).
fn is_refusal(err: &AwsError) -> bool {
    matches!(
        err.code.as_deref(),
        Some("ClientException" | "InvalidParameterException" | "ResourceNotFoundException")
    )
}

/// What the deploy records add to the facts: the last good revision and those that completed.
fn read_records(index: &DeployIndex, facts: &mut RetentionFacts) {
    let running = facts.running.clone().unwrap_or_default();
    facts.last_good = index
        .last_good_except(&running)
        .and_then(|r| r.new_task_definition.clone());
    facts.completed = index.completed_revisions();
    // No completed deploy recorded yet (records newer than the revisions): count by number.
    facts.recorded = !facts.completed.is_empty();
}

/// Carries out a retention plan: deregister, then delete. A retry after a failure plans again
/// from what exists, so it ends where one clean pass would.
pub async fn apply_retention(clients: &Clients, plan: &RetentionPlan) -> Result<(), AwsError> {
    for (arn, _) in &plan.deregister {
        ecs::deregister_task_definition(&clients.ecs.background(), arn).await?;
    }
    let deletes: Vec<String> = plan.delete.iter().map(|(arn, _)| arn.clone()).collect();
    if !deletes.is_empty() {
        ecs::delete_task_definitions(&clients.ecs.background(), &deletes).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::app;

    fn revision(n: i32, managed: bool, active: bool) -> RevisionFacts {
        RevisionFacts {
            revision: n,
            arn: format!("arn:aws:ecs:r:1:task-definition/orders:{n}"),
            managed,
            active,
            deregistered_at: None,
        }
    }

    fn arn(n: i32) -> String {
        format!("arn:aws:ecs:r:1:task-definition/orders:{n}")
    }

    #[test]
    fn the_last_completed_the_last_good_and_what_runs_are_kept_the_rest_goes() {
        let mut app = app();
        app.keep_revisions = 2;
        app.retention_grace_days = 30;
        let now = SystemTime::now();
        let mut old = revision(1, true, false);
        old.deregistered_at = Some(now - Duration::from_secs(31 * 86_400));
        let mut recent = revision(2, true, false);
        recent.deregistered_at = Some(now - Duration::from_secs(86_400));
        let facts = RetentionFacts {
            running: Some(arn(9)),
            // 10 is on its way; 8 failed (never completed); 7 and 9 completed; 5 is the last good
            // before them... and 6 runs in another service; 3 is Terraform's.
            revisions: vec![
                revision(10, true, true),
                revision(9, true, true),
                revision(8, true, true),
                revision(7, true, true),
                revision(6, true, true),
                revision(5, true, true),
                revision(4, true, true),
                revision(3, false, true),
                recent,
                old,
            ],
            in_use: [arn(9), arn(6)].into_iter().collect(),
            last_good: Some(arn(5)),
            completed: vec![arn(9), arn(7), arn(5), arn(4)],
            recorded: true,
            undescribed: Vec::new(),
        };
        let plan = plan_retention(&app, &facts, now);
        let deregistered: Vec<&str> = plan.deregister.iter().map(|(a, _)| short_name(a)).collect();
        assert_eq!(deregistered, vec!["orders:8", "orders:4"], "{plan:?}");
        let deleted: Vec<&str> = plan.delete.iter().map(|(a, _)| short_name(a)).collect();
        assert_eq!(deleted, vec!["orders:1"], "past the grace only");
        for kept in [
            "orders:10 (newer",
            "orders:9 (runs",
            "orders:7 (one of the last 2",
            "orders:6 (runs",
            "orders:5 (last good",
            "orders:3 (not registered",
            "orders:2 (inactive, within",
        ] {
            assert!(plan.kept.iter().any(|k| k.starts_with(kept)), "{kept}: {:?}", plan.kept);
        }
    }

    #[test]
    fn an_inactive_revision_without_a_date_is_kept_unless_the_grace_is_zero() {
        let mut app = app();
        let facts = RetentionFacts {
            running: Some(arn(2)),
            revisions: vec![revision(2, true, true), revision(1, true, false)],
            in_use: [arn(2)].into_iter().collect(),
            ..RetentionFacts::default()
        };
        assert!(plan_retention(&app, &facts, SystemTime::now()).delete.is_empty());
        app.retention_grace_days = 0;
        assert_eq!(plan_retention(&app, &facts, SystemTime::now()).delete.len(), 1);
    }

    #[test]
    fn an_inactive_revision_aws_would_not_describe_is_kept_and_the_rest_planned() {
        let facts = RetentionFacts {
            running: Some("arn:aws:ecs:r:1:task-definition/orders:3".into()),
            revisions: vec![revision(3, true, true), revision(2, true, false)],
            undescribed: vec![(
                "arn:aws:ecs:r:1:task-definition/orders:1".into(),
                "ECS DescribeTaskDefinition: ClientException".into(),
            )],
            ..RetentionFacts::default()
        };
        let mut app = app();
        app.retention_grace_days = 0;
        let plan = plan_retention(&app, &facts, SystemTime::now());
        assert_eq!(plan.delete.len(), 1, "{plan:?}");
        assert!(
            plan.kept
                .iter()
                .any(|k| k.starts_with("orders:1 (inactive, and AWS would not describe it")),
            "{plan:?}"
        );
    }
}
