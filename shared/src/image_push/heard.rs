//! How image-push answers what moves deploy records (ECS's events, the hook event, the
//! payloads that answer a paused deploy): the applications an ECS event concerns, and the
//! report of a record update.

use super::{Answer, Clients, Outcome, Report};
use crate::input::config::{AppConfig, Config, OwnPlace};
use crate::job::{Invocation, Settings};
use crate::records::{Change, DeployOutcome, RecordStore};

/// The applications an ECS event's service ARN fits (in the event's own account and region
/// only), and the record store; or the answer when there are none or nothing is recorded.
pub(super) fn apps_and_store<'a>(
    clients: &Clients,
    config: &'a Config,
    settings: &'a Settings,
    invocation: &Invocation,
    service_arn: &str,
) -> Result<(Vec<&'a AppConfig>, &'a RecordStore), Answer> {
    let own = OwnPlace {
        account: invocation.account.as_deref(),
        region: &clients.region,
    };
    let apps = config.apps_for_service_arn(service_arn, own);
    let Some(first) = apps.first() else {
        return Err(answer(vec![Report::ignored(format!(
            "no application is configured for {service_arn} (its account and region included)"
        ))]));
    };
    let Some(store) = &settings.records else {
        return Err(answer(vec![Report::skipped(
            first,
            Outcome::Ignored,
            "no state bucket (DEPLOYER_STATE_BUCKET): deploys are not recorded",
        )]));
    };
    Ok((apps, store))
}

/// The report of a record update (published by [`update_publishing`]): `followed` with the
/// record when it moved, `unchanged` (and why) when nothing did, `failed` when the records could
/// not be read or written (Lambda's retry of the event then moves it).
pub(super) fn report_changes(
    app: &AppConfig,
    result: Result<Vec<Change>, crate::aws::AwsError>,
    nothing: impl FnOnce() -> String,
) -> Report {
    match result {
        Err(err) => Report::skipped(app, Outcome::Failed, format!("{err}; a retry of the event moves it")),
        Ok(changes) if changes.is_empty() => Report::skipped(app, Outcome::Unchanged, nothing()),
        Ok(changes) => {
            let record = &changes.last().expect("not empty").record;
            let moves: Vec<String> = changes
                .iter()
                .map(|c| match c.milestone {
                    Some(milestone) => format!("{}: {} ({milestone:?})", c.record.id, c.record.outcome.as_str()),
                    None => format!(
                        "{}: {} -> {}",
                        c.record.id,
                        c.from.map(DeployOutcome::as_str).unwrap_or("new"),
                        c.record.outcome.as_str()
                    ),
                })
                .collect();
            Report {
                outcome: Outcome::Followed,
                old_task_definition: record.old_task_definition.clone(),
                new_task_definition: record.new_task_definition.clone(),
                image: record.image.clone(),
                reason: record.reason.clone(),
                actions: moves,
                deploy_id: Some(record.id.clone()),
                ecs_deployment_id: record.ecs_deployment_id.clone(),
                ..Report::skipped(app, Outcome::Followed, "")
            }
        }
    }
}

pub(super) fn answer(results: Vec<Report>) -> Answer {
    Answer {
        results,
        dry_run: false,
    }
}
