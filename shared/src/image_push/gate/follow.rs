//! How a gate task's end moves its deploy: an `ECS Task State Change` event of its stop, or the
//! settle run's `DescribeTasks` (a lost event, or a task past its deadline, which is stopped).
//! Exit 0: the service is updated under its lease, from the revision the deploy replaced only;
//! anything else: the deploy is `failed`, the service untouched.

use std::time::SystemTime;

use super::{judge, GateVerdict};
use crate::aws::arn::short_name;
use crate::aws::ecs::{self, tasks, tasks::TaskState};
use crate::image_push::heard::{answer, report_changes};
use crate::image_push::plan::circuit_breaker_change;
use crate::image_push::record::update_publishing;
use crate::image_push::{Answer, Clients, Outcome, Report};
use crate::input::config::{AppConfig, Config, OwnPlace};
use crate::input::events::EcsTaskDetail;
use crate::job::{Invocation, Settings};
use crate::lease;
use crate::records::{format_time, DeployIndex, DeployRecord, RecordStore};

/// Applies an `ECS Task State Change` event: the stop of a deploy's gate task decides it.
pub async fn hear_task(
    clients: &Clients,
    config: &Config,
    settings: &Settings,
    invocation: &Invocation,
    detail: &EcsTaskDetail,
) -> Answer {
    if detail.last_status != "STOPPED" {
        return answer(vec![Report::ignored(format!(
            "task {} is {}: only a stop decides a gate",
            short_name(&detail.task_arn),
            detail.last_status
        ))]);
    }
    let Some(store) = &settings.records else {
        return answer(vec![Report::ignored(
            "no state bucket (DEPLOYER_STATE_BUCKET): no gate task is recorded",
        )]);
    };
    let own = OwnPlace {
        account: invocation.account.as_deref(),
        region: &clients.region,
    };
    // The applications with a gate whose service is in the task's cluster (account and region
    // included): the service ARN each would have there.
    let cluster_prefix = detail.cluster_arn.replacen(":cluster/", ":service/", 1);
    let candidates = config.apps.iter().filter(|app| {
        app.before_deploy.is_some()
            && config
                .apps_for_service_arn(&format!("{cluster_prefix}/{}", short_name(&app.service)), own)
                .iter()
                .any(|a| a.name == app.name)
    });
    let state = TaskState {
        last_status: detail.last_status.clone(),
        stopped_reason: detail.stopped_reason.clone(),
        stop_code: detail.stop_code.clone(),
        containers: detail
            .containers
            .iter()
            .map(|c| (c.name.clone(), c.exit_code, c.reason.clone()))
            .collect(),
    };
    for app in candidates {
        let index = match store.read(&clients.s3, &app.name).await {
            Ok(index) => index,
            Err(err) => {
                return answer(vec![Report::skipped(
                    app,
                    Outcome::Failed,
                    format!("{err}; a retry of the event decides the gate"),
                )])
            }
        };
        let Some(record) = index.with_gate_task(&detail.task_arn) else {
            continue;
        };
        if !record.gate_pending() {
            return answer(vec![Report::skipped(
                app,
                Outcome::Unchanged,
                format!(
                    "the gate task of deploy {} has already decided it ({}): nothing to move",
                    record.id,
                    record.outcome.as_str()
                ),
            )]);
        }
        let gate = record.gate.clone().expect("a pending gate");
        let verdict = judge(&gate, Some(&state), SystemTime::now());
        let report = conclude(clients, settings, store, app, record, verdict).await;
        // A gate that failed a release group's member rolls the others of its release back.
        let and = crate::image_push::group::and_rollbacks(clients, config, settings, invocation, app, report);
        return answer(Box::pin(and).await);
    }
    answer(vec![Report::ignored(format!(
        "task {} is no deploy's gate task",
        short_name(&detail.task_arn)
    ))])
}

/// The settle run's part: each application's deploy whose gate task still runs is asked about
/// (`DescribeTasks`): an end no event told of decides it; one past its deadline is stopped and
/// fails the deploy. A gate still within its time says nothing.
pub(crate) async fn settle_gates(
    clients: &Clients,
    settings: &Settings,
    store: &RecordStore,
    indexes: &[(&AppConfig, DeployIndex)],
    now: SystemTime,
) -> Vec<Report> {
    let mut reports = Vec::new();
    for (app, index) in indexes {
        let Some(record) = index.records.iter().find(|r| r.gate_pending()) else {
            continue;
        };
        let gate = record.gate.as_ref().expect("a pending gate");
        let reached = clients.for_app(app).await;
        let verdict = match tasks::describe_task(&reached.ecs, &app.cluster, &gate.task_arn).await {
            Ok(state) => judge(gate, state.as_ref(), now),
            Err(err) => {
                reports.push(Report::skipped(
                    app,
                    Outcome::Failed,
                    format!("{err}; the next settle run asks again"),
                ));
                continue;
            }
        };
        if verdict != GateVerdict::Running {
            reports.push(conclude(clients, settings, store, app, record, verdict).await);
        }
    }
    reports
}

