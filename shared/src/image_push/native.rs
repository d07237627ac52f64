//! ECS's native deployments, followed and answered: what the service deployments API says of a
//! deploy (the settle run's reads, an `ECS Hook State Change` event), the `continue` and
//! `abort` payloads for a deploy paused at a lifecycle hook, and the rollback of a deploy still
//! in flight through ECS's own `StopServiceDeployment`.

use std::time::{Duration, SystemTime};

use futures::stream::{self, StreamExt};

use super::heard::{answer, apps_and_store, report_changes};
use super::record::update_publishing;
use super::{Answer, Clients, Outcome, Report};
use crate::aws::ecs::deployments::{self, ServiceDeployment};
use crate::aws::AwsError;
use crate::input::config::{AppConfig, Config};
use crate::input::InputError;
use crate::job::{Invocation, Settings};
use crate::records::{
    deployment_of, format_time, parse_time, DeployIndex, DeployOutcome, DeployRecord, RecordStore, VersionedIndex,
};

/// Service deployments created this long before the oldest deploy looked at started are read
/// too (the deployer's and ECS's clocks differ a little).
const LOOK_BACK: Duration = Duration::from_secs(300);

/// The service deployments ECS created for `app`'s service since `since` (less
/// [`LOOK_BACK`]). Empty where the endpoint has no service deployments API.
async fn created_since(
    clients: &Clients,
    app: &AppConfig,
    since: SystemTime,
) -> Result<Vec<ServiceDeployment>, AwsError> {
    let since = since.checked_sub(LOOK_BACK).unwrap_or(since);
    let reach = clients.for_app(app).await;
    Ok(
        deployments::created_since(&reach.ecs, &app.cluster, &app.service, since)
            .await?
            .unwrap_or_default(),
    )
}

/// The service deployments of `app`'s deploys in progress for at least `after` (all of them
/// with a zero `after`), read since the oldest of them started; empty when there is none.
pub(super) async fn for_deploys(
    clients: &Clients,
    app: &AppConfig,
    index: &DeployIndex,
    now: SystemTime,
    after: Duration,
) -> Result<Vec<ServiceDeployment>, AwsError> {
    let oldest = index
        .records
        .iter()
        .filter(|r| r.outcome == DeployOutcome::InProgress)
        .filter_map(|r| parse_time(&r.started_at))
        .filter(|started| now.duration_since(*started).unwrap_or_default() >= after)
        .min();
    match oldest {
        Some(oldest) => created_since(clients, app, oldest).await,
        None => Ok(Vec::new()),
    }
}

/// An `ECS Hook State Change` event: each application of the service follows its deploys in
/// progress through the service deployments API (AWS documents no `detail` for the event, so
/// ECS is asked): stage and hooks recorded, `Deploy Live` and `Deploy Paused` published once.
pub async fn hear_hook(
    clients: &Clients,
    config: &Config,
    settings: &Settings,
    invocation: &Invocation,
    service_arn: &str,
) -> Answer {
    let (apps, store) = match apps_and_store(clients, config, settings, invocation, service_arn) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let now = SystemTime::now();
    let mut reports = Vec::new();
    for app in apps {
        let looked = async {
            let read = store.read_versioned(&clients.s3, &app.name).await?;
            let native = for_deploys(clients, app, &read.index, now, Duration::ZERO).await?;
            Ok::<_, AwsError>((read, native))
        };
        let (read, native) = match looked.await {
            Ok(looked) => looked,
            Err(err) => {
                reports.push(Report::skipped(
                    app,
                    Outcome::Failed,
                    format!("{err}; a retry of the event moves it"),
                ));
                continue;
            }
        };
        let result = update_publishing(clients, settings, store, &app.name, Some(read), |index| {
            index.follow_native(&native, now)
        })
        .await;
        reports.push(report_changes(app, result, || {
            "no deploy in progress, or ECS says nothing new of it: nothing to move".into()
        }));
    }
    answer(reports)
}

