//! One nlb-sync run for one target group: the ALB's addresses are found (its network interfaces,
//! or DNS), the group's targets and the state object are read, the plan is made, ELB is called,
//! and the state is written back with a conditional write.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};

use super::interfaces::AlbAddresses;
use super::state::{self, Stored, WriteOutcome};
use super::{plan_group, Clients, Outcome, Report};
use crate::aws::dns::{self, DnsError};
use crate::aws::{elb, AwsError};
use crate::input::config::{Discovery, NlbConfig, TargetGroupConfig};

/// The servers to ask, per ALB zone: the configured ones, or else each zone's authoritative
/// servers, looked up once per run however many groups share the zone. Only `dns` groups ask.
pub(crate) async fn dns_servers(
    nlb: &NlbConfig,
    groups: &[&TargetGroupConfig],
) -> BTreeMap<String, Result<Vec<SocketAddr>, DnsError>> {
    let configured: Vec<SocketAddr> = nlb.dns_servers.iter().filter_map(|s| s.parse().ok()).collect();
    let resolvers = if configured.is_empty() {
        dns::system_resolvers()
    } else {
        Vec::new()
    };
    let mut servers = BTreeMap::new();
    for group in groups.iter().filter(|g| g.discovery() == Discovery::Dns) {
        let Some(name) = &group.alb_dns_name else { continue };
        let zone = dns::zone_of(name).to_owned();
        if servers.contains_key(&zone) {
            continue;
        }
        let found = if configured.is_empty() {
            dns::authoritative_servers(&resolvers, name, 53).await
        } else {
            Ok(configured.clone())
        };
        servers.insert(zone, found);
    }
    servers
}

/// Where a group's look-ups start among the servers, and when no look-up may start any more.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DnsTurn {
    /// Index of the server asked first (round the list).
    pub first_server: usize,
    /// The run's DNS deadline.
    pub deadline: tokio::time::Instant,
}

/// What discovery found for a group: its ALB's addresses, or why there are none to trust.
#[derive(Debug, Clone)]
pub(crate) enum Found {
    /// The addresses.
    Addresses(BTreeSet<Ipv4Addr>),
    /// Nothing usable: the outcome to report (nothing is changed) and why.
    Nothing(Outcome, String),
}

/// A `dns` group's look-ups: the union of the answers, never a partial set.
pub(crate) async fn resolve_dns(
    nlb: &NlbConfig,
    group: &TargetGroupConfig,
    servers: Option<&Result<Vec<SocketAddr>, DnsError>>,
    turn: DnsTurn,
    result: &mut Report,
) -> Found {
    let (Some(name), Some(servers)) = (&group.alb_dns_name, servers) else {
        return Found::Nothing(Outcome::DnsFailed, "no ALB DNS name to look up".into());
    };
    let servers = match servers {
        Ok(servers) => servers,
        Err(err) => return Found::Nothing(Outcome::DnsFailed, format!("{err}; nothing changed")),
    };
    let (resolved, queries) =
        dns::resolve_all(servers, name, nlb.lookups_per_run, turn.first_server, turn.deadline).await;
    result.dns_queries = queries;
    match resolved {
        Ok(addresses) => Found::Addresses(addresses),
        Err(err @ DnsError::OutOfTime { .. }) => Found::Nothing(
            Outcome::Skipped,
            format!("{err}; nothing changed (runs take the groups in a turning order, so a later run starts with it)"),
        ),
        Err(err) => Found::Nothing(Outcome::DnsFailed, format!("{err}; nothing changed")),
    }
}

/// An `eni` group's addresses, from the look-up made once for every group of its ALB: an error
/// or no trusted address is never a reason to deregister. Skipped interfaces go in the report
/// and the log.
pub(crate) fn from_interfaces(answer: &Result<AlbAddresses, String>, report: &mut Report) -> Found {
    let found = match answer {
        Ok(found) => found,
        Err(err) => return Found::Nothing(Outcome::DiscoveryFailed, format!("{err}; nothing changed")),
    };
    if !found.untrusted.is_empty() {
        tracing::warn!(
            target_group = %report.target_group,
            untrusted = ?found.untrusted,
            "network interfaces described as the ALB's were not made by ELB for it: skipped"
        );
        report.untrusted_interfaces = found.untrusted.clone();
    }
    if found.addresses.is_empty() {
        let skipped = match found.untrusted.len() {
            0 => String::new(),
            n => format!(" ELB made for it ({n} others skipped)"),
        };
        return Found::Nothing(
            Outcome::DiscoveryFailed,
            format!("the ALB's network interfaces{skipped} list no address; nothing changed"),
        );
    }
    Found::Addresses(found.addresses.clone())
}

