//! `nlb-sync`: keep each NLB target group filled with the current IP addresses of an internal
//! ALB ("static IP for ALB"), remembering per target group which addresses it registered.
//!
//! Rules: never deregister on an empty or failed DNS answer; deregister an address only after it
//! has been missing for N runs; never more than a set share of the group in one run; never a
//! target it did not register (unless told to); never twice.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};

use aws_sdk_elasticloadbalancingv2::types::{TargetDescription, TargetHealthStateEnum};
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use crate::aws::AwsClients;
use crate::config::{ConfigSource, NlbConfig, TargetGroupConfig};
use crate::dns::{self, DnsError};
use crate::error::{AwsError, InputError, InvokeError};
use crate::events::{deserialize_at, is_envelope, parse_envelope, SCHEDULED_EVENT};
use crate::state::{self, Stored, TargetGroupState, WriteOutcome};

/// CloudWatch namespace of the embedded metrics.
pub const METRICS_NAMESPACE: &str = "EcsDeployer/NlbSync";

/// A target of the group as ELB reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// IP address.
    pub ip: String,
    /// Port.
    pub port: i32,
    /// Health state (`healthy`, `initial`, `draining`, ...).
    pub state: String,
}

impl Target {
    fn draining(&self) -> bool {
        self.state == TargetHealthStateEnum::Draining.as_str()
    }
}

