//! An application's `promotion` block: when and how what its `promote_from` completed moves to it.

use std::collections::{HashMap, HashSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Config;
use crate::input::quoted;

/// How an application is promoted from its `promote_from`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PromotionPolicy {
    /// When the source's deploy completed and soaked.
    #[default]
    Auto,
    /// Only when a `promote` payload asks.
    Manual,
}

/// Who lets a promotion proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    /// A person or pipeline, with an `approve` payload.
    Manual,
}

/// Each `promote_from` names another known application following the same repository, and
/// no chain comes back to where it started (dev -> staging -> prod is fine; a -> b -> a is not).
pub(super) fn validate_promotions(config: &Config, positions: &[usize], push: &mut impl FnMut(String, String)) {
    let by_name: HashMap<&str, &super::AppConfig> = config.apps.iter().map(|a| (a.name.as_str(), a)).collect();
    let mut reported_cycles: HashSet<Vec<&str>> = HashSet::new();
    for (&i, app) in positions.iter().zip(&config.apps) {
        let Some(source) = app.promote_from.as_deref() else {
            continue;
        };
        let at = format!("apps[{i}].promote_from");
        let Some(source_app) = by_name.get(source) else {
            let names: Vec<&str> = config.apps.iter().map(|a| a.name.as_str()).collect();
            push(
                at,
                format!(
                    "expected one of the configured applications ({}), got {}",
                    names.join(", "),
                    quoted(source)
                ),
            );
            continue;
        };
        if source_app.is_schedule_only() {
            push(
                at.clone(),
                format!(
                    "{} is only scheduled tasks: a promotion follows a service's completed rollout; promote from an application with a service",
                    quoted(source)
                ),
            );
        }
        if source_app.follows_several_repositories() {
            push(
                at.clone(),
                format!(
                    "{} has containers following several repositories, and a promotion moves one digest: promote from an application of one repository",
                    quoted(source)
                ),
            );
        }
        // Into production, or across accounts, a digest moves at once only when that is said.
        let promotion = app.promotion();
        let crosses = app.account() != source_app.account();
        if (app.production || crosses) && !promotion.is_gated() && promotion.policy_written.is_none() {
            let why = match app.production {
                true => "marked `production`".to_owned(),
                false => format!(
                    "in account {} and its source {} in {}",
                    app.account().unwrap_or("of the function"),
                    quoted(source),
                    source_app.account().unwrap_or("the function's")
                ),
            };
            push(
                format!("apps[{i}].promotion"),
                format!("this application is {why}: expected `approval: \"manual\"` or `soak_minutes`, or `policy: \"auto\"` written out to promote each completed digest at once"),
            );
        }
        if source_app.repository != app.repository {
            push(
                at.clone(),
                format!(
                    "expected an application of the same repository: {} follows {}, this one {}",
                    quoted(source),
                    quoted(&source_app.repository),
                    quoted(&app.repository)
                ),
            );
        }
        // Walk the chain up from this application; a name seen twice is a cycle.
        let mut chain = vec![app.name.as_str()];
        let mut next = Some(source);
        while let Some(name) = next {
            if let Some(start) = chain.iter().position(|n| *n == name) {
                let mut cycle: Vec<&str> = chain[start..].to_vec();
                let mut key = cycle.clone();
                key.sort_unstable();
                if reported_cycles.insert(key) {
                    cycle.push(name);
                    push(
                        at.clone(),
                        format!(
                            "expected no promotion cycle, got {} (each promoted from the next)",
                            cycle.join(" <- ")
                        ),
                    );
                }
                break;
            }
            chain.push(name);
            next = by_name.get(name).and_then(|a| a.promote_from.as_deref());
        }
    }
}
