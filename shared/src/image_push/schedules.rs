//! Scheduled tasks follow the deploy: when an application's deploy completes (never before),
//! each ECS target of its `schedules` that runs the revision the deploy replaced moves to the
//! completed, digest-pinned revision. A target someone else pointed elsewhere is left alone and
//! said (in the answer and once on the record).
//!
//! [`plan`] is pure; [`follow`] reads the targets, moves them and notes what it did. It runs
//! after each completion (an ECS event, its replays, the settle run's) and in every settle run
//! for the applications with schedules, so a move that failed is made by the next one.

use super::{Clients, Outcome, Report};
use crate::aws::arn::short_name;
use crate::aws::schedules::{self, ScheduledTarget};
use crate::aws::AwsError;
use crate::input::config::AppConfig;
use crate::records::{DeployIndex, DeployOutcome, RecordStore};

/// What happens to one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// It already runs the completed revision.
    InPlace(ScheduledTarget),
    /// It runs the revision the deploy replaced (or the family's newest, unpinned): it moves.
    Move(ScheduledTarget),
    /// It runs a revision the deployer did not leave it on: why it is left alone.
    LeftAlone(ScheduledTarget, String),
}

/// The family of a task definition ARN or `family:revision`.
pub(crate) fn family_of(task_definition: &str) -> &str {
    let name = short_name(task_definition);
    name.split(':').next().unwrap_or(name)
}

/// What to do with `targets` (every ECS target of the application's schedules) when `to` is the
/// newest completed revision and `from` the revisions the deployer left the targets on (the one
/// the deploy replaced, the previous completed deploy's). Targets of another family are none of
/// this application's business and are left out.
pub(crate) fn plan(targets: &[ScheduledTarget], to: &str, from: &[&str]) -> Vec<Step> {
    let same = |a: &str, b: &str| short_name(a) == short_name(b);
    targets
        .iter()
        .filter(|t| family_of(&t.task_definition) == family_of(to))
        .map(|t| {
            let runs = t.task_definition.as_str();
            if same(runs, to) {
                Step::InPlace(t.clone())
            } else if from.iter().any(|f| same(runs, f)) || !short_name(runs).contains(':') {
                Step::Move(t.clone())
            } else {
                Step::LeftAlone(
                    t.clone(),
                    format!(
                        "it runs {}, not the revision the deploy replaced ({}): someone pointed it there",
                        short_name(runs),
                        from.first().map_or("none", |f| short_name(f))
                    ),
                )
            }
        })
        .collect()
}

/// `to` and `from` of [`plan`] from the application's records: none before its first
/// completed deploy.
fn revisions(index: &DeployIndex) -> Option<(String, String, Vec<String>)> {
    let mut completed = index.records.iter().filter(|r| r.outcome == DeployOutcome::Completed);
    let done = completed.next()?;
    let to = done.new_task_definition.clone()?;
    let from = done
        .old_task_definition
        .iter()
        .chain(completed.next().and_then(|r| r.new_task_definition.as_ref()))
        .filter(|f| short_name(f) != short_name(&to))
        .cloned()
        .collect();
    Some((done.id.clone(), to, from))
}

/// `schedule (target id)` for messages.
fn label(target: &ScheduledTarget) -> String {
    match &target.target_id {
        Some(id) => format!("{} (target {id})", target.schedule),
        None => target.schedule.to_string(),
    }
}