/// The target type of each group, in one call (20 ARNs a call).
pub async fn target_types(
    client: &aws_sdk_elasticloadbalancingv2::Client,
    arns: &[String],
) -> Result<Vec<(String, String)>, AwsError> {
    let mut types = Vec::new();
    for chunk in arns.chunks(20) {
        let output = client
            .describe_target_groups()
            .set_target_group_arns(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ELBv2", "DescribeTargetGroups", chunk.join(","), e))?;
        for group in output.target_groups() {
            if let (Some(arn), Some(kind)) = (group.target_group_arn(), group.target_type()) {
                types.push((arn.to_owned(), kind.as_str().to_owned()));
            }
        }
    }
    Ok(types)
}

/// The group's targets and their health.
pub async fn targets(client: &aws_sdk_elasticloadbalancingv2::Client, arn: &str) -> Result<Vec<Target>, AwsError> {
    let output = client
        .describe_target_health()
        .target_group_arn(arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ELBv2", "DescribeTargetHealth", arn, e))?;
    Ok(output
        .target_health_descriptions()
        .iter()
        .filter_map(|d| {
            let target = d.target()?;
            Some(Target {
                ip: target.id()?.to_owned(),
                port: target.port().unwrap_or_default(),
                state: d
                    .target_health()
                    .and_then(|h| h.state())
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
            })
        })
        .collect())
}

fn descriptions(ips: &[Ipv4Addr], port: i32, all_zones: bool) -> Vec<TargetDescription> {
    ips.iter()
        .map(|ip| {
            let description = TargetDescription::builder().id(ip.to_string()).port(port);
            let description = if all_zones {
                description.availability_zone("all")
            } else {
                description
            };
            description.build()
        })
        .collect()
}

/// Registers addresses (AvailabilityZone `all` for addresses outside the NLB's VPC).
pub async fn register(
    client: &aws_sdk_elasticloadbalancingv2::Client,
    arn: &str,
    ips: &[Ipv4Addr],
    port: i32,
    all_zones: bool,
) -> Result<(), AwsError> {
    client
        .register_targets()
        .target_group_arn(arn)
        .set_targets(Some(descriptions(ips, port, all_zones)))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ELBv2", "RegisterTargets", arn, e))?;
    Ok(())
}

/// Deregisters addresses.
pub async fn deregister(
    client: &aws_sdk_elasticloadbalancingv2::Client,
    arn: &str,
    ips: &[Ipv4Addr],
    port: i32,
    all_zones: bool,
) -> Result<(), AwsError> {
    client
        .deregister_targets()
        .target_group_arn(arn)
        .set_targets(Some(descriptions(ips, port, all_zones)))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ELBv2", "DeregisterTargets", arn, e))?;
    Ok(())
}

/// The plan for one target group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NlbPlan {
    /// Addresses to register.
    pub register: Vec<Ipv4Addr>,
    /// Addresses to deregister.
    pub deregister: Vec<Ipv4Addr>,
    /// Addresses due for deregistration but held back by the share limit.
    pub held_back: Vec<Ipv4Addr>,
    /// The state to remember after the ELB calls.
    pub state: TargetGroupState,
    /// True when `state` differs from what S3 holds.
    pub state_changed: bool,
}

/// Plans one target group (pure). `stored` is none when the state object is missing or corrupt:
/// then it is rebuilt from the group, and only targets the ALB resolves to count as its own.
pub fn plan(
    nlb: &NlbConfig,
    group: &TargetGroupConfig,
    resolved: &BTreeSet<Ipv4Addr>,
    targets: &[Target],
    stored: Option<&TargetGroupState>,
    target_type: Option<&str>,
) -> NlbPlan {
    let on_port: Vec<&Target> = targets.iter().filter(|t| t.port == group.port).collect();
    let present: BTreeSet<String> = on_port.iter().filter(|t| !t.draining()).map(|t| t.ip.clone()).collect();
    let mut state = match stored {
        Some(state) => state.clone(),
        None => {
            let mut rebuilt = TargetGroupState::new(&group.target_group_arn, &group.alb_dns_name, group.port);
            for ip in present
                .iter()
                .filter(|ip| ip.parse().is_ok_and(|ip: Ipv4Addr| resolved.contains(&ip)))
            {
                rebuilt.registered.insert(ip.clone(), 0);
            }
            rebuilt
        }
    };
    if let Some(kind) = target_type {
        state.target_type = Some(kind.to_owned());
    }
    if nlb.remove_untracked {
        for ip in &present {
            state.registered.entry(ip.clone()).or_insert(0);
        }
    }

    let resolved_text: BTreeSet<String> = resolved.iter().map(Ipv4Addr::to_string).collect();
    let register: Vec<Ipv4Addr> = resolved
        .iter()
        .filter(|ip| !present.contains(&ip.to_string()))
        .copied()
        .collect();
    for ip in &resolved_text {
        state.registered.insert(ip.clone(), 0);
        state.deregistered.remove(ip);
    }
    let mut due = Vec::new();
    let mut gone = Vec::new();
    for (ip, missing) in state.registered.iter_mut() {
        if resolved_text.contains(ip) {
            continue;
        }
        if !present.contains(ip) {
            // Already draining or removed by someone else: nothing to call, forget it.
            gone.push(ip.clone());
            continue;
        }
        *missing += 1;
        if *missing >= nlb.missing_runs_before_deregister {
            due.push((*missing, ip.clone()));
        }
    }
    for ip in gone {
        state.registered.remove(&ip);
        state.deregistered.insert(ip);
    }
    // Longest missing first; the share limit holds back the rest for a later run.
    due.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let limit = (nlb.max_deregister_share * present.len() as f64).floor() as usize;
    let mut deregister = Vec::new();
    let mut held_back = Vec::new();
    for (i, (_, ip)) in due.into_iter().enumerate() {
        let Ok(address) = ip.parse::<Ipv4Addr>() else { continue };
        if i < limit {
            state.registered.remove(&ip);
            state.deregistered.insert(ip);
            deregister.push(address);
        } else {
            held_back.push(address);
        }
    }
    let state_changed = stored != Some(&state);
    NlbPlan {
        register,
        deregister,
        held_back,
        state,
        state_changed,
    }
}

/// How one target group's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NlbOutcome {
    /// Targets or state changed.
    Synced,
    /// Nothing to change.
    Unchanged,
    /// Dry run: the listed changes would have been made.
    Planned,
    /// DNS gave no usable answer: nothing was changed.
    DnsFailed,
    /// An `alb`-type target group: AWS keeps it in step itself.
    Skipped,
    /// An AWS call failed; `reason` says which.
    Failed,
}

/// One entry of the response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NlbResult {
    /// Target group ARN.
    pub target_group: String,
    /// How it ended.
    pub outcome: NlbOutcome,
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
    /// Why nothing was done, or what failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The function's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NlbResponse {
    /// One entry per target group.
    pub results: Vec<NlbResult>,
    /// True when nothing was written.
    pub dry_run: bool,
}

