//! Following a deploy to its end without waiting: ECS's `ECS Deployment State Change` and
//! `ECS Service Action` events move the deploy's record, and the settle schedule asks
//! `DescribeServices` about deploys that heard nothing for the settle time.

use std::time::{Duration, SystemTime};

use futures::stream::{self, StreamExt};

use super::heard::{answer, apps_and_store, report_changes};
use super::record::{self, update_publishing};
use super::{promote, protect, schedules, Answer, Clients, Outcome, Report};
use crate::input::config::{AppConfig, Config};
use crate::input::events::{EcsDeploymentDetail, EcsServiceAction};
use crate::input::quoted;
use crate::job::{Invocation, Settings};
use crate::records::{DeployIndex, DeployOutcome, EcsWord, RecordStore, VersionedIndex};

/// Applies an `ECS Deployment State Change` event to the deploy it rolls out.
pub async fn hear_deployment(
    clients: &Clients,
    config: &Config,
    settings: &Settings,
    invocation: &Invocation,
    service_arn: &str,
    time: &str,
    detail: &EcsDeploymentDetail,
) -> Answer {
    let (candidates, store) = match apps_and_store(clients, config, settings, invocation, service_arn) {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    // A short service ARN (no cluster) may fit several applications: the deployment id says
    // whose deploy it is.
    let app = match candidates.as_slice() {
        [app] => *app,
        _ => match app_with_deployment(clients, store, &candidates, &detail.deployment_id).await {
            Some(app) => app,
            None => {
                return answer(vec![Report::ignored(format!(
                    "{service_arn} fits {} applications and none has a deploy of ECS deployment {}",
                    candidates.len(),
                    quoted(&detail.deployment_id)
                ))])
            }
        },
    };
    let word = match detail.event_name.as_str() {
        "SERVICE_DEPLOYMENT_COMPLETED" => EcsWord::Completed,
        "SERVICE_DEPLOYMENT_FAILED" => EcsWord::Failed(detail.reason.clone().unwrap_or_default()),
        "SERVICE_DEPLOYMENT_IN_PROGRESS" => EcsWord::InProgress,
        other => {
            return answer(vec![Report::skipped(
                app,
                Outcome::Ignored,
                format!("{} does not move a deploy", quoted(other)),
            )])
        }
    };
    let at = detail.updated_at.clone().unwrap_or_else(|| time.to_owned());
    let id = detail.deployment_id.clone();
    let change = |index: &mut DeployIndex| index.hear(&id, &word, &at);
    let completed = word == EcsWord::Completed;
    // A completion (or its replay: the tags may not have moved the first time) protects the
    // images in use: what the tags need is read from ECR beside the record's writes, for the
    // digests the index will protect once changed.
    let (result, protection) = match store.read_versioned(&clients.s3, &app.name).await {
        Err(err) => (Err(err), None),
        Ok(read) => {
            let mut after = read.index.clone();
            let predicted = after.apply(change);
            let protection = async {
                match completed {
                    true => Some(protect::read(clients, app, &after).await),
                    false => None,
                }
            };
            let (result, protection) = tokio::join!(
                update_publishing(clients, settings, store, &app.name, Some(read), change),
                protection
            );
            // Another run wrote the index in between: the tags follow the index as written.
            let as_predicted = result.as_ref().is_ok_and(|changes| *changes == predicted);
            (result, protection.filter(|_| as_predicted))
        }
    };
    let failed_to_record = result.is_err();
    let report = report_changes(app, result, || {
        format!(
            "no deploy in progress names ECS deployment {} ({}): nothing to move",
            quoted(&id),
            quoted(&detail.event_name)
        )
    });
    // A completion also starts the promotions that wait for no soak (a replay finds them done).
    if completed && !failed_to_record {
        let report = protect::protect(clients, app, config.image_tags, store, report, protection).await;
        let mut reports = vec![schedules::follow(clients, app, store, report).await];
        let now = SystemTime::now();
        reports.extend(
            Box::pin(promote::promote_followers(
                clients, config, settings, invocation, app, now, true,
            ))
            .await,
        );
        return answer(reports);
    }
    // A failure (or a rollback, a stop) of a release group's member rolls the others back.
    if failed_to_record {
        return answer(vec![report]);
    }
    let and = super::group::and_rollbacks(clients, config, settings, invocation, app, report);
    answer(Box::pin(and).await)
}

/// Applies an `ECS Service Action` event: `SERVICE_TASK_START_IMPAIRED` is noted on the deploy in
/// progress of that exact service (it is a warning and ends nothing); the others change nothing.
pub async fn hear_service_action(
    clients: &Clients,
    config: &Config,
    settings: &Settings,
    invocation: &Invocation,
    service_arn: &str,
    time: &str,
    detail: &EcsServiceAction,
) -> Answer {
    // No deployment id here: only the deploy of that exact service, so a short ARN two
    // applications fit concerns neither.
    let (app, store) = match apps_and_store(clients, config, settings, invocation, service_arn) {
        Ok((apps, store)) if apps.len() == 1 => (apps[0], store),
        Ok((apps, _)) => {
            return answer(vec![Report::ignored(format!(
                "{service_arn} fits {} applications: a warning without a deployment id concerns none",
                apps.len()
            ))])
        }
        Err(answer) => return answer,
    };
    if detail.event_name != "SERVICE_TASK_START_IMPAIRED" {
        return answer(vec![Report::skipped(
            app,
            Outcome::Ignored,
            format!("{} does not move a deploy", quoted(&detail.event_name)),
        )]);
    }
    let at = detail.created_at.clone().unwrap_or_else(|| time.to_owned());
    let note = format!(
        "{at}: ECS could not start the service's tasks consistently (SERVICE_TASK_START_IMPAIRED, a warning: ECS keeps trying)"
    );
    let result = update_publishing(clients, settings, store, &app.name, None, |index| {
        index.hear_tasks_impaired(&note)
    })
    .await;
    answer(vec![report_changes(app, result, || {
        "no deploy in progress, or this warning is already noted: nothing to move".into()
    })])
}

/// The settle run: every application's deploys in progress for longer than the settle time
/// are settled from what `DescribeServices` says (one read of each index, and ECS is asked only
/// about services with such a deploy).
pub async fn settle(
    clients: &Clients,
    config: &Config,
    settings: &Settings,
    invocation: &Invocation,
    now: SystemTime,
) -> Answer {
    let Some(store) = &settings.records else {
        return answer(vec![Report::ignored(
            "no state bucket (DEPLOYER_STATE_BUCKET): deploys are not recorded, nothing to settle",
        )]);
    };
    let after = Duration::from_secs(u64::from(config.settle_after_minutes) * 60);
    let concurrency = settings.concurrency.max(1);
    // 1. Which applications have a deploy old enough to settle.
    let indexes: Vec<_> = stream::iter(
        config
            .apps
            .iter()
            .map(|app| async move { (app, store.read_versioned(&clients.s3, &app.name).await) }),
    )
    .buffered(concurrency)
    .collect()
    .await;
    let mut reports = Vec::new();
    let mut due: Vec<(&AppConfig, VersionedIndex)> = Vec::new();
    let mut young: Vec<(&AppConfig, VersionedIndex)> = Vec::new();
    let mut read_indexes: Vec<(&AppConfig, DeployIndex)> = Vec::new();
    for (app, read) in indexes {
        match read {
            Err(err) => reports.push(Report::skipped(app, Outcome::Failed, err.to_string())),
            Ok(read) => {
                read_indexes.push((app, read.index.clone()));
                // A deploy whose gate task still runs has no service deployment yet: the
                // gate's own part below follows it.
                let rolling = || {
                    read.index
                        .records
                        .iter()
                        .filter(|r| r.outcome == DeployOutcome::InProgress && !r.gate_pending())
                };
                let old_enough = rolling().any(|r| {
                    crate::records::parse_time(&r.started_at)
                        .is_none_or(|started| now.duration_since(started).unwrap_or_default() >= after)
                });
                let in_progress = rolling().next().is_some();
                if old_enough {
                    due.push((app, read));
                } else if in_progress {
                    young.push((app, read));
                }
            }
        }
    }
    // 2. ECS, 10 services a call, for those only; then each index, conditionally.
    let due_apps: Vec<&AppConfig> = due.iter().map(|(app, _)| *app).collect();
    let services = super::describe_app_services(clients, &due_apps, concurrency).await;
    let settled: Vec<Report> = stream::iter(due.into_iter().zip(services).map(|((app, read), service)| async move {
        let service = match service {
            Ok(Some(service)) => service,
            Ok(None) => {
                return Report::skipped(
                    app,
                    Outcome::Failed,
                    format!(
                        "service `{}` not found: its deploy cannot be settled",
                        app.service_label()
                    ),
                )
            }
            Err(err) => return Report::skipped(app, Outcome::Failed, err.to_string()),
        };
        // A failed read leaves the deploy for the next run: settling it from DescribeServices
        // alone could call a blue/green deploy that bakes `timed_out`.
        let native = match Box::pin(super::native::for_deploys(clients, app, &read.index, now, after)).await {
            Ok(native) => native,
            Err(err) => return Report::skipped(app, Outcome::Failed, format!("{err}; settled by a later run")),
        };
        let result = update_publishing(clients, settings, store, &app.name, Some(read), |index| {
            index.settle(&service, &native, now, after)
        })
        .await;
        let completed = result
            .as_ref()
            .is_ok_and(|changes| changes.iter().any(|c| c.record.outcome == DeployOutcome::Completed));
        let report = report_changes(app, result, || "nothing to settle".into());
        if completed {
            let report = protect::protect(clients, app, config.image_tags, store, report, None).await;
            schedules::follow(clients, app, store, report).await
        } else {
            report
        }
    }))
    .buffered(concurrency)
    .collect()
    .await;
    reports.extend(settled);
    // Scheduled tasks of the other applications: a move that failed after a completion, or a
    // target someone pointed elsewhere since (said, left alone).
    let settled_apps: Vec<&str> = due_apps.iter().map(|app| app.name.as_str()).collect();
    for app in config
        .apps
        .iter()
        .filter(|app| !app.schedules.is_empty() && !settled_apps.contains(&app.name.as_str()))
    {
        let report = Report::skipped(app, Outcome::Unchanged, "scheduled tasks checked".to_owned());
        let mut report = schedules::follow(clients, app, store, report).await;
        if report.outcome == Outcome::Unchanged && report.actions.iter().any(|a| a.starts_with('~')) {
            report.outcome = Outcome::Followed;
        }
        if report.outcome == Outcome::Failed || !report.actions.is_empty() {
            reports.push(report);
        }
    }
    // Gate tasks no event told the end of, or past their deadline.
    reports.extend(
        Box::pin(super::gate::follow::settle_gates(
            clients,
            settings,
            store,
            &read_indexes,
            now,
        ))
        .await,
    );
    // Release groups whose release a member's failure ended: the others roll back (what an
    // event did not get to, or a failure the settle run itself found).
    let grouped: Vec<&AppConfig> = config.apps.iter().filter(|a| a.group.is_some()).collect();
    reports.extend(
        Box::pin(super::group::sweep_groups_of(
            clients, config, settings, invocation, &grouped,
        ))
        .await,
    );
    // Deploys too young to settle: ECS's service deployments only, for a pause or a production
    // shift no event told of (`Deploy Paused`, `Deploy Live`); nothing ends or times out here.
    reports.extend(Box::pin(super::native::watch_young(clients, settings, store, young, now)).await);
    // The DORA figures of every application, as metrics, once a settle run.
    for (app, index) in &read_indexes {
        record::emit_dora(&app.name, &crate::records::dora::dora(&index.records, now));
    }
    // Per-image tags no application needs any more.
    reports.extend(Box::pin(super::release::release(clients, config, store, &read_indexes)).await);
    // Pushes whose event was lost (of every repository an application's containers follow).
    let facets = config.facets.iter().filter_map(|facet| {
        let (_, index) = read_indexes.iter().find(|(app, _)| app.name == facet.name)?;
        Some((facet, index.clone()))
    });
    let with_facets: Vec<(&AppConfig, DeployIndex)> = read_indexes.iter().cloned().chain(facets).collect();
    reports.extend(Box::pin(super::reconcile::reconcile(clients, settings, invocation, &with_facets)).await);
    // Templates changed without a push.
    reports.extend(
        Box::pin(super::template_watch::watch_templates(
            clients,
            settings,
            invocation,
            &read_indexes,
        ))
        .await,
    );
    // Pushes waiting for their replica.
    reports.extend(
        Box::pin(super::replica::settle_waiting(
            clients, config, settings, invocation, now,
        ))
        .await,
    );
    // Promotions whose soak is over (or that a lost completion event never started).
    for source in config.apps.iter().filter(|s| {
        config
            .apps
            .iter()
            .any(|a| a.promote_from.as_deref() == Some(s.name.as_str()))
    }) {
        reports.extend(
            Box::pin(promote::promote_followers(
                clients, config, settings, invocation, source, now, false,
            ))
            .await,
        );
    }
    if reports.is_empty() {
        reports.push(Report::ignored(format!(
            "no deploy has been in progress for {} minutes or more",
            config.settle_after_minutes
        )));
    }
    answer(reports)
}

/// The application whose records name this ECS deployment (one index read each).
async fn app_with_deployment<'a>(
    clients: &Clients,
    store: &RecordStore,
    apps: &[&'a AppConfig],
    deployment_id: &str,
) -> Option<&'a AppConfig> {
    for app in apps {
        let Ok(index) = store.read(&clients.s3, &app.name).await else {
            continue;
        };
        if index
            .records
            .iter()
            .any(|r| r.ecs_deployment_id.as_deref() == Some(deployment_id))
        {
            return Some(app);
        }
    }
    None
}