/// Moves `app`'s scheduled tasks onto its newest completed revision and says so on `report`
/// (nothing to do, and no call, for an application without `schedules`). A failed read or move
/// fails the report: the event's retry, or the next settle run, moves them.
pub(crate) async fn follow(clients: &Clients, app: &AppConfig, store: &RecordStore, mut report: Report) -> Report {
    let wanted = app.schedule_refs();
    if wanted.is_empty() {
        return report;
    }
    let done = async {
        let index = store.read(&clients.s3, &app.name).await.map_err(|e| e.to_string())?;
        let Some((deploy, to, from)) = revisions(&index) else {
            return Ok(Vec::new());
        };
        let reached = clients.for_app(app).await;
        let reads = wanted
            .iter()
            .map(|schedule| schedules::read_targets(&reached.schedulers, schedule));
        let read: Vec<Vec<ScheduledTarget>> = futures::future::try_join_all(reads).await.map_err(|e| e.to_string())?;
        let mut actions = Vec::new();
        let mut notes = Vec::new();
        for (schedule, targets) in wanted.iter().zip(&read) {
            let steps = plan(targets, &to, &from.iter().map(String::as_str).collect::<Vec<_>>());
            if steps.is_empty() {
                let note = format!(
                    "scheduled task {schedule} has no ECS target of family {}: nothing moved",
                    family_of(&to)
                );
                actions.push(format!("! {note}"));
                notes.push(note);
            }
            for step in steps {
                match step {
                    Step::InPlace(_) => {}
                    Step::Move(target) => {
                        schedules::point(&reached.schedulers, &target, &to)
                            .await
                            .map_err(|e: AwsError| e.to_string())?;
                        let note = format!(
                            "scheduled task {} runs {} now (was {})",
                            label(&target),
                            short_name(&to),
                            short_name(&target.task_definition)
                        );
                        actions.push(format!("~ {note}"));
                        notes.push(note);
                    }
                    Step::LeftAlone(target, why) => {
                        let note = format!("scheduled task {} left alone: {why}", label(&target));
                        actions.push(format!("! {note}"));
                        notes.push(note);
                    }
                }
            }
        }
        if !notes.is_empty() {
            let noted = store
                .update(&clients.s3, &app.name, |index| {
                    notes.iter().flat_map(|note| index.note(&deploy, note)).collect()
                })
                .await;
            if let Err(err) = noted {
                tracing::warn!(app = %app.name, error = %err, "the scheduled tasks' notes were not written");
            }
        }
        Ok::<_, String>(actions)
    }
    .await;
    match done {
        Ok(actions) => report.actions.extend(actions),
        Err(err) => {
            report.outcome = Outcome::Failed;
            report.reason = Some(format!(
                "the scheduled tasks did not follow the deploy: {err}; a retry of the event, or the next settle run, moves them"
            ));
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    const TD: &str = "arn:aws:ecs:eu-west-1:111122223333:task-definition";

    fn target(runs: &str) -> ScheduledTarget {
        ScheduledTarget {
            schedule: crate::input::config::schedules::parse("nightly").unwrap(),
            target_id: Some("1".into()),
            task_definition: format!("{TD}/{runs}"),
        }
    }

    #[test]
    fn a_target_on_the_replaced_revision_moves_and_one_on_the_new_stays() {
        let (to, from) = (format!("{TD}/orders:8"), [format!("{TD}/orders:7")]);
        let from: Vec<&str> = from.iter().map(String::as_str).collect();
        assert_eq!(
            plan(&[target("orders:7")], &to, &from),
            [Step::Move(target("orders:7"))]
        );
        assert_eq!(
            plan(&[target("orders:8")], &to, &from),
            [Step::InPlace(target("orders:8"))]
        );
        // Unpinned (the family's newest, which a deploy changes before it completes): pinned.
        assert_eq!(plan(&[target("orders")], &to, &from), [Step::Move(target("orders"))]);
    }

    #[test]
    fn a_target_pointed_elsewhere_is_left_alone_and_another_family_is_not_ours() {
        let (to, from) = (format!("{TD}/orders:8"), [format!("{TD}/orders:7")]);
        let from: Vec<&str> = from.iter().map(String::as_str).collect();
        let steps = plan(&[target("orders:5"), target("billing:7")], &to, &from);
        assert_eq!(steps.len(), 1, "{steps:?}");
        let Step::LeftAlone(left, why) = &steps[0] else {
            panic!("{steps:?}")
        };
        assert_eq!(left, &target("orders:5"));
        assert!(why.contains("orders:5") && why.contains("orders:7"), "{why}");
    }

    #[test]
    fn the_move_is_from_what_the_deploy_replaced_or_the_previous_completed_revision() {
        let mut index = DeployIndex::default();
        assert_eq!(revisions(&index), None);
        let mut first =
            crate::testing::deploy_record("d1", DeployOutcome::Completed, "sha256:1", "2026-12-01T00:00:00Z");
        first.old_task_definition = Some(format!("{TD}/orders:3"));
        first.new_task_definition = Some(format!("{TD}/orders:4"));
        // A deploy superseded in flight: the next one replaced its revision, not the live one.
        let mut second =
            crate::testing::deploy_record("d2", DeployOutcome::Completed, "sha256:2", "2026-12-02T00:00:00Z");
        second.old_task_definition = Some(format!("{TD}/orders:5"));
        second.new_task_definition = Some(format!("{TD}/orders:6"));
        index.records = vec![second, first];
        let (deploy, to, from) = revisions(&index).unwrap();
        assert_eq!((deploy.as_str(), short_name(&to)), ("d2", "orders:6"));
        assert_eq!(from, [format!("{TD}/orders:5"), format!("{TD}/orders:4")]);
    }
}
