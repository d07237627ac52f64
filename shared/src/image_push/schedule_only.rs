//! Applications that are only scheduled tasks (no `service`: a `family` and its `schedules`).
//! What such an application "runs" is what its schedules' ECS targets run, read as if it were a
//! service ([`observe_as_service`]), so a push observes, plans and replays like any deploy. The
//! plan registers the revision and, instead of updating a service, names it
//! ([`super::plan::update_step`]); there is no rollout, so the deploy is recorded completed at
//! once, and the targets follow the completed deploy ([`super::schedules::follow`]) right after.

use super::Clients;
use crate::aws::arn::family_and_revision;
use crate::aws::ecs::ServiceState;
use crate::aws::schedules::{self, ScheduledTarget};
use crate::aws::AwsError;
use crate::input::config::AppConfig;

/// The revision `family`'s targets run, as the deploy's starting point: the highest pinned
/// revision among them (a target someone pointed at an older one is left alone by the move),
/// else the family itself (unpinned targets run its newest); none when no target runs it.
pub(crate) fn running_revision(targets: &[ScheduledTarget], family: &str) -> Option<String> {
    let ours: Vec<&ScheduledTarget> = targets
        .iter()
        .filter(|t| super::schedules::family_of(&t.task_definition) == family)
        .collect();
    let pinned = ours
        .iter()
        .filter_map(|t| Some((family_and_revision(&t.task_definition)?.1, &t.task_definition)))
        .max_by_key(|(revision, _)| *revision);
    match pinned {
        Some((_, arn)) => Some(arn.clone()),
        None => ours.first().map(|t| t.task_definition.clone()),
    }
}

/// `app`'s scheduled tasks read as a service: `ACTIVE`, running [`running_revision`], with
/// neither deployments nor a deployment configuration; none when no target runs its family.
pub(crate) async fn observe_as_service(clients: &Clients, app: &AppConfig) -> Result<Option<ServiceState>, AwsError> {
    let family = app.family.as_deref().unwrap_or_default();
    let reads = app
        .schedule_refs()
        .into_iter()
        .map(|schedule| async move { schedules::read_targets(&clients.schedulers, &schedule).await });
    let targets: Vec<ScheduledTarget> = futures::future::try_join_all(reads)
        .await?
        .into_iter()
        .flatten()
        .collect();
    Ok(running_revision(&targets, family).map(|task_definition| ServiceState {
        arn: String::new(),
        name: family.to_owned(),
        status: "ACTIVE".into(),
        task_definition,
        deployment_configuration: None,
        registries: Vec::new(),
        deployments: Vec::new(),
        controller: None,
        placement: Default::default(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TD: &str = "arn:aws:ecs:eu-west-1:111122223333:task-definition";

    fn target(schedule: &str, runs: &str) -> ScheduledTarget {
        ScheduledTarget {
            schedule: crate::input::config::schedules::parse(schedule).unwrap(),
            target_id: Some("1".into()),
            task_definition: format!("{TD}/{runs}"),
        }
    }

    #[test]
    fn the_highest_pinned_revision_of_the_family_is_what_runs() {
        let targets = [
            target("nightly", "report:3"),
            target("hourly", "report:12"),
            target("other", "billing:40"),
        ];
        assert_eq!(running_revision(&targets, "report"), Some(format!("{TD}/report:12")));
        assert_eq!(running_revision(&targets, "billing"), Some(format!("{TD}/billing:40")));
        assert_eq!(running_revision(&targets, "orders"), None);
        // Only unpinned targets: the family itself (ECS runs its newest).
        assert_eq!(
            running_revision(&[target("nightly", "report")], "report"),
            Some(format!("{TD}/report"))
        );
    }

    #[test]
    fn the_service_update_becomes_the_schedules_move() {
        use super::super::plan::{update_action_text, update_step};
        use super::super::{Step, TaskDefinitionChoice};
        let mut app = crate::testing::app();
        app.service = String::new();
        app.family = Some("report".into());
        app.schedules = vec!["nightly".into()];
        let choice = TaskDefinitionChoice::Existing(format!("{TD}/report:4"));
        assert_eq!(
            update_step(&app, choice.clone(), None),
            Step::PointSchedules(choice.clone())
        );
        let current = crate::testing::full_revision("report", 3, "r/orders:latest");
        let line = update_action_text(&app, &current, &choice, false);
        assert!(line.starts_with("~ scheduled tasks nightly: report:3 -> "), "{line}");
        assert!(line.ends_with("report:4"), "{line}");
    }
}
