//! What started a deploy, and the stable ids made from it.

use serde::{Deserialize, Serialize};

/// What started a deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// An ECR push event.
    Push,
    /// A manual `deploy` payload.
    Manual,
    /// A manual `deploy` payload to an application promoted from another, around its promotion
    /// gate (`"override": true`).
    Override,
    /// A manual `rollback` payload.
    Rollback,
    /// A promotion of the digest another application completed (`promote_from`).
    Promotion,
    /// The settle run's deploy of a newer template (`on_template_change: "deploy"`).
    Template,
}

/// What started a deploy, and who or what asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    /// Push, manual deploy or rollback.
    pub kind: TriggerKind,
    /// The push event's id, or the Lambda request id of a manual invocation (Lambda's retries
    /// keep both, so a retry names the same deploy).
    pub id: String,
    /// Who or what asked: `aws.ecr` for a push, or the payload's `by` (a person, a pipeline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// FNV-1a: a fixed function of its input, unlike the standard library's hashers (ids and keys
/// made from it must not change between releases).
pub fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The stable id of the deploy a trigger starts for one application.
pub fn deploy_id(trigger: &Trigger, app: &str) -> String {
    let hash = fnv1a(&format!("{:?}\u{0}{}\u{0}{app}", trigger.kind, trigger.id));
    let kind = match trigger.kind {
        TriggerKind::Push => "push",
        TriggerKind::Manual => "manual",
        TriggerKind::Override => "override",
        TriggerKind::Rollback => "rollback",
        TriggerKind::Promotion => "promotion",
        TriggerKind::Template => "template",
    };
    format!("{kind}-{hash:016x}")
}
