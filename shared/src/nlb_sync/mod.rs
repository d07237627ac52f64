//! `nlb-sync`: keep each NLB target group filled with the current IP addresses of an internal
//! ALB ("static IP for ALB"), remembering per target group which addresses it registered.
//!
//! Rules: never deregister on an empty or failed DNS answer; deregister an address only after it
//! has been missing for N runs; never more than a set share of the group in one run; never a
//! target it did not register (unless told to); never twice. [`run`](mod@run) observes (DNS, the group,
//! its [`state`](mod@state)) and applies; [`plan`](mod@plan) decides (pure).

pub mod interfaces;
pub mod plan;
pub mod run;
pub mod state;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use futures::stream::{self, StreamExt};
use serde::Serialize;

use crate::aws::events::Entry;
use crate::aws::{self, dns};
use crate::input::config::{Config, Discovery, NlbConfig, TargetGroupConfig};
use crate::input::events::{parse_nlb_sync, NlbSyncRequest};
use crate::input::InputError;
use crate::job::{self, Invocation, Job, Settings};
use crate::notify;

pub use plan::{plan_group, Plan};

/// The function's name.
pub const NAME: &str = "nlb-sync";

/// The source identity of the roles nlb-sync assumes, with `source_identity` set.
pub const SOURCE_IDENTITY: &str = "ecs-deployer.nlb-sync";

/// CloudWatch namespace of the embedded metrics.
pub const METRICS_NAMESPACE: &str = "EcsDeployer/NlbSync";

/// The function's answer.
pub type Answer = job::Answer<Report>;

/// The AWS clients nlb-sync uses.
#[derive(Debug, Clone)]
pub struct Clients {
    /// Elastic Load Balancing: target groups and their targets.
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    /// EC2: the ALBs' network interfaces (`eni` discovery) in the function's own account.
    pub ec2: crate::aws::ec2::Ec2Client,
    /// EC2 and ELB clients through assumed roles (`role_arn`) or in the region of an ALB of
    /// another region, one set per [`interfaces::ReachKey`], made on first use and kept for the
    /// cold start: the role's credentials are cached and refreshed, not asked for on every call.
    pub assumed: Arc<aws::ClientCache<interfaces::ReachKey, interfaces::AlbClients>>,
    /// The configuration the assumed-role clients are built from.
    pub sdk_config: SdkConfig,
    /// S3: the configuration and the per-group state.
    pub s3: aws_sdk_s3::Client,
    /// EventBridge: `Targets Changed` events.
    pub events: aws_sdk_eventbridge::Client,
}

/// The `nlb-sync` function.
pub struct NlbSync;

impl Job for NlbSync {
    const NAME: &'static str = NAME;
    type Clients = Clients;
    type Request = NlbSyncRequest;
    type Report = Report;
    const FAILURE: &'static str = "TargetsFailed";

    fn failure(report: &Report) -> Option<String> {
        matches!(
            report.outcome,
            Outcome::Failed | Outcome::DnsFailed | Outcome::DiscoveryFailed
        )
        .then(|| job::failure_text(Some(&report.target_group), report.reason.as_deref()))
    }

    fn clients(config: &SdkConfig) -> Clients {
        Clients {
            elb: aws_sdk_elasticloadbalancingv2::Client::new(config),
            ec2: crate::aws::ec2::Ec2Client::new(config),
            assumed: Arc::default(),
            sdk_config: config.clone(),
            s3: aws::s3::client(config),
            events: aws_sdk_eventbridge::Client::new(config),
        }
    }

    fn s3(clients: &Clients) -> &aws_sdk_s3::Client {
        &clients.s3
    }

    fn parse(payload: &serde_json::Value) -> Result<NlbSyncRequest, InputError> {
        parse_nlb_sync(payload)
    }

    async fn handle(
        clients: &Clients,
        config: &Config,
        request: &NlbSyncRequest,
        settings: &Settings,
        invocation: &Invocation,
    ) -> Result<Answer, InputError> {
        handle(clients, config, request, settings, invocation).await
    }
}

/// How one target group's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Targets or state changed.
    Synced,
    /// Nothing to change.
    Unchanged,
    /// Dry run: the listed changes would have been made.
    Planned,
    /// DNS gave no usable answer: nothing was changed.
    DnsFailed,
    /// The ALB's network interfaces could not be described, or listed no address: nothing was
    /// changed.
    DiscoveryFailed,
    /// An `alb`-type target group: AWS keeps it in step itself.
    Skipped,
    /// The configuration has no `nlb` section: nothing to sync (the schedule still runs; not a
    /// failure, so no alarm fires every minute for a stack that does not use nlb-sync).
    Ignored,
    /// An AWS call failed; `reason` says which.
    Failed,
}