/// An invocation of `nlb-sync`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NlbSyncRequest {
    /// Target groups to sync; none means all.
    pub target_groups: Option<Vec<String>>,
    /// Plan only.
    pub dry_run: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualNlbSync {
    sync: ManualTargetGroups,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualTargetGroups {
    #[serde(default)]
    target_groups: Option<Vec<String>>,
}

/// Parses an `nlb-sync` invocation: the schedule or a manual payload.
pub fn parse_request(value: &serde_json::Value) -> Result<NlbSyncRequest, InputError> {
    if is_envelope(value) {
        let envelope = parse_envelope(value)?;
        if envelope.detail_type != SCHEDULED_EVENT {
            return Err(InputError::new(
                "detail-type",
                format!(
                    "`{SCHEDULED_EVENT}` (this function runs on a schedule), got `{}`",
                    envelope.detail_type
                ),
            ));
        }
        return Ok(NlbSyncRequest {
            target_groups: None,
            dry_run: false,
        });
    }
    if !value.is_object() {
        return Err(InputError::new(
            "$",
            "a scheduled event or {\"sync\": {\"target_groups\": [\"arn:...\"]}}",
        ));
    }
    crate::events::require_objects(value, "", &["sync"])?;
    let manual: ManualNlbSync = deserialize_at(value, "")?;
    if let Some(arns) = &manual.sync.target_groups {
        for (i, arn) in arns.iter().enumerate() {
            if !arn.starts_with("arn:") || !arn.contains(":targetgroup/") {
                return Err(InputError::new(
                    format!("sync.target_groups[{i}]"),
                    "a target group ARN",
                ));
            }
        }
    }
    Ok(NlbSyncRequest {
        target_groups: manual.sync.target_groups,
        dry_run: manual.dry_run,
    })
}

/// Runs every selected target group concurrently.
pub async fn handle(
    clients: &AwsClients,
    nlb: &NlbConfig,
    request: &NlbSyncRequest,
    concurrency: usize,
) -> Result<NlbResponse, InputError> {
    let groups: Vec<&TargetGroupConfig> = match &request.target_groups {
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
    };
    let servers = dns_servers(nlb, &groups).await;
    let results = stream::iter(groups.into_iter().map(|group| {
        let servers = &servers[dns::zone_of(&group.alb_dns_name)];
        async move {
            let result = sync_group(clients, nlb, group, servers, request.dry_run).await;
            emit_metrics(&result);
            result
        }
    }))
    .buffer_unordered(concurrency.max(1))
    .collect::<Vec<_>>()
    .await;
    Ok(NlbResponse {
        results,
        dry_run: request.dry_run,
    })
}

/// The servers to ask, per ALB zone: the configured ones, or else each zone's authoritative
/// servers, looked up once per run however many groups share the zone.
async fn dns_servers<'a>(
    nlb: &NlbConfig,
    groups: &[&'a TargetGroupConfig],
) -> BTreeMap<&'a str, Result<Vec<SocketAddr>, DnsError>> {
    let configured: Vec<SocketAddr> = nlb.dns_servers.iter().filter_map(|s| s.parse().ok()).collect();
    let resolvers = if configured.is_empty() {
        dns::system_resolvers()
    } else {
        Vec::new()
    };
    let mut servers = BTreeMap::new();
    for group in groups {
        let zone = dns::zone_of(&group.alb_dns_name);
        if servers.contains_key(zone) {
            continue;
        }
        let found = if configured.is_empty() {
            dns::authoritative_servers(&resolvers, &group.alb_dns_name).await
        } else {
            Ok(configured.clone())
        };
        servers.insert(zone, found);
    }
    servers
}

