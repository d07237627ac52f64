//! `before_deploy`: a task run from the new revision before the service is touched (a database
//! migration, say); the deploy goes on only when its container exits 0.

use serde::{Deserialize, Serialize};

/// The gate task of an application's deploys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
    /// The command the container runs instead of its own (at least one word).
    pub command: Vec<String>,
    /// The container that runs it and whose exit code decides (default: the application's
    /// `container`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Minutes the task may take before the deploy is failed and the task stopped (1-1440,
    /// default 30).
    #[serde(default = "default_timeout_minutes")]
    pub timeout_minutes: u32,
}

fn default_timeout_minutes() -> u32 {
    30
}

/// The problems of one `before_deploy` block, as (field under it, message).
pub(super) fn problems(gate: &GateConfig) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    if gate.command.is_empty() || gate.command.iter().any(String::is_empty) {
        problems.push(("command", "expected a command of one or more non-empty words".into()));
    }
    if gate.command.iter().map(String::len).sum::<usize>() > 8192 {
        problems.push(("command", "expected at most 8192 characters in all".into()));
    }
    if gate.container.as_ref().is_some_and(|c| c.is_empty() || c.len() > 255) {
        problems.push(("container", "expected a container name of 1-255 characters".into()));
    }
    if !(1..=1440).contains(&gate.timeout_minutes) {
        problems.push((
            "timeout_minutes",
            format!("expected 1-1440 minutes, got {}", gate.timeout_minutes),
        ));
    }
    problems
}