/// One entry of the response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Target group ARN.
    pub target_group: String,
    /// Where the ALB's addresses came from.
    pub discovery: Discovery,
    /// How it ended.
    pub outcome: Outcome,
    /// Addresses the ALB resolved to.
    pub addresses_found: usize,
    /// DNS queries made.
    pub dns_queries: u32,
    /// Addresses registered (or to register, in a dry run).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub registered: Vec<String>,
    /// Addresses deregistered (or to deregister).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deregistered: Vec<String>,
    /// Addresses due but held back by the share limit.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held_back: Vec<String>,
    /// Network interfaces described as the ALB's that ELB did not make for it (`eni-...: why`):
    /// skipped, never registered.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub untrusted_interfaces: Vec<String>,
    /// Why nothing was done, or what failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Report {
    /// The report of a run with nothing to sync, and why (no target group).
    pub fn ignored(reason: &str) -> Self {
        Report {
            outcome: Outcome::Ignored,
            reason: Some(reason.to_owned()),
            ..Report::blank(String::new(), Discovery::Dns)
        }
    }

    /// A report for `group` with nothing done yet.
    pub fn new(group: &TargetGroupConfig) -> Self {
        Report::blank(group.target_group_arn.clone(), group.discovery())
    }

    fn blank(target_group: String, discovery: Discovery) -> Self {
        Report {
            target_group,
            discovery,
            outcome: Outcome::Unchanged,
            addresses_found: 0,
            dns_queries: 0,
            registered: Vec::new(),
            deregistered: Vec::new(),
            held_back: Vec::new(),
            untrusted_interfaces: Vec::new(),
            reason: None,
        }
    }
}

/// Time one target group may need once started: its DNS lookups and ELB calls, well inside
/// the function's 45 s timeout.
pub const GROUP_DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_secs(10);

/// The target groups a request concerns: all, or the ones it names (an ARN that is not
/// configured is an input error).
pub fn select<'a>(nlb: &'a NlbConfig, request: &NlbSyncRequest) -> Result<Vec<&'a TargetGroupConfig>, InputError> {
    Ok(match &request.target_groups {
        None => nlb.target_groups.iter().collect(),
        Some(arns) => {
            let mut picked = Vec::new();
            for (i, arn) in arns.iter().enumerate() {
                picked.push(
                    nlb.target_groups
                        .iter()
                        .find(|g| &g.target_group_arn == arn)
                        .ok_or_else(|| {
                            InputError::new(
                                format!("sync.target_groups[{i}]"),
                                "a target group listed in the configuration's `nlb`",
                            )
                        })?,
                );
            }
            picked
        }
    })
}

/// Runs every selected target group concurrently.
pub async fn handle(
    clients: &Clients,
    config: &Config,
    request: &NlbSyncRequest,
    settings: &Settings,
    invocation: &Invocation,
) -> Result<Answer, InputError> {
    let Some(nlb) = config.nlb.as_ref() else {
        // Target groups named by a payload are a question the configuration cannot answer.
        if request.target_groups.is_some() {
            return Err(InputError::new(
                "nlb",
                "an `nlb` section in the configuration listing the target groups to sync",
            ));
        }
        return Ok(Answer {
            results: vec![Report::ignored(
                "the configuration has no `nlb` section: nothing to sync",
            )],
            dry_run: request.dry_run,
        });
    };
    // No `state_bucket`: the stack's state bucket, where the deploy records are.
    let with_stack_bucket;
    let nlb = match (nlb.state_bucket.is_empty(), &settings.records) {
        (false, _) => nlb,
        (true, Some(records)) => {
            with_stack_bucket = NlbConfig {
                state_bucket: records.bucket.clone(),
                ..nlb.clone()
            };
            &with_stack_bucket
        }
        (true, None) => {
            return Err(InputError::new(
                "nlb.state_bucket",
                "a bucket for the target groups' state: none is named, and the function has no state bucket (DEPLOYER_STATE_BUCKET, which the template sets)",
            ))
        }
    };
    let mut groups = select(nlb, request)?;
    let servers = run::dns_servers(nlb, &groups).await;
    // Fair turns: each run (a minute apart) starts with another group and another server, so
    // slow servers or a spent budget never leave the same groups out every time.
    let turn = (SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) / 60) as usize;
    let offset = turn % groups.len().max(1);
    groups.rotate_left(offset);
    let mut deadline = tokio::time::Instant::now() + Duration::from_secs(u64::from(nlb.dns_budget_seconds));
    if let Some(end) = invocation.deadline {
        deadline = deadline.min(tokio::time::Instant::from_std(
            end.checked_sub(GROUP_DEADLINE_MARGIN).unwrap_or(end),
        ));
    }
    let interfaces = interfaces::describe_albs(clients, &groups, settings.concurrency, config.source_identity).await;
    let results = stream::iter(groups.into_iter().enumerate().map(|(i, group)| {
        let servers = group
            .alb_dns_name
            .as_deref()
            .and_then(|name| servers.get(dns::zone_of(name)));
        let dns_turn = run::DnsTurn {
            first_server: turn + i,
            deadline,
        };
        let interfaces = &interfaces;
        async move {
            let result = match invocation.too_late_to_start(GROUP_DEADLINE_MARGIN) {
                Some(reason) => Report {
                    outcome: Outcome::Failed,
                    reason: Some(reason),
                    ..Report::new(group)
                },
                None => {
                    let mut report = Report::new(group);
                    let found = match group.discovery() {
                        Discovery::Eni => run::from_interfaces(&interfaces[&interfaces::alb_key(group)], &mut report),
                        Discovery::Dns => run::resolve_dns(nlb, group, servers, dns_turn, &mut report).await,
                    };
                    run::sync_group(clients, nlb, group, found, request.dry_run, report).await
                }
            };
            emit_metrics(&result);
            result
        }
    }))
    .buffer_unordered(settings.concurrency.max(1))
    .collect::<Vec<_>>()
    .await;
    if let Some(bus) = &settings.event_bus {
        publish_changes(&clients.events, bus, &results).await;
    }
    Ok(Answer {
        results,
        dry_run: request.dry_run,
    })
}