/// One target group, once its ALB's addresses are found: read, plan, apply (unless a dry run),
/// remember.
pub(crate) async fn sync_group(
    clients: &Clients,
    nlb: &NlbConfig,
    group: &TargetGroupConfig,
    found: Found,
    dry_run: bool,
    mut result: Report,
) -> Report {
    let resolved = match found {
        Found::Addresses(addresses) => addresses,
        Found::Nothing(outcome, reason) => {
            result.outcome = outcome;
            result.reason = Some(reason);
            return result;
        }
    };
    result.addresses_found = resolved.len();
    // Two tries: a conditional-write conflict means another run overlapped; start over from what
    // it left, without counting this round's misses again (it counted them).
    for attempt in 0..2 {
        match sync_resolved(clients, nlb, group, &resolved, dry_run, attempt == 0, &mut result).await {
            Ok(Some(WriteOutcome::Conflict)) => continue,
            Ok(_) => return result,
            Err(err) => {
                result.outcome = Outcome::Failed;
                result.reason = Some(err.to_string());
                return result;
            }
        }
    }
    result.outcome = Outcome::Failed;
    result.reason =
        Some("the state object kept changing under this run (overlapping runs); the next run retries".into());
    result
}

async fn sync_resolved(
    clients: &Clients,
    nlb: &NlbConfig,
    group: &TargetGroupConfig,
    resolved: &BTreeSet<Ipv4Addr>,
    dry_run: bool,
    count_misses: bool,
    result: &mut Report,
) -> Result<Option<WriteOutcome>, AwsError> {
    let key = state::state_key(
        &nlb.state_prefix,
        &group.target_group_arn,
        &group.alb_label(),
        group.port,
    );
    let stored = state::read(&clients.s3, &nlb.state_bucket, &key).await?;
    let known = match &stored {
        Stored::Found(state, _) => Some(state),
        Stored::Missing | Stored::Corrupt(..) => None,
    };
    let target_type = match known.and_then(|s| s.target_type.clone()) {
        Some(kind) => kind,
        None => elb::target_types(&clients.elb, std::slice::from_ref(&group.target_group_arn))
            .await?
            .into_iter()
            .next()
            .map(|(_, kind)| kind)
            .unwrap_or_default(),
    };
    if target_type == "alb" {
        result.outcome = Outcome::Skipped;
        result.reason = Some("an `alb`-type target group: AWS keeps it in step with the ALB itself".into());
        return Ok(None);
    }
    let targets = elb::targets(&clients.elb, &group.target_group_arn).await?;
    let plan = plan_group(nlb, group, resolved, &targets, known, Some(&target_type), count_misses);
    if let Stored::Corrupt(reason, _) = &stored {
        result.reason = Some(format!("state rebuilt from the target group ({reason})"));
    }
    // A second attempt adds to what the first one did (its ELB calls happened).
    result.registered.extend(plan.register.iter().map(Ipv4Addr::to_string));
    result
        .deregistered
        .extend(plan.deregister.iter().map(Ipv4Addr::to_string));
    result.held_back = plan.held_back.iter().map(Ipv4Addr::to_string).collect();
    let changes = !plan.register.is_empty() || !plan.deregister.is_empty();
    if dry_run {
        result.outcome = if changes || plan.state_changed {
            Outcome::Planned
        } else {
            Outcome::Unchanged
        };
        return Ok(None);
    }
    let all_zones = !group.same_vpc;
    if !plan.register.is_empty() {
        elb::register(
            &clients.elb,
            &group.target_group_arn,
            &plan.register,
            group.port,
            all_zones,
        )
        .await?;
    }
    if !plan.deregister.is_empty() {
        elb::deregister(
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
        Outcome::Synced
    } else {
        Outcome::Unchanged
    };
    Ok(written)
}
