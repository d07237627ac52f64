//! `before_deploy`: a task run from the new revision before the service is touched (a database
//! migration, say); the deploy goes on only when its container exits 0.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The gate task of an application's deploys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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

#[cfg(test)]
mod tests {
    use super::super::tests::paths;
    use super::super::*;

    #[test]
    fn a_gate_task_needs_a_command_and_a_bounded_timeout() {
        let with = |gate: &str| {
            format!(
                r#"{{"apps": [{{"name": "a", "cluster": "c", "service": "a", "container": "app", "repository": "orders",
                "tags": ["latest"], "before_deploy": {gate}}}]}}"#
            )
        };
        let config = Config::parse(&with(r#"{"command": ["./migrate", "up"]}"#), "test").unwrap();
        let gate = config.apps[0].before_deploy.as_ref().unwrap();
        assert_eq!((gate.timeout_minutes, gate.container.as_deref()), (30, None));
        let err = Config::parse(&with(r#"{"command": [], "timeout_minutes": 0}"#), "test").unwrap_err();
        assert_eq!(
            paths(err),
            ["apps[0].before_deploy.command", "apps[0].before_deploy.timeout_minutes"]
        );
        let err = Config::parse(&with(r#"{"command": ["x"], "image": "y"}"#), "test").unwrap_err();
        assert!(err.problems[0].path.starts_with("apps[0].before_deploy"), "{err:?}");
    }
}
