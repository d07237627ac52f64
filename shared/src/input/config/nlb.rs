//! The `nlb` block: NLB target groups kept filled with an internal ALB's addresses.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::default_true;

/// NLB target groups kept filled with an internal ALB's addresses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NlbConfig {
    /// Bucket holding the per-target-group state (empty: the stack's state bucket,
    /// `DEPLOYER_STATE_BUCKET`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub state_bucket: String,
    /// Key prefix of the state objects.
    #[serde(default = "default_state_prefix")]
    pub state_prefix: String,
    /// DNS lookups per run at most.
    #[serde(default = "default_lookups")]
    pub lookups_per_run: u32,
    /// Runs an address must be missing before it is deregistered.
    #[serde(default = "default_missing_runs")]
    pub missing_runs_before_deregister: u32,
    /// Largest share of a group's targets one run may deregister.
    #[serde(default = "default_share")]
    pub max_deregister_share: f64,
    /// Whether targets the deployer did not register may be removed.
    #[serde(default)]
    pub remove_untracked: bool,
    /// DNS servers (`host:port`); empty means the ALB zone's authoritative servers. Look-ups
    /// go round them, so a slow or failing first server does not take every look-up.
    #[serde(default)]
    pub dns_servers: Vec<String>,
    /// Seconds of a run in which DNS look-ups may start (1-30, default 20): with many groups
    /// and slow servers the run still ends well inside the function's 45 s; groups not looked
    /// up in time are reported as skipped, and the next run takes them first.
    #[serde(default = "default_dns_budget")]
    pub dns_budget_seconds: u32,
    /// The target groups.
    pub target_groups: Vec<TargetGroupConfig>,
}

fn default_state_prefix() -> String {
    "nlb-sync/".into()
}
fn default_lookups() -> u32 {
    50
}
fn default_dns_budget() -> u32 {
    20
}
fn default_missing_runs() -> u32 {
    3
}
fn default_share() -> f64 {
    0.5
}

/// One NLB target group and the ALB whose addresses fill it, named by ARN (`alb_arn`), by DNS
/// name (`alb_dns_name`), or both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetGroupConfig {
    /// Target group ARN.
    pub target_group_arn: String,
    /// DNS name of the internal ALB (needed for `dns` discovery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alb_dns_name: Option<String>,
    /// ARN of the internal ALB (needed for `eni` discovery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alb_arn: Option<String>,
    /// How the ALB's addresses are found; default `eni` when `alb_arn` is given, else `dns`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<Discovery>,
    /// Role to assume to describe the ALB's network interfaces (an ALB in another account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// Target port.
    pub port: i32,
    /// False registers targets with AvailabilityZone `all`.
    #[serde(default = "default_true")]
    pub same_vpc: bool,
}

/// Where nlb-sync learns an ALB's addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Discovery {
    /// The ALB's network interfaces (EC2 `DescribeNetworkInterfaces`): every address, exactly.
    Eni,
    /// DNS look-ups of the ALB's name: for ALBs whose account cannot be described.
    Dns,
}

impl TargetGroupConfig {
    /// The discovery in force: the configured one, else `eni` when the ALB's ARN is known.
    pub fn discovery(&self) -> Discovery {
        self.discovery.unwrap_or(if self.alb_arn.is_some() {
            Discovery::Eni
        } else {
            Discovery::Dns
        })
    }

    /// The ALB as state keys and reports name it: its DNS name, else `<name>-<id>` from its ARN.
    pub fn alb_label(&self) -> String {
        match (&self.alb_dns_name, &self.alb_arn) {
            (Some(name), _) => name.clone(),
            (None, Some(arn)) => arn
                .split_once(":loadbalancer/app/")
                .map_or(arn.as_str(), |(_, rest)| rest)
                .replace('/', "-"),
            (None, None) => String::new(),
        }
    }
}
