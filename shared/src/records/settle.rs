//! Settling deploys no event ended: from ECS's service deployments API when the endpoint has it
//! (every strategy, stage by stage), otherwise from what `DescribeServices` says. Pure.
//!
//! A deploy whose service deployment ECS still reports as moving is never `timed_out`: one that
//! bakes (`BAKE_TIME`), waits at a lifecycle hook (a pause hook can wait 14 days) or rolls back
//! is left in progress, its stage recorded. The settle time bounds only a deployment ECS has
//! stopped moving: no change of its status, stage or `updatedAt` for that long.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::{format_time, mentions_rollback, parse_time, Change, DeployIndex, DeployOutcome, DeployRecord, Milestone};
use crate::aws::ecs::deployments::ServiceDeployment;
use crate::aws::ecs::ServiceState;

/// Service deployments created this long before a deploy started may still be its own (clocks
/// of the function and of ECS differ a little).
const CLOCK_SLACK: Duration = Duration::from_secs(120);

/// A lifecycle hook ECS waits at for `ContinueServiceDeployment` (a pause hook).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PausedHook {
    /// The hook's id.
    pub hook_id: String,
    /// When ECS stops waiting (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// What ECS does then: `CONTINUE` or `ROLLBACK`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_action: Option<String>,
}

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
    /// Lifecycle hooks waiting for `ContinueServiceDeployment` (pause hooks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub awaiting: Vec<PausedHook>,
    /// When the deployer first saw this status and stage (RFC 3339).
    pub since: String,
    /// When the deployer first saw production traffic on the new revision (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_at: Option<String>,
}

/// Stages at which production traffic has shifted to the new revision.
const LIVE_STAGES: [&str; 3] = ["POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP"];

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
                .map(|h| PausedHook {
                    hook_id: h.id.clone(),
                    expires_at: h.expires_at.clone(),
                    timeout_action: h.timeout_action.clone(),
                })
                .collect(),
            live_at: None,
            since,
        }
    }

    /// True when `other` says the same of the same deployment (the times aside).
    fn same_as(&self, other: &NativeProgress) -> bool {
        let hooks = |p: &NativeProgress| p.awaiting.iter().map(|h| h.hook_id.clone()).collect::<Vec<_>>();
        (
            &self.service_deployment_arn,
            &self.status,
            &self.lifecycle_stage,
            hooks(self),
        ) == (
            &other.service_deployment_arn,
            &other.status,
            &other.lifecycle_stage,
            hooks(other),
        )
    }
}

/// Records what `deployment` says of `record` (a deploy in progress) as seen at `at`: whether
/// that changed anything, since when it has looked so, and the milestones it reached.
fn observe(record: &mut DeployRecord, deployment: &ServiceDeployment, at: &str, now: SystemTime) -> Observed {
    let mut seen = NativeProgress::of(deployment, at.to_owned());
    let before = record.native.take();
    let kept = before.as_ref().filter(|b| b.same_as(&seen));
    let since = kept.and_then(|k| parse_time(&k.since)).unwrap_or(now);
    let mut milestones = Vec::new();
    seen.live_at = before.as_ref().and_then(|b| b.live_at.clone());
    if seen.live_at.is_none()
        && deployment.status == "IN_PROGRESS"
        && LIVE_STAGES.contains(&deployment.lifecycle_stage.as_str())
    {
        seen.live_at = Some(at.to_owned());
        milestones.push(Milestone::Live);
    }
    let paused_before = before
        .as_ref()
        .map(|b| b.awaiting.iter().map(|h| &h.hook_id).collect::<Vec<_>>());
    if !seen.awaiting.is_empty() && paused_before != Some(seen.awaiting.iter().map(|h| &h.hook_id).collect()) {
        milestones.push(Milestone::Paused);
    }
    let changed = kept.is_none() || !milestones.is_empty();
    if let (false, Some(kept)) = (changed, kept) {
        seen.since = kept.since.clone();
    }
    record.native = Some(seen);
    Observed {
        changed,
        since,
        milestones,
    }
}

