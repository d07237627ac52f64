//! A gate task before the rollout (`before_deploy`): after the new revision is registered, a
//! task of it runs the configured command (with the service's network configuration) instead
//! of `UpdateService`; [`follow`] hears how it ended (`ECS Task State Change`, or the settle
//! run asking `DescribeTasks`) and then updates the service (exit 0) or fails the deploy with
//! the exit code and a link to the container's logs, the service untouched.
//!
//! Never twice for one deploy: RunTask carries a client token made from the deploy's id (ECS
//! starts one task for one token), and a replay of the deploy finds the gate in its record
//! ([`recorded`]) before anything is run.

pub mod follow;

use std::time::{Duration, SystemTime};

use super::{Clients, Outcome, Report};
use crate::aws::arn::short_name;
use crate::aws::ecs::tasks::{self, TaskPlacement, TaskRun, TaskState};
use crate::aws::ecs::ServiceState;
use crate::aws::revision::Revision;
use crate::aws::AwsError;
use crate::input::config::AppConfig;
use crate::records::{fnv1a, format_time, parse_time, DeployIndex, GateProgress};

/// `startedBy` of every gate task: the template's rule hears only the stops of these.
pub const STARTED_BY: &str = "ecs-deployer/gate";

/// Where a container's `awslogs` go: region, group and stream prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPlace {
    /// The log group's region (`awslogs-region`).
    pub region: String,
    /// `awslogs-group`.
    pub group: String,
    /// `awslogs-stream-prefix`: the stream is `<prefix>/<container>/<task id>`.
    pub prefix: String,
}

/// The gate task a deploy runs instead of updating the service at once.
#[derive(Debug, Clone, PartialEq)]
pub struct GatePlan {
    /// The cluster.
    pub cluster: String,
    /// Where the service's tasks run (the task runs there too).
    pub placement: TaskPlacement,
    /// The container whose command is replaced and whose exit code decides.
    pub container: String,
    /// The command.
    pub command: Vec<String>,
    /// Minutes before it is stopped and the deploy failed.
    pub timeout_minutes: u32,
    /// Where the container logs, for the link a failure gives.
    pub logs: Option<LogPlace>,
}

/// The gate of `app`'s deploy of `revision` to `service` (none: the application has none).
pub(crate) fn plan_gate(app: &AppConfig, service: &ServiceState, revision: Option<&Revision>) -> Option<GatePlan> {
    let gate = app.before_deploy.as_ref()?;
    let container = gate.container.clone().unwrap_or_else(|| app.container.clone());
    Some(GatePlan {
        cluster: app.cluster.clone(),
        placement: service.placement.clone(),
        logs: revision.and_then(|r| log_place(r, &container)),
        container,
        command: gate.command.clone(),
        timeout_minutes: gate.timeout_minutes,
    })
}

/// The plan's line for a gate.
pub(crate) fn action_text(gate: &GatePlan) -> String {
    format!(
        "+ gate task: run `{}` in container {} of the new revision (up to {} minutes); the service is updated only when it exits 0",
        gate.command.join(" "),
        gate.container,
        gate.timeout_minutes
    )
}

fn log_place(revision: &Revision, container: &str) -> Option<LogPlace> {
    let definition = revision
        .definition
        .container_definitions()
        .iter()
        .find(|c| c.name() == Some(container))?;
    let logging = definition.log_configuration()?;
    if logging.log_driver().as_str() != "awslogs" {
        return None;
    }
    let options = logging.options()?;
    Some(LogPlace {
        region: options.get("awslogs-region")?.clone(),
        group: options.get("awslogs-group")?.clone(),
        prefix: options.get("awslogs-stream-prefix")?.clone(),
    })
}

/// The console link of the gate container's log stream.
pub fn logs_link(logs: &LogPlace, container: &str, task_arn: &str) -> String {
    let task_id = task_arn.rsplit('/').next().unwrap_or(task_arn);
    let stream = format!("{}/{container}/{task_id}", logs.prefix);
    crate::notify::log_events_link(&logs.region, &logs.group, &stream)
}