/// One `Targets Changed` event per target group whose targets were registered or deregistered
/// (not in a dry run). A failure to publish is logged: the targets are already right.
async fn publish_changes(events: &aws_sdk_eventbridge::Client, bus: &str, results: &[Report]) {
    let entries: Vec<Entry> = results
        .iter()
        .filter(|r| r.outcome == Outcome::Synced && !(r.registered.is_empty() && r.deregistered.is_empty()))
        .map(|result| Entry {
            detail_type: notify::TARGETS_CHANGED.to_owned(),
            detail: serde_json::json!({
                "target_group": result.target_group,
                "registered": result.registered,
                "deregistered": result.deregistered,
                "held_back": result.held_back,
                "addresses_found": result.addresses_found,
            }),
        })
        .collect();
    if let Err(err) = notify::publish(events, bus, &entries).await {
        tracing::error!(bus = %bus, error = %err, events = entries.len(), "target events not published");
    }
}

/// One CloudWatch embedded-metric-format line per target group (no PutMetricData call).
fn emit_metrics(result: &Report) {
    let group = result
        .target_group
        .split(":targetgroup/")
        .nth(1)
        .unwrap_or(&result.target_group);
    let applied = |addresses: &Vec<String>| {
        if result.outcome == Outcome::Planned {
            0
        } else {
            addresses.len()
        }
    };
    crate::telemetry::emit_metrics(
        METRICS_NAMESPACE,
        &[&["TargetGroup"]],
        &[
            ("AddressesFound", "Count"),
            ("Registered", "Count"),
            ("Deregistered", "Count"),
            ("DnsFailures", "Count"),
            ("DiscoveryFailures", "Count"),
            ("DnsQueries", "Count"),
        ],
        serde_json::json!({
            "TargetGroup": group,
            "AddressesFound": result.addresses_found,
            "Registered": applied(&result.registered),
            "Deregistered": applied(&result.deregistered),
            "DnsFailures": u32::from(result.outcome == Outcome::DnsFailed),
            "DiscoveryFailures": u32::from(result.outcome == Outcome::DiscoveryFailed),
            "DnsQueries": result.dns_queries,
            "outcome": result.outcome,
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{settle, Answer};

    fn report(outcome: Outcome, reason: &str) -> Report {
        Report {
            target_group: "arn:aws:elasticloadbalancing:r:1:targetgroup/nlb-443/1".into(),
            discovery: Discovery::Dns,
            outcome,
            addresses_found: 0,
            dns_queries: 1,
            registered: Vec::new(),
            deregistered: Vec::new(),
            held_back: Vec::new(),
            untrusted_interfaces: Vec::new(),
            reason: Some(reason.into()),
        }
    }

    #[test]
    fn a_group_that_failed_or_could_not_be_resolved_fails_the_invocation() {
        let answer = |results| Answer {
            results,
            dry_run: false,
        };
        for outcome in [Outcome::Failed, Outcome::DnsFailed, Outcome::DiscoveryFailed] {
            let Err(crate::error::InvokeError::ItemsFailed(err)) =
                settle::<NlbSync>(answer(vec![report(outcome, "no answer"), report(Outcome::Synced, "-")]))
            else {
                panic!("{outcome:?} must fail the invocation")
            };
            assert_eq!((err.error_type, err.failures.len(), err.total), ("TargetsFailed", 1, 2));
        }
        let quiet = vec![report(Outcome::Unchanged, "-"), report(Outcome::Skipped, "alb-type")];
        assert!(settle::<NlbSync>(answer(quiet)).is_ok());
    }
}
