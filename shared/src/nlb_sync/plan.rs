//! How nlb-sync decides for one target group (pure): which addresses to register, which to
//! deregister now, which to hold back, and the state to remember.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use super::state::TargetGroupState;
use crate::aws::elb::Target;
use crate::input::config::{NlbConfig, TargetGroupConfig};

/// Deregistered addresses remembered before the memory is pruned even when nothing else changed.
pub const DEREGISTERED_MEMORY: usize = 64;

/// The plan for one target group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
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
/// `count_misses` is false when this run plans again after another run wrote the state under
/// it: that run already counted this round's misses, so they are not counted twice.
pub fn plan_group(
    nlb: &NlbConfig,
    group: &TargetGroupConfig,
    resolved: &BTreeSet<Ipv4Addr>,
    targets: &[Target],
    stored: Option<&TargetGroupState>,
    target_type: Option<&str>,
    count_misses: bool,
) -> Plan {
    let on_port: Vec<&Target> = targets.iter().filter(|t| t.port == group.port).collect();
    let present: BTreeSet<String> = on_port.iter().filter(|t| !t.draining()).map(|t| t.ip.clone()).collect();
    let mut state = match stored {
        Some(state) => state.clone(),
        None => {
            let mut rebuilt = TargetGroupState::new(&group.target_group_arn, &group.alb_label(), group.port);
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
        if count_misses {
            *missing += 1;
        }
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
    // Only addresses the group still lists (draining) are worth remembering as deregistered:
    // the rest would pile up for ever as the ALB's addresses come and go. They are dropped when
    // the state is written anyway, or once the memory passes a bound: never a write of its own
    // every run.
    let listed: BTreeSet<&str> = on_port.iter().map(|t| t.ip.as_str()).collect();
    let just_deregistered: BTreeSet<String> = deregister.iter().map(Ipv4Addr::to_string).collect();
    if stored != Some(&state) || state.deregistered.len() > DEREGISTERED_MEMORY {
        state
            .deregistered
            .retain(|ip| listed.contains(ip.as_str()) || just_deregistered.contains(ip));
    }
    let state_changed = stored != Some(&state);
    Plan {
        register,
        deregister,
        held_back,
        state,
        state_changed,
    }
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
            alb_dns_name: Some("internal-a.elb.amazonaws.com".into()),
            alb_arn: None,
            discovery: None,
            role_arn: None,
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
        let mut state = TargetGroupState::new(&group().target_group_arn, &group().alb_label(), 443);
        state.target_type = Some("ip".into());
        for (n, missing) in entries {
            state.registered.insert(format!("10.0.0.{n}"), *missing);
        }
        state
    }

    #[test]
    fn nothing_changed_means_no_register_and_an_unchanged_state() {
        let state = ours(&[(1, 0), (2, 0)]);
        let plan = plan_group(
            &nlb(3, 0.5, false),
            &group(),
            &resolved(&[1, 2]),
            &present(&[1, 2], "healthy"),
            Some(&state),
            Some("ip"),
            true,
        );
        assert!(plan.register.is_empty() && plan.deregister.is_empty());
        assert!(!plan.state_changed);
    }

    #[test]
    fn missing_addresses_count_up_and_reset_when_back() {
        let config = nlb(3, 1.0, false);
        let state = ours(&[(1, 0), (2, 1)]);
        let plan1 = plan_group(
            &config,
            &group(),
            &resolved(&[1]),
            &present(&[1, 2], "healthy"),
            Some(&state),
            Some("ip"),
            true,
        );
        assert_eq!(plan1.state.registered["10.0.0.2"], 2);
        assert!(plan1.deregister.is_empty());
        let plan2 = plan_group(
            &config,
            &group(),
            &resolved(&[1]),
            &present(&[1, 2], "healthy"),
            Some(&plan1.state),
            Some("ip"),
            true,
        );
        assert_eq!(plan2.deregister, vec![Ipv4Addr::new(10, 0, 0, 2)]);
        assert!(plan2.state.deregistered.contains("10.0.0.2"));
        let back = plan_group(
            &config,
            &group(),
            &resolved(&[1, 2]),
            &present(&[1, 2], "healthy"),
            Some(&plan1.state),
            Some("ip"),
            true,
        );
        assert_eq!(back.state.registered["10.0.0.2"], 0);
    }

    #[test]
    fn draining_targets_are_not_deregistered_again_but_re_registered_when_back() {
        let config = nlb(1, 1.0, false);
        let state = ours(&[(1, 0), (2, 5)]);
        let mut targets = present(&[1], "healthy");
        targets.extend(present(&[2], "draining"));
        let plan1 = plan_group(
            &config,
            &group(),
            &resolved(&[1]),
            &targets,
            Some(&state),
            Some("ip"),
            true,
        );
        assert!(plan1.deregister.is_empty(), "already leaving");
        assert!(!plan1.state.registered.contains_key("10.0.0.2"));
        let plan2 = plan_group(
            &config,
            &group(),
            &resolved(&[1, 2]),
            &targets,
            Some(&state),
            Some("ip"),
            true,
        );
        assert_eq!(plan2.register, vec![Ipv4Addr::new(10, 0, 0, 2)]);
    }

    #[test]
    fn a_rebuilt_state_owns_only_resolved_targets() {
        let config = nlb(1, 1.0, false);
        let plan = plan_group(
            &config,
            &group(),
            &resolved(&[1]),
            &present(&[1, 7], "healthy"),
            None,
            Some("ip"),
            true,
        );
        assert!(plan.deregister.is_empty());
        assert_eq!(plan.state.registered.keys().collect::<Vec<_>>(), vec!["10.0.0.1"]);
        assert!(plan.state_changed);
        let told = plan_with_untracked();
        assert_eq!(told.deregister, vec![Ipv4Addr::new(10, 0, 0, 7)]);
    }

    fn plan_with_untracked() -> Plan {
        plan_group(
            &nlb(1, 1.0, true),
            &group(),
            &resolved(&[1]),
            &present(&[1, 7], "healthy"),
            Some(&ours(&[(1, 0)])),
            Some("ip"),
            true,
        )
    }

    #[test]
    fn the_share_limit_rounds_down_and_never_empties_a_single_target_group() {
        let config = nlb(1, 0.5, false);
        let state = ours(&[(1, 0)]);
        let plan1 = plan_group(
            &config,
            &group(),
            &resolved(&[2]),
            &present(&[1], "healthy"),
            Some(&state),
            Some("ip"),
            true,
        );
        assert!(plan1.deregister.is_empty());
        assert_eq!(plan1.held_back, vec![Ipv4Addr::new(10, 0, 0, 1)]);
        assert_eq!(plan1.register, vec![Ipv4Addr::new(10, 0, 0, 2)]);
    }

    #[test]
    fn a_replan_after_a_conflict_does_not_count_a_miss_twice() {
        let config = nlb(2, 1.0, false);
        let state = ours(&[(1, 0), (2, 1)]);
        let targets = present(&[1, 2], "healthy");
        // The other run already counted this round's miss of .2 (1 -> 2 would deregister it).
        let again = plan_group(
            &config,
            &group(),
            &resolved(&[1]),
            &targets,
            Some(&state),
            Some("ip"),
            false,
        );
        assert!(again.deregister.is_empty(), "{again:?}");
        assert_eq!(again.state.registered.get("10.0.0.2"), Some(&1));
        let counted = plan_group(
            &config,
            &group(),
            &resolved(&[1]),
            &targets,
            Some(&state),
            Some("ip"),
            true,
        );
        assert_eq!(counted.deregister, vec![Ipv4Addr::new(10, 0, 0, 2)]);
    }

    #[test]
    fn the_deregistered_memory_keeps_only_what_the_group_still_lists() {
        let config = nlb(1, 1.0, false);
        let mut state = ours(&[(1, 0)]);
        state.deregistered = (2..=100).map(|n| format!("10.0.0.{n}")).collect();
        let mut targets = present(&[1], "healthy");
        targets.extend(present(&[7], "draining"));
        let plan = plan_group(
            &config,
            &group(),
            &resolved(&[1]),
            &targets,
            Some(&state),
            Some("ip"),
            true,
        );
        assert_eq!(plan.state.deregistered, ["10.0.0.7".to_string()].into_iter().collect());
        assert!(plan.state_changed);
        // Under the bound and nothing else changing: no write just to prune.
        state.deregistered = (2..=10).map(|n| format!("10.0.0.{n}")).collect();
        let quiet = plan_group(
            &config,
            &group(),
            &resolved(&[1]),
            &targets,
            Some(&state),
            Some("ip"),
            true,
        );
        assert!(!quiet.state_changed, "{quiet:?}");
    }
}