/// Moves the deploy of `record` as `verdict` says.
async fn conclude(
    clients: &Clients,
    settings: &Settings,
    store: &RecordStore,
    app: &AppConfig,
    record: &DeployRecord,
    verdict: GateVerdict,
) -> Report {
    let gate = record.gate.as_ref().expect("a pending gate");
    let (code, reason) = match verdict {
        GateVerdict::Running => {
            return Report::skipped(
                app,
                Outcome::Unchanged,
                format!(
                    "gate task {} still runs (until {})",
                    short_name(&gate.task_arn),
                    gate.deadline
                ),
            )
        }
        GateVerdict::Passed => return go_on(clients, settings, store, app, record).await,
        GateVerdict::Failed(code, reason) => (code, reason),
        GateVerdict::TimedOut => {
            let reached = clients.for_app(app).await;
            let why = format!("the deploy's gate ran past {}", gate.deadline);
            let stopped = match tasks::stop_task(&reached.ecs, &app.cluster, &gate.task_arn, &why).await {
                Ok(()) => "stopped".to_owned(),
                Err(err) => format!("not stopped: {err}"),
            };
            let logs = gate.logs.as_deref().map(|l| format!("; logs: {l}")).unwrap_or_default();
            (
                None,
                format!(
                    "gate task {} timed out (deadline {}; {stopped}){logs}",
                    short_name(&gate.task_arn),
                    gate.deadline
                ),
            )
        }
    };
    fail(clients, settings, store, app, record, code, reason).await
}

/// The gate passed: under the service's lease, the service moves from the revision the deploy
/// replaced to the new one (a service someone changed meanwhile is not: the deploy fails).
async fn go_on(
    clients: &Clients,
    settings: &Settings,
    store: &RecordStore,
    app: &AppConfig,
    record: &DeployRecord,
) -> Report {
    let purpose = format!("{} gate passed: update the service", app.name);
    let work = update_after_gate(clients, settings, store, app, record);
    lease::holding(&clients.s3, settings.lease.as_ref(), app, &record.id, &purpose, work)
        .await
        .unwrap_or_else(|err| {
            Report::skipped(
                app,
                Outcome::Deferred,
                format!("{err}; the gate passed, and a retry updates the service"),
            )
        })
}

async fn update_after_gate(
    clients: &Clients,
    settings: &Settings,
    store: &RecordStore,
    app: &AppConfig,
    record: &DeployRecord,
) -> Report {
    // Read again under the lease: another run may have decided the gate since.
    match store.read(&clients.s3, &app.name).await {
        Ok(index) if index.get(&record.id).is_some_and(DeployRecord::gate_pending) => {}
        Ok(_) => {
            return Report::skipped(
                app,
                Outcome::Unchanged,
                "the gate was decided meanwhile: nothing to move",
            )
        }
        Err(err) => return Report::skipped(app, Outcome::Failed, format!("{err}; a retry decides the gate")),
    }
    let reached = clients.for_app(app).await;
    let service = match ecs::describe_services(&reached.ecs, &app.cluster, std::slice::from_ref(&app.service)).await {
        Ok(found) => found.into_iter().find(|s| s.is(&app.service)),
        Err(err) => return Report::skipped(app, super::super::apply::outcome_of(&err), err.to_string()),
    };
    let (Some(service), Some(new)) = (service, record.new_task_definition.as_deref()) else {
        let why = "the service or the new revision is gone".to_owned();
        return fail(clients, settings, store, app, record, Some(0), why).await;
    };
    if Some(service.task_definition.as_str()) != record.old_task_definition.as_deref() {
        let why = format!(
            "the gate task exited 0, but the service was changed meanwhile (it runs {}, not {}): not updated; deploy again",
            short_name(&service.task_definition),
            record.old_task_definition.as_deref().map_or("the replaced revision", short_name)
        );
        return fail(clients, settings, store, app, record, Some(0), why).await;
    }
    let configuration = circuit_breaker_change(app, &service);
    let deployment = match ecs::update_service(&reached.ecs, &app.cluster, &app.service, new, configuration).await {
        Ok(deployment) => deployment,
        Err(err) => {
            return Report::skipped(
                app,
                super::super::apply::outcome_of(&err),
                format!("{err}; the gate passed, and a retry updates the service"),
            )
        }
    };
    let result = update_publishing(clients, settings, store, &app.name, None, |index| {
        index.gate_passed(&record.id, deployment.clone())
    })
    .await;
    let mut report = report_changes(app, result, || "the gate was decided meanwhile".into());
    if report.outcome != Outcome::Failed {
        report.outcome = Outcome::Deployed;
        report.ecs_deployment_id = deployment;
        report.new_task_definition = Some(new.to_owned());
        report
            .actions
            .push(format!("~ service {} -> {}", app.service_label(), short_name(new)));
    }
    report
}

/// Fails the deploy of `record` with its gate's exit `code` (none: it never exited) and why;
/// the service is not touched.
async fn fail(
    clients: &Clients,
    settings: &Settings,
    store: &RecordStore,
    app: &AppConfig,
    record: &DeployRecord,
    code: Option<i32>,
    reason: String,
) -> Report {
    let at = format_time(SystemTime::now());
    let result = update_publishing(clients, settings, store, &app.name, None, |index| {
        index.gate_failed(&record.id, code, &reason, &at)
    })
    .await;
    report_changes(app, result, || "the gate was decided meanwhile: nothing to move".into())
}
