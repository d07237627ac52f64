//! Settling deploys no event ended: from ECS's service deployments API when the endpoint has it
//! (every strategy, stage by stage), otherwise from what `DescribeServices` says. Pure.
//!
//! A deploy whose service deployment ECS still reports as moving is never `timed_out`: one that
//! bakes (`BAKE_TIME`), waits at a lifecycle hook (a pause hook can wait 14 days) or rolls back
//! is left in progress, its stage recorded. The settle time bounds only a deployment ECS has
//! stopped moving: no change of its status, stage or `updatedAt` for that long.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::{format_time, mentions_rollback, parse_time, Change, DeployIndex, DeployOutcome, DeployRecord};
use crate::aws::ecs::deployments::ServiceDeployment;
use crate::aws::ecs::ServiceState;

/// Service deployments created this long before a deploy started may still be its own (clocks
/// of the function and of ECS differ a little).
const CLOCK_SLACK: Duration = Duration::from_secs(120);

/// What the deployer last saw of the service deployment that rolls a deploy out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NativeProgress {
    /// The service deployment's ARN.
    pub service_deployment_arn: String,
    /// Its status (`IN_PROGRESS`, `ROLLBACK_IN_PROGRESS`, ...).
    pub status: String,
    /// Its lifecycle stage (`BAKE_TIME`, ...), when ECS names one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub lifecycle_stage: String,
    /// Lifecycle hooks waiting for `ContinueServiceDeployment` (pause hooks), by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub awaiting: Vec<String>,
    /// When the deployer first saw this status and stage (RFC 3339).
    pub since: String,
}

impl NativeProgress {
    fn of(deployment: &ServiceDeployment, since: String) -> Self {
        NativeProgress {
            service_deployment_arn: deployment.arn.clone(),
            status: deployment.status.clone(),
            lifecycle_stage: deployment.lifecycle_stage.clone(),
            awaiting: deployment
                .hooks
                .iter()
                .filter(|h| h.status == "AWAITING_ACTION")
                .map(|h| h.id.clone())
                .collect(),
            since,
        }
    }

    /// True when `other` says the same of the same deployment (the time aside).
    fn same_as(&self, other: &NativeProgress) -> bool {
        (
            &self.service_deployment_arn,
            &self.status,
            &self.lifecycle_stage,
            &self.awaiting,
        ) == (
            &other.service_deployment_arn,
            &other.status,
            &other.lifecycle_stage,
            &other.awaiting,
        )
    }
}

/// How a deploy stands by its service deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// ECS ended it.
    Ended(DeployOutcome, Option<String>),
    /// ECS is moving it (or is waiting for what it was told to wait for).
    Moving,
    /// ECS has not moved it for the settle time.
    Stalled(String),
}

/// Judges a deploy by its service deployment, which has looked the same to the deployer since
/// `since`.
pub fn judge(deployment: &ServiceDeployment, since: SystemTime, now: SystemTime, after: Duration) -> Verdict {
    let reason = || {
        let text = deployment
            .rollback_reason
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| deployment.status_reason.clone());
        Some(if text.is_empty() {
            "ECS gave no reason".into()
        } else {
            text
        })
    };
    match deployment.status.as_str() {
        "SUCCESSFUL" => return Verdict::Ended(DeployOutcome::Completed, None),
        "ROLLBACK_SUCCESSFUL" => return Verdict::Ended(DeployOutcome::RolledBack, reason()),
        "ROLLBACK_FAILED" => {
            return Verdict::Ended(
                DeployOutcome::Failed,
                reason().map(|r| format!("ECS could not roll the deployment back: {r}")),
            )
        }
        "STOPPED" => {
            return Verdict::Ended(
                DeployOutcome::Failed,
                reason().map(|r| format!("ECS stopped the deployment: {r}")),
            )
        }
        _ => {}
    }
    // Waiting for what it was told to wait for: ECS ends those itself (bake time, hook timeouts).
    let waits = deployment.lifecycle_stage == "BAKE_TIME"
        || deployment
            .hooks
            .iter()
            .any(|h| matches!(h.status.as_str(), "IN_PROGRESS" | "AWAITING_ACTION"));
    if waits {
        return Verdict::Moving;
    }
    // ECS's own `updatedAt` says when it last moved; without one, when the deployer first saw
    // it as it is.
    let moved = deployment.updated_at.unwrap_or(since);
    if now.duration_since(moved).unwrap_or_default() < after {
        return Verdict::Moving;
    }
    let stage = if deployment.lifecycle_stage.is_empty() {
        String::new()
    } else {
        format!(" at stage {}", deployment.lifecycle_stage)
    };
    Verdict::Stalled(format!(
        "ECS's service deployment {} has been {}{stage} without moving for {} minutes",
        deployment.arn,
        deployment.status,
        after.as_secs() / 60
    ))
}

/// The service deployment of `native` that rolls `record` out: the one it was seen in before,
/// or the newest created since it started whose target revision is its new one.
fn deployment_of<'a>(
    record: &DeployRecord,
    native: &'a [ServiceDeployment],
    now: SystemTime,
) -> Option<&'a ServiceDeployment> {
    if let Some(seen) = &record.native {
        if let Some(found) = native.iter().find(|d| d.arn == seen.service_deployment_arn) {
            return Some(found);
        }
    }
    let started = parse_time(&record.started_at).unwrap_or(now);
    let earliest = started.checked_sub(CLOCK_SLACK).unwrap_or(started);
    let revision = record.new_task_definition.as_deref()?;
    native
        .iter()
        .filter(|d| d.task_definition == revision && d.created_at.is_none_or(|c| c >= earliest))
        .max_by_key(|d| d.created_at)
}