async fn sync_group(
    clients: &AwsClients,
    nlb: &NlbConfig,
    group: &TargetGroupConfig,
    servers: &Result<Vec<SocketAddr>, DnsError>,
    dry_run: bool,
) -> NlbResult {
    let mut result = NlbResult {
        target_group: group.target_group_arn.clone(),
        outcome: NlbOutcome::Unchanged,
        addresses_found: 0,
        dns_queries: 0,
        registered: Vec::new(),
        deregistered: Vec::new(),
        held_back: Vec::new(),
        reason: None,
    };
    let servers = match servers {
        Ok(servers) => servers,
        Err(err) => {
            result.outcome = NlbOutcome::DnsFailed;
            result.reason = Some(format!("{err}; nothing changed"));
            return result;
        }
    };
    let (resolved, queries) = dns::resolve_all(servers, &group.alb_dns_name, nlb.lookups_per_run).await;
    result.dns_queries = queries;
    let resolved = match resolved {
        Ok(resolved) => resolved,
        Err(err) => {
            result.outcome = NlbOutcome::DnsFailed;
            result.reason = Some(format!("{err}; nothing changed"));
            return result;
        }
    };
    result.addresses_found = resolved.len();
    // Two tries: a conditional-write conflict means another run overlapped; start over from what it left.
    for _attempt in 0..2 {
        match sync_resolved(clients, nlb, group, &resolved, dry_run, &mut result).await {
            Ok(Some(WriteOutcome::Conflict)) => continue,
            Ok(_) => return result,
            Err(err) => {
                result.outcome = NlbOutcome::Failed;
                result.reason = Some(err.to_string());
                return result;
            }
        }
    }
    result.outcome = NlbOutcome::Failed;
    result.reason =
        Some("the state object kept changing under this run (overlapping runs); the next run retries".into());
    result
}

async fn sync_resolved(
    clients: &AwsClients,
    nlb: &NlbConfig,
    group: &TargetGroupConfig,
    resolved: &BTreeSet<Ipv4Addr>,
    dry_run: bool,
    result: &mut NlbResult,
) -> Result<Option<WriteOutcome>, AwsError> {
    let key = state::state_key(
        &nlb.state_prefix,
        &group.target_group_arn,
        &group.alb_dns_name,
        group.port,
    );
    let stored = state::read(&clients.s3, &nlb.state_bucket, &key).await?;
    let known = match &stored {
        Stored::Found(state, _) => Some(state),
        Stored::Missing | Stored::Corrupt(..) => None,
    };
    let target_type = match known.and_then(|s| s.target_type.clone()) {
        Some(kind) => kind,
        None => target_types(&clients.elb, std::slice::from_ref(&group.target_group_arn))
            .await?
            .into_iter()
            .next()
            .map(|(_, kind)| kind)
            .unwrap_or_default(),
    };
    if target_type == "alb" {
        result.outcome = NlbOutcome::Skipped;
        result.reason = Some("an `alb`-type target group: AWS keeps it in step with the ALB itself".into());
        return Ok(None);
    }
    let targets = targets(&clients.elb, &group.target_group_arn).await?;
    let plan = plan(nlb, group, resolved, &targets, known, Some(&target_type));
    if let Stored::Corrupt(reason, _) = &stored {
        result.reason = Some(format!("state rebuilt from the target group ({reason})"));
    }
    result.registered = plan.register.iter().map(Ipv4Addr::to_string).collect();
    result.deregistered = plan.deregister.iter().map(Ipv4Addr::to_string).collect();
    result.held_back = plan.held_back.iter().map(Ipv4Addr::to_string).collect();
    let changes = !plan.register.is_empty() || !plan.deregister.is_empty();
    if dry_run {
        result.outcome = if changes || plan.state_changed {
            NlbOutcome::Planned
        } else {
            NlbOutcome::Unchanged
        };
        return Ok(None);
    }
    let all_zones = !group.same_vpc;
    if !plan.register.is_empty() {
        register(
            &clients.elb,
            &group.target_group_arn,
            &plan.register,
            group.port,
            all_zones,
        )
        .await?;
    }
    if !plan.deregister.is_empty() {
        deregister(
            &clients.elb,
            &group.target_group_arn,
            &plan.deregister,
            group.port,
            all_zones,
        )
        .await?;
    }
    let written = if plan.state_changed {
        Some(state::write(&clients.s3, &nlb.state_bucket, &key, &plan.state, stored.etag()).await?)
    } else {
        None
    };
    result.outcome = if changes || plan.state_changed {
        NlbOutcome::Synced
    } else {
        NlbOutcome::Unchanged
    };
    Ok(written)
}