/// The settle run's look at deploys in progress too young to settle: their service
/// deployments are read and followed ([`DeployIndex::follow_native`]), so a pause or a
/// production shift is published when no event told of it. Reports only what moved; a read
/// that fails is logged and left to the next run (nothing is due yet).
pub(super) async fn watch_young(
    clients: &Clients,
    settings: &Settings,
    store: &RecordStore,
    young: Vec<(&AppConfig, VersionedIndex)>,
    now: SystemTime,
) -> Vec<Report> {
    let looks = young.into_iter().map(|(app, read)| async move {
        let native = match for_deploys(clients, app, &read.index, now, Duration::ZERO).await {
            Ok(native) if !native.is_empty() => native,
            Ok(_) => return None,
            Err(err) => {
                tracing::warn!(app = %app.name, error = %err, "service deployments not read; the next settle run looks again");
                return None;
            }
        };
        // Only a milestone is worth a write here: the stage itself is recorded once the deploy
        // is due (or when a hook event comes).
        let result = update_publishing(clients, settings, store, &app.name, Some(read), |index| {
            let changes = index.follow_native(&native, now);
            match changes.iter().any(|c| c.milestone.is_some()) {
                true => changes,
                false => Vec::new(),
            }
        })
        .await;
        match &result {
            Ok(changes) if changes.is_empty() => None,
            _ => Some(report_changes(app, result, String::new)),
        }
    });
    stream::iter(looks)
        .buffered(settings.concurrency.max(1))
        .filter_map(|report| async move { report })
        .collect()
        .await
}

/// What a `continue` or an `abort` asks of a paused deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseAnswer {
    /// `ContinueServiceDeployment` `CONTINUE`.
    Continue,
    /// `ContinueServiceDeployment` `ROLLBACK`.
    Abort,
}

impl PauseAnswer {
    fn field(self) -> &'static str {
        match self {
            PauseAnswer::Continue => "continue.app",
            PauseAnswer::Abort => "abort.app",
        }
    }
}

/// A `continue` or `abort` payload: ECS's hooks awaiting action on `app`'s deploy in progress
/// are answered (`ContinueServiceDeployment`), and the deploy notes who answered at which
/// stage. Refused, saying why, when nothing of `app` is paused. ECS's own events and the settle
/// run take the deploy on from there.
pub async fn answer_pause(
    clients: &Clients,
    config: &Config,
    settings: &Settings,
    invocation: &Invocation,
    app: &str,
    by: Option<&str>,
    asked: PauseAnswer,
) -> Result<Answer, InputError> {
    let field = asked.field();
    let app = config.find_app(app, field)?;
    if asked == PauseAnswer::Continue {
        // Going on past a pause is an approval; going back never needs one.
        super::promote::check_approver(config, invocation.caller.as_deref())?;
    }
    let Some(store) = &settings.records else {
        return Err(InputError::new(
            field,
            "deploy records (DEPLOYER_STATE_BUCKET): the paused deploy is found there",
        ));
    };
    let index = match store.read(&clients.s3, &app.name).await {
        Ok(index) => index,
        Err(err) => return Ok(answer(vec![Report::skipped(app, Outcome::Failed, err.to_string())])),
    };
    let Some(record) = index.records.iter().find(|r| r.outcome == DeployOutcome::InProgress) else {
        return Err(InputError::new(
            field,
            format!(
                "an application with a deploy paused at a lifecycle hook; `{}` has no deploy in progress",
                app.name
            ),
        ));
    };
    let now = SystemTime::now();
    let started = parse_time(&record.started_at).unwrap_or(now);
    let native = match created_since(clients, app, started).await {
        Ok(native) => native,
        Err(err) => return Ok(answer(vec![Report::skipped(app, Outcome::Failed, err.to_string())])),
    };
    let deployment =
        deployment_of(record, &native, now).filter(|d| d.hooks.iter().any(|h| h.status == "AWAITING_ACTION"));
    let Some(deployment) = deployment else {
        let stage = deployment_of(record, &native, now)
            .map(|d| {
                format!(
                    "{} at stage {}",
                    d.status,
                    if d.lifecycle_stage.is_empty() {
                        "-"
                    } else {
                        &d.lifecycle_stage
                    }
                )
            })
            .unwrap_or_else(|| "not one ECS's service deployments API names".into());
        return Err(InputError::new(
            field,
            format!(
                "an application with a deploy paused at a lifecycle hook; `{}`'s deploy {} is {stage}, and no hook of it awaits an action",
                app.name, record.id
            ),
        ));
    };
    let reach = clients.for_app(app).await;
    let roll_back = asked == PauseAnswer::Abort;
    let mut answered = Vec::new();
    for hook in deployment.hooks.iter().filter(|h| h.status == "AWAITING_ACTION") {
        if let Err(err) = deployments::continue_deployment(&reach.ecs, &deployment.arn, &hook.id, roll_back).await {
            return Ok(answer(vec![Report::skipped(app, Outcome::Failed, err.to_string())]));
        }
        answered.push(hook.id.clone());
    }
    let who = invocation.caller.as_deref().or(by).unwrap_or("someone");
    let note = format!(
        "{}: {} at stage {} (hook {}) by {who}",
        format_time(now),
        if roll_back { "rolled back" } else { "continued" },
        deployment.lifecycle_stage,
        answered.join(", ")
    );
    let id = record.id.clone();
    let result = update_publishing(clients, settings, store, &app.name, None, |index| {
        index.note(&id, &note)
    })
    .await;
    let mut report = report_changes(app, result, || "answered; the note was already there".into());
    report.actions = vec![format!(
        "ContinueServiceDeployment {} {} (hook {})",
        deployment.arn,
        if roll_back { "ROLLBACK" } else { "CONTINUE" },
        answered.join(", ")
    )];
    report.deploy_id = Some(id);
    Ok(answer(vec![report]))
}