impl DeployIndex {
    /// Settles deploys in progress that started more than `after` before `now`: by their service
    /// deployment in `native` (ECS's service deployments API; empty where the endpoint has
    /// none) when it lists one, otherwise from what `DescribeServices` says of the service (the
    /// deployment's rollout state when ECS still lists it, otherwise which revision the service
    /// runs). A deploy ECS still moves keeps its outcome; a new stage is recorded.
    pub fn settle(
        &mut self,
        service: &ServiceState,
        native: &[ServiceDeployment],
        now: SystemTime,
        after: Duration,
    ) -> Vec<Change> {
        let at = format_time(now);
        let mut changes = Vec::new();
        for record in self
            .records
            .iter_mut()
            .filter(|r| r.outcome == DeployOutcome::InProgress)
        {
            let started = parse_time(&record.started_at).unwrap_or(now);
            if now.duration_since(started).unwrap_or_default() < after {
                continue;
            }
            let (outcome, reason) = match deployment_of(record, native, now) {
                Some(deployment) => {
                    let seen = NativeProgress::of(deployment, at.clone());
                    let kept = record.native.as_ref().filter(|before| before.same_as(&seen));
                    let since = kept.and_then(|k| parse_time(&k.since)).unwrap_or(now);
                    let changed = kept.is_none();
                    if changed {
                        record.native = Some(seen);
                    }
                    match judge(deployment, since, now, after) {
                        Verdict::Ended(outcome, reason) => (outcome, reason),
                        Verdict::Stalled(reason) => (DeployOutcome::TimedOut, Some(reason)),
                        Verdict::Moving => {
                            if changed {
                                changes.push(Change {
                                    record: record.clone(),
                                    from: Some(DeployOutcome::InProgress),
                                });
                            }
                            continue;
                        }
                    }
                }
                None => by_service(record, service, after),
            };
            record.outcome = outcome;
            record.ended_at = Some(at.clone());
            record.reason = reason.map(|r| if r.is_empty() { "ECS gave no reason".into() } else { r });
            changes.push(Change {
                record: record.clone(),
                from: Some(DeployOutcome::InProgress),
            });
        }
        changes
    }
}

/// How a deploy in progress stands by `DescribeServices` alone.
fn by_service(record: &DeployRecord, service: &ServiceState, after: Duration) -> (DeployOutcome, Option<String>) {
    let listed = record
        .ecs_deployment_id
        .as_deref()
        .and_then(|id| service.deployments.iter().find(|d| d.id == id));
    match listed {
        Some(d) if d.rollout_state == "COMPLETED" => (DeployOutcome::Completed, None),
        Some(d) if d.rollout_state == "FAILED" => {
            let reason = d.rollout_state_reason.clone();
            if record.rolls_back_on_failure || mentions_rollback(&reason) {
                (DeployOutcome::RolledBack, Some(reason))
            } else {
                (DeployOutcome::Failed, Some(reason))
            }
        }
        // AWS documents `rolloutState` for rolling updates only: a blue/green, linear or
        // canary deployment is settled from which revision runs and the task counts.
        Some(d) if d.rollout_state.is_empty() => {
            let others = service.deployments.iter().filter(|o| o.id != d.id).count();
            let ours = record.new_task_definition.as_deref() == Some(service.task_definition.as_str());
            if d.status == "PRIMARY" && ours && others == 0 && d.running_count >= d.desired_count {
                (DeployOutcome::Completed, None)
            } else if d.status != "PRIMARY"
                && record.old_task_definition.as_deref() == Some(service.task_definition.as_str())
            {
                (
                    DeployOutcome::RolledBack,
                    Some("ECS lists the deployment as no longer primary and the service runs the previous revision again".into()),
                )
            } else {
                (
                    DeployOutcome::TimedOut,
                    Some(format!(
                        "after {} minutes ECS's deployment {} ({}) runs {} of {} tasks beside {others} other deployment(s)",
                        after.as_secs() / 60,
                        d.id,
                        d.status,
                        d.running_count,
                        d.desired_count
                    )),
                )
            }
        }
        Some(d) => (
            DeployOutcome::TimedOut,
            Some(format!(
                "ECS still reports deployment {} {} after {} minutes",
                d.id,
                if d.rollout_state.is_empty() {
                    "without a rollout state"
                } else {
                    &d.rollout_state
                },
                after.as_secs() / 60
            )),
        ),
        None if record.new_task_definition.as_deref() == Some(service.task_definition.as_str()) => {
            (DeployOutcome::Completed, None)
        }
        None if record.old_task_definition.as_deref() == Some(service.task_definition.as_str()) => (
            DeployOutcome::RolledBack,
            Some("ECS no longer lists the deployment and the service runs the previous revision again".into()),
        ),
        None => (
            DeployOutcome::Superseded,
            Some(format!(
                "ECS no longer lists the deployment; the service runs {}, deployed by something else",
                service.task_definition
            )),
        ),
    }
}
