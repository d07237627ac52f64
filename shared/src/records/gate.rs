//! A deploy's gate task (`before_deploy`): run from the new revision before the service is
//! touched; the deploy goes on (`UpdateService`) only when its container exits 0. How a gate
//! stands is part of the deploy's record, and the index decides its transitions (pure).

use serde::{Deserialize, Serialize};

use super::{Change, DeployIndex, DeployOutcome, DeployRecord};

/// A deploy's gate task, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateProgress {
    /// The task's ARN.
    pub task_arn: String,
    /// The container whose exit code decides.
    pub container: String,
    /// When it was started (RFC 3339).
    pub started_at: String,
    /// When it is stopped and the deploy failed if it has not exited (RFC 3339).
    pub deadline: String,
    /// The container's exit code, once it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// True once it exited 0 and the service was updated.
    #[serde(default)]
    pub passed: bool,
    /// The container's log stream in the CloudWatch console (when it logs with `awslogs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<String>,
}

impl DeployRecord {
    /// True while its gate task runs (the service not touched yet).
    pub fn gate_pending(&self) -> bool {
        self.outcome == DeployOutcome::InProgress && self.gate.as_ref().is_some_and(|g| !g.passed)
    }
}

impl DeployIndex {
    /// The deploy whose gate task is `task_arn`.
    pub fn with_gate_task(&self, task_arn: &str) -> Option<&DeployRecord> {
        self.records
            .iter()
            .find(|r| r.gate.as_ref().is_some_and(|g| g.task_arn == task_arn))
    }

    /// The gate of deploy `id` passed (exit 0) and the service was updated: the deploy now
    /// follows ECS deployment `deployment` like any other. Nothing changes unless the gate was
    /// pending (a replay, or a deploy ended meanwhile).
    pub fn gate_passed(&mut self, id: &str, deployment: Option<String>) -> Vec<Change> {
        let Some(record) = self.records.iter_mut().find(|r| r.id == id && r.gate_pending()) else {
            return Vec::new();
        };
        if let Some(gate) = &mut record.gate {
            gate.passed = true;
            gate.exit_code = Some(0);
        }
        record.ecs_deployment_id = deployment;
        vec![Change {
            record: record.clone(),
            from: Some(DeployOutcome::InProgress),
            milestone: None,
        }]
    }

    /// The gate of deploy `id` failed (a non-zero exit, a stop, the time-out): the deploy is
    /// `failed` with `reason`, the service untouched. Nothing changes unless the gate was
    /// pending.
    pub fn gate_failed(&mut self, id: &str, exit_code: Option<i32>, reason: &str, at: &str) -> Vec<Change> {
        let Some(record) = self.records.iter_mut().find(|r| r.id == id && r.gate_pending()) else {
            return Vec::new();
        };
        if let Some(gate) = &mut record.gate {
            gate.exit_code = exit_code;
        }
        record.outcome = DeployOutcome::Failed;
        record.ended_at = Some(at.to_owned());
        record.reason = Some(reason.to_owned());
        record.cut_texts();
        vec![Change {
            record: record.clone(),
            from: Some(DeployOutcome::InProgress),
            milestone: None,
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::deploy_record;

    fn gated(id: &str) -> DeployRecord {
        let mut record = deploy_record(id, DeployOutcome::InProgress, "sha256:1", "2026-12-07T10:00:00Z");
        record.gate = Some(GateProgress {
            task_arn: format!("arn:aws:ecs:eu-west-1:1:task/sss/{id}"),
            container: "app".into(),
            started_at: "2026-12-07T10:00:00Z".into(),
            deadline: "2026-12-07T10:30:00Z".into(),
            exit_code: None,
            passed: false,
            logs: None,
        });
        record
    }

    #[test]
    fn a_gate_passes_or_fails_once_and_only_while_pending() {
        let mut index = DeployIndex {
            records: vec![gated("d2"), gated("d1")],
        };
        assert_eq!(
            index.with_gate_task("arn:aws:ecs:eu-west-1:1:task/sss/d1").unwrap().id,
            "d1"
        );
        let passed = index.gate_passed("d2", Some("ecs-svc/9".into()));
        assert_eq!(passed.len(), 1);
        assert_eq!(passed[0].record.ecs_deployment_id.as_deref(), Some("ecs-svc/9"));
        assert!(!index.records[0].gate_pending());
        assert!(index.gate_passed("d2", None).is_empty(), "a replay changes nothing");
        assert!(index.gate_failed("d2", Some(1), "late", "t").is_empty());
        let failed = index.gate_failed("d1", Some(3), "exited 3", "2026-12-07T10:05:00Z");
        assert_eq!(failed[0].record.outcome, DeployOutcome::Failed);
        assert_eq!(failed[0].record.gate.as_ref().unwrap().exit_code, Some(3));
        assert!(index.gate_failed("d1", Some(3), "exited 3", "t").is_empty());
    }
}