/// A `rollback` without a revision of an application whose newest deploy is still in flight:
/// ECS's own rollback of that service deployment (`StopServiceDeployment` `ROLLBACK`) rather than
/// a second `UpdateService`. `None` when the newest deploy is not in flight (or ECS names no
/// service deployment of it, is done with it, or refused the stop): the rollback then goes to
/// the last good revision.
pub async fn roll_back_in_flight(
    clients: &Clients,
    settings: &Settings,
    invocation: &Invocation,
    app: &AppConfig,
    by: Option<&str>,
    dry_run: bool,
) -> Option<Report> {
    let store = settings.records.as_ref()?;
    let index = store.read(&clients.s3, &app.name).await.ok()?;
    let record: &DeployRecord = index
        .records
        .first()
        .filter(|r| r.outcome == DeployOutcome::InProgress)?;
    let now = SystemTime::now();
    let started = parse_time(&record.started_at).unwrap_or(now);
    let native = created_since(clients, app, started).await.ok()?;
    let deployment =
        deployment_of(record, &native, now).filter(|d| matches!(d.status.as_str(), "PENDING" | "IN_PROGRESS"))?;
    let action = format!("StopServiceDeployment {} ROLLBACK", deployment.arn);
    let mut report = Report::skipped(
        app,
        Outcome::Planned,
        format!(
            "deploy {} is in flight ({} at stage {}): ECS rolls it back itself",
            record.id,
            deployment.status,
            if deployment.lifecycle_stage.is_empty() {
                "-"
            } else {
                &deployment.lifecycle_stage
            }
        ),
    );
    report.actions = vec![action];
    report.deploy_id = Some(record.id.clone());
    if dry_run {
        return Some(report);
    }
    let reach = clients.for_app(app).await;
    if let Err(err) = deployments::stop_with_rollback(&reach.ecs, &deployment.arn).await {
        // Refused (a role without the action) or failed: the rollback by UpdateService to the
        // last good revision still takes the service back.
        tracing::warn!(app = %app.name, error = %err, "StopServiceDeployment failed: rolling back by UpdateService");
        return None;
    }
    let who = invocation.caller.as_deref().or(by).unwrap_or("someone");
    let note = format!(
        "{}: rollback asked by {who}: ECS stops the deployment and rolls it back",
        format_time(now)
    );
    let id = record.id.clone();
    let _ = update_publishing(clients, settings, store, &app.name, None, |index| {
        index.note(&id, &note)
    })
    .await;
    report.outcome = Outcome::Followed;
    report.reason = Some(format!(
        "ECS rolls deploy {id} back (StopServiceDeployment ROLLBACK); its record ends rolled_back when ECS says so"
    ));
    Some(report)
}