/// One CloudWatch embedded-metric-format line per target group (no PutMetricData call).
fn emit_metrics(result: &NlbResult) {
    let group = result
        .target_group
        .split(":targetgroup/")
        .nth(1)
        .unwrap_or(&result.target_group);
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    let line = serde_json::json!({
        "_aws": {
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": METRICS_NAMESPACE,
                "Dimensions": [["TargetGroup"]],
                "Metrics": [
                    {"Name": "AddressesFound", "Unit": "Count"},
                    {"Name": "Registered", "Unit": "Count"},
                    {"Name": "Deregistered", "Unit": "Count"},
                    {"Name": "DnsFailures", "Unit": "Count"},
                    {"Name": "DnsQueries", "Unit": "Count"},
                ],
            }],
        },
        "TargetGroup": group,
        "AddressesFound": result.addresses_found,
        "Registered": if result.outcome == NlbOutcome::Planned { 0 } else { result.registered.len() },
        "Deregistered": if result.outcome == NlbOutcome::Planned { 0 } else { result.deregistered.len() },
        "DnsFailures": u32::from(result.outcome == NlbOutcome::DnsFailed),
        "DnsQueries": result.dns_queries,
        "outcome": result.outcome,
    });
    println!("{line}");
}

/// One `nlb-sync` invocation as the Lambda runs it.
pub async fn invoke(
    clients: &AwsClients,
    source: &ConfigSource,
    payload: &serde_json::Value,
    concurrency: usize,
) -> Result<NlbResponse, InvokeError> {
    let request = parse_request(payload)?;
    let config = source.load(&clients.s3).await?;
    let nlb = config
        .nlb
        .as_ref()
        .ok_or_else(|| InputError::new("nlb", "an `nlb` section in the configuration (nothing to sync)"))?;
    Ok(handle(clients, nlb, &request, concurrency).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nlb(missing_runs: u32, share: f64, remove_untracked: bool) -> NlbConfig {
        serde_json::from_value(serde_json::json!({
            "state_bucket": "b", "missing_runs_before_deregister": missing_runs,
            "max_deregister_share": share, "remove_untracked": remove_untracked, "target_groups": []
        }))
        .unwrap()
    }

    fn group() -> TargetGroupConfig {
        TargetGroupConfig {
            target_group_arn: "arn:aws:elasticloadbalancing:r:1:targetgroup/nlb/1".into(),
            alb_dns_name: "internal-a.elb.amazonaws.com".into(),
            port: 443,
            same_vpc: true,
        }
    }

    fn resolved(last: &[u8]) -> BTreeSet<Ipv4Addr> {
        last.iter().map(|n| Ipv4Addr::new(10, 0, 0, *n)).collect()
    }

    fn present(last: &[u8], state: &str) -> Vec<Target> {
        last.iter()
            .map(|n| Target {
                ip: format!("10.0.0.{n}"),
                port: 443,
                state: state.into(),
            })
            .collect()
    }

    fn ours(entries: &[(u8, u32)]) -> TargetGroupState {
        let mut state = TargetGroupState::new(&group().target_group_arn, &group().alb_dns_name, 443);
        state.target_type = Some("ip".into());
        for (n, missing) in entries {
            state.registered.insert(format!("10.0.0.{n}"), *missing);
        }
        state
    }

    #[test]
    fn nothing_changed_means_no_register_and_an_unchanged_state() {
        let state = ours(&[(1, 0), (2, 0)]);
        let plan = plan(
            &nlb(3, 0.5, false),
            &group(),
            &resolved(&[1, 2]),
            &present(&[1, 2], "healthy"),
            Some(&state),
            Some("ip"),
        );
        assert!(plan.register.is_empty() && plan.deregister.is_empty());
        assert!(!plan.state_changed);
    }

    #[test]
    fn missing_addresses_count_up_and_reset_when_back() {
        let config = nlb(3, 1.0, false);
        let state = ours(&[(1, 0), (2, 1)]);
        let plan1 = plan(
            &config,
            &group(),
            &resolved(&[1]),
            &present(&[1, 2], "healthy"),
            Some(&state),
            Some("ip"),
        );
        assert_eq!(plan1.state.registered["10.0.0.2"], 2);
        assert!(plan1.deregister.is_empty());
        let plan2 = plan(
            &config,
            &group(),
            &resolved(&[1]),
            &present(&[1, 2], "healthy"),
            Some(&plan1.state),
            Some("ip"),
        );
        assert_eq!(plan2.deregister, vec![Ipv4Addr::new(10, 0, 0, 2)]);
        assert!(plan2.state.deregistered.contains("10.0.0.2"));
        let back = plan(
            &config,
            &group(),
            &resolved(&[1, 2]),
            &present(&[1, 2], "healthy"),
            Some(&plan1.state),
            Some("ip"),
        );
        assert_eq!(back.state.registered["10.0.0.2"], 0);
    }

    #[test]
    fn draining_targets_are_not_deregistered_again_but_re_registered_when_back() {
        let config = nlb(1, 1.0, false);
        let state = ours(&[(1, 0), (2, 5)]);
        let mut targets = present(&[1], "healthy");
        targets.extend(present(&[2], "draining"));
        let plan1 = plan(&config, &group(), &resolved(&[1]), &targets, Some(&state), Some("ip"));
        assert!(plan1.deregister.is_empty(), "already leaving");
        assert!(!plan1.state.registered.contains_key("10.0.0.2"));
        let plan2 = plan(
            &config,
            &group(),
            &resolved(&[1, 2]),
            &targets,
            Some(&state),
            Some("ip"),
        );
        assert_eq!(plan2.register, vec![Ipv4Addr::new(10, 0, 0, 2)]);
    }

    #[test]
    fn a_rebuilt_state_owns_only_resolved_targets() {
        let config = nlb(1, 1.0, false);
        let plan = plan(
            &config,
            &group(),
            &resolved(&[1]),
            &present(&[1, 7], "healthy"),
            None,
            Some("ip"),
        );
        assert!(plan.deregister.is_empty());
        assert_eq!(plan.state.registered.keys().collect::<Vec<_>>(), vec!["10.0.0.1"]);
        assert!(plan.state_changed);
        let told = plan_with_untracked();
        assert_eq!(told.deregister, vec![Ipv4Addr::new(10, 0, 0, 7)]);
    }

    fn plan_with_untracked() -> NlbPlan {
        plan(
            &nlb(1, 1.0, true),
            &group(),
            &resolved(&[1]),
            &present(&[1, 7], "healthy"),
            Some(&ours(&[(1, 0)])),
            Some("ip"),
        )
    }

    #[test]
    fn the_share_limit_rounds_down_and_never_empties_a_single_target_group() {
        let config = nlb(1, 0.5, false);
        let state = ours(&[(1, 0)]);
        let plan1 = plan(
            &config,
            &group(),
            &resolved(&[2]),
            &present(&[1], "healthy"),
            Some(&state),
            Some("ip"),
        );
        assert!(plan1.deregister.is_empty());
        assert_eq!(plan1.held_back, vec![Ipv4Addr::new(10, 0, 0, 1)]);
        assert_eq!(plan1.register, vec![Ipv4Addr::new(10, 0, 0, 2)]);
    }

    #[test]
    fn requests_parse_with_named_fields() {
        let scheduled: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{}/../events/scheduled.json", env!("CARGO_MANIFEST_DIR"))).unwrap(),
        )
        .unwrap();
        assert_eq!(
            parse_request(&scheduled).unwrap(),
            NlbSyncRequest {
                target_groups: None,
                dry_run: false
            }
        );
        let manual =
            parse_request(&serde_json::json!({"sync": {"target_groups": [group().target_group_arn]}, "dry_run": true}))
                .unwrap();
        assert!(manual.dry_run && manual.target_groups.unwrap().len() == 1);
        assert_eq!(
            parse_request(&serde_json::json!({"sync": {"target_groups": ["x"]}}))
                .unwrap_err()
                .field,
            "sync.target_groups[0]"
        );
        assert_eq!(
            parse_request(&serde_json::json!({"sink": {}})).unwrap_err().field,
            "sink"
        );
    }
}