/// What one observation of a deploy's service deployment brought.
struct Observed {
    changed: bool,
    since: SystemTime,
    milestones: Vec<Milestone>,
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

/// How ECS ended `deployment`, if it did: the outcome and its reason.
fn end_of(deployment: &ServiceDeployment) -> Option<(DeployOutcome, Option<String>)> {
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
    Some(match deployment.status.as_str() {
        "SUCCESSFUL" => (DeployOutcome::Completed, None),
        "ROLLBACK_SUCCESSFUL" => (DeployOutcome::RolledBack, reason()),
        "ROLLBACK_FAILED" => (
            DeployOutcome::Failed,
            reason().map(|r| format!("ECS could not roll the deployment back: {r}")),
        ),
        "STOPPED" => (
            DeployOutcome::Failed,
            reason().map(|r| format!("ECS stopped the deployment: {r}")),
        ),
        _ => return None,
    })
}

/// Judges a deploy by its service deployment, which has looked the same to the deployer since
/// `since`.
pub fn judge(deployment: &ServiceDeployment, since: SystemTime, now: SystemTime, after: Duration) -> Verdict {
    if let Some((outcome, reason)) = end_of(deployment) {
        return Verdict::Ended(outcome, reason);
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
pub fn deployment_of<'a>(
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
            .filter(|r| r.outcome == DeployOutcome::InProgress && !r.gate_pending())
        {
            let started = parse_time(&record.started_at).unwrap_or(now);
            if now.duration_since(started).unwrap_or_default() < after {
                continue;
            }
            let ended = match deployment_of(record, native, now) {
                Some(deployment) => {
                    let observed = observe(record, deployment, &at, now);
                    match judge(deployment, observed.since, now, after) {
                        Verdict::Ended(outcome, reason) => Some((outcome, reason)),
                        Verdict::Stalled(reason) => Some((DeployOutcome::TimedOut, Some(reason))),
                        Verdict::Moving => {
                            changes.extend(progress(record, &observed));
                            None
                        }
                    }
                }
                None => Some(by_service(record, service, after)),
            };
            if let Some((outcome, reason)) = ended {
                changes.push(end(record, outcome, reason, &at));
            }
        }
        changes
    }

    /// Follows every deploy in progress by its service deployment in `native`, whatever its
    /// age (an `ECS Hook State Change` event came): its stage, its hooks and its milestones
    /// recorded. Never ends or times out a deploy: ECS's deployment event or the settle run do
    /// (with what follows an end: the tags that protect images, promotions).
    pub fn follow_native(&mut self, native: &[ServiceDeployment], now: SystemTime) -> Vec<Change> {
        let at = format_time(now);
        let mut changes = Vec::new();
        for record in self
            .records
            .iter_mut()
            .filter(|r| r.outcome == DeployOutcome::InProgress)
        {
            let Some(deployment) = deployment_of(record, native, now) else {
                continue;
            };
            if end_of(deployment).is_some() {
                continue;
            }
            let observed = observe(record, deployment, &at, now);
            changes.extend(progress(record, &observed));
        }
        changes
    }
}

/// The changes of a deploy ECS still moves: one per milestone reached, or one that only
/// records the new stage (published as nothing).
fn progress(record: &DeployRecord, observed: &Observed) -> Vec<Change> {
    let change = |milestone| Change {
        record: record.clone(),
        from: Some(DeployOutcome::InProgress),
        milestone,
    };
    match (observed.changed, observed.milestones.as_slice()) {
        (false, _) => Vec::new(),
        (true, []) => vec![change(None)],
        (true, milestones) => milestones.iter().map(|m| change(Some(*m))).collect(),
    }
}

/// Ends a deploy in progress with `outcome` at `at`.
fn end(record: &mut DeployRecord, outcome: DeployOutcome, reason: Option<String>, at: &str) -> Change {
    record.outcome = outcome;
    record.ended_at = Some(at.to_owned());
    record.reason = reason.map(|r| if r.is_empty() { "ECS gave no reason".into() } else { r });
    Change {
        record: record.clone(),
        from: Some(DeployOutcome::InProgress),
        milestone: None,
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
