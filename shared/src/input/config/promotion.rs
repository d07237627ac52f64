//! An application's `promotion` block: when and how what its `promote_from` completed moves to it.

use serde::{Deserialize, Serialize};

/// How an application is promoted from its `promote_from`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromotionConfig {
    /// `auto`: once the source's deploy completed and stayed its running deploy for
    /// `soak_minutes`; `manual`: only by a `promote` payload; none: `auto` (see [`Self::policy`]).
    #[serde(default, rename = "policy", skip_serializing_if = "Option::is_none")]
    pub policy_written: Option<PromotionPolicy>,
    /// Minutes the source's completed deploy must stay its running deploy first (0-10080).
    #[serde(default)]
    pub soak_minutes: u32,
    /// `manual`: a promotion waits for an `approve` payload naming its digest (a `Promotion
    /// Pending` event says so); none: it deploys at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// CloudWatch alarms (names, in the source's account and region) that must stay quiet
    /// through the source's soak, beside the alarms the source service's deployment watches: one
    /// in `ALARM`, or whose state changed after the source's deploy completed, holds the
    /// promotion back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<String>,
}

impl PromotionConfig {
    /// The policy: as written, `auto` when none is.
    pub fn policy(&self) -> PromotionPolicy {
        self.policy_written.unwrap_or_default()
    }

    /// True when a promotion waits for something: an approval, a soak, or a person (`manual`).
    pub fn is_gated(&self) -> bool {
        self.approval.is_some() || self.soak_minutes > 0 || self.policy() == PromotionPolicy::Manual
    }
}

/// When promotions happen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromotionPolicy {
    /// When the source's deploy completed and soaked.
    #[default]
    Auto,
    /// Only when a `promote` payload asks.
    Manual,
}

/// Who lets a promotion proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    /// A person or pipeline, with an `approve` payload.
    Manual,
}