/// Runs the gate task of deploy `deploy_id` from `task_definition`.
pub(crate) async fn start(
    clients: &Clients,
    gate: &GatePlan,
    task_definition: &str,
    deploy_id: &str,
) -> Result<GateProgress, AwsError> {
    let token = format!("gate-{:016x}", fnv1a(deploy_id));
    let task_arn = tasks::run_task(
        &clients.ecs,
        &TaskRun {
            cluster: &gate.cluster,
            task_definition,
            placement: &gate.placement,
            container: &gate.container,
            command: &gate.command,
            started_by: STARTED_BY,
            client_token: &token,
        },
    )
    .await?;
    let now = SystemTime::now();
    Ok(GateProgress {
        logs: gate.logs.as_ref().map(|l| logs_link(l, &gate.container, &task_arn)),
        task_arn,
        container: gate.container.clone(),
        started_at: format_time(now),
        deadline: format_time(now + Duration::from_secs(u64::from(gate.timeout_minutes) * 60)),
        exit_code: None,
        passed: false,
    })
}

/// What a replay of deploy `deploy_id` answers when its record already has a gate task: the
/// gate is never run twice for one deploy.
pub(crate) fn recorded(app: &AppConfig, index: &DeployIndex, deploy_id: &str) -> Option<Report> {
    let record = index.get(deploy_id)?;
    let gate = record.gate.as_ref()?;
    let stands = match (record.gate_pending(), gate.passed) {
        (true, _) => "still runs".to_owned(),
        (false, true) => "exited 0 and the service was updated".to_owned(),
        (false, false) => format!("ended the deploy {}", record.outcome.as_str()),
    };
    Some(Report {
        deploy_id: Some(record.id.clone()),
        new_task_definition: record.new_task_definition.clone(),
        gate: Some(Box::new(gate.clone())),
        ..Report::skipped(
            app,
            Outcome::Unchanged,
            format!(
                "the gate task of this deploy ({}) {stands}: not run again",
                short_name(&gate.task_arn)
            ),
        )
    })
}

/// How a gate stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GateVerdict {
    /// Still running, within its time.
    Running,
    /// Its container exited 0: the service may be updated.
    Passed,
    /// It ended otherwise: the deploy fails with this exit code (none: it never exited) and why.
    Failed(Option<i32>, String),
    /// Past its deadline: stop it and fail the deploy.
    TimedOut,
}

/// The gate's verdict from the task's state (none: ECS no longer knows the task).
pub(crate) fn judge(gate: &GateProgress, state: Option<&TaskState>, now: SystemTime) -> GateVerdict {
    let logs = gate.logs.as_deref().map(|l| format!("; logs: {l}")).unwrap_or_default();
    let Some(state) = state else {
        return GateVerdict::Failed(
            None,
            format!(
                "gate task {} is unknown to ECS (it keeps stopped tasks about an hour): nothing says it succeeded{logs}",
                short_name(&gate.task_arn)
            ),
        );
    };
    if state.last_status != "STOPPED" {
        let past = parse_time(&gate.deadline).is_some_and(|deadline| now >= deadline);
        return if past {
            GateVerdict::TimedOut
        } else {
            GateVerdict::Running
        };
    }
    let container = state.containers.iter().find(|(name, _, _)| *name == gate.container);
    let why = [state.stop_code.as_deref(), state.stopped_reason.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(": ");
    match container {
        Some((_, Some(0), _)) => GateVerdict::Passed,
        Some((_, Some(code), reason)) => GateVerdict::Failed(
            Some(*code),
            format!(
                "gate task {} failed: container {} exited {code}{}{logs}",
                short_name(&gate.task_arn),
                gate.container,
                reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
            ),
        ),
        _ => GateVerdict::Failed(
            None,
            format!(
                "gate task {} stopped before container {} exited ({}){logs}",
                short_name(&gate.task_arn),
                gate.container,
                if why.is_empty() { "ECS gave no reason" } else { &why }
            ),
        ),
    }
}

#[cfg(test)]
mod tests;
