//! `ecs-deployer config params FILE` (`make params CONFIG=FILE`): the stack parameters a
//! configuration needs, read from the configuration alone (pure), so the template's IAM scopes
//! and the configuration come from one source.

use std::collections::BTreeSet;

use crate::aws::arn::short_name;
use crate::aws::schedules::ScheduleRef;
use crate::Config;

/// One stack parameter: its name and value (a comma-separated list, or `true`/`false`).
pub type Parameter = (&'static str, String);

/// The parameters `config` needs, in the template's order; empty lists are left out (their
/// default is empty), except those the stack requires.
pub fn stack_parameters(config: &Config) -> Vec<Parameter> {
    let mut clusters = BTreeSet::new();
    let mut repositories = BTreeSet::new();
    let (mut apis, mut workload_roles, mut registries) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    let (mut rules, mut schedules) = (BTreeSet::new(), BTreeSet::new());
    for app in &config.apps {
        clusters.insert(short_name(&app.cluster).to_owned());
        repositories.extend(app.followed_repositories().into_iter().map(str::to_owned));
        apis.extend(app.api.as_ref().map(|api| api.api_id.clone()));
        workload_roles.extend(app.role_arn.iter().chain(&app.registry_role_arn).cloned());
        registries.extend(app.registry_id.clone());
        for schedule in app.schedule_refs() {
            match schedule {
                ScheduleRef::Rule { bus, name } if bus == "default" => rules.insert(name),
                ScheduleRef::Rule { bus, name } => rules.insert(format!("{bus}/{name}")),
                ScheduleRef::Schedule { group, name } => schedules.insert(format!("{group}/{name}")),
            };
        }
    }
    let target_groups: BTreeSet<String> = config
        .nlb
        .iter()
        .flat_map(|nlb| nlb.target_groups.iter().map(|tg| tg.target_group_arn.clone()))
        .collect();
    let describe_roles: BTreeSet<String> = config
        .nlb
        .iter()
        .flat_map(|nlb| nlb.target_groups.iter().filter_map(|tg| tg.role_arn.clone()))
        .collect();
    // Pushes and ECS events reach the stack's bus from the workload and registry accounts.
    let sources: BTreeSet<String> = config
        .apps
        .iter()
        .filter_map(|app| app.account().map(str::to_owned))
        .chain(registries.iter().cloned())
        .collect();
    let list = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(",");
    let flag = |on: bool| if on { "true" } else { "false" }.to_owned();
    let mut parameters = vec![
        ("EnableNlbSync", flag(!target_groups.is_empty())),
        ("EnableApiSync", flag(!apis.is_empty())),
        ("ClusterNames", list(&clusters)),
        ("WatchedRepositories", list(&repositories)),
    ];
    for (name, set) in [
        ("ApiIds", &apis),
        ("TargetGroupArns", &target_groups),
        ("WorkloadRoleArns", &workload_roles),
        ("ScheduledRules", &rules),
        ("Schedules", &schedules),
        ("SourceAccountIds", &sources),
        ("NlbDescribeRoleArns", &describe_roles),
        ("RegistryAccountIds", &registries),
    ] {
        if !set.is_empty() {
            parameters.push((name, list(set)));
        }
    }
    parameters
}

/// The parameters as `sam deploy --parameter-overrides` takes them, one per line, with what the
/// configuration cannot say.
pub fn parameters_text(source: &str, parameters: &[Parameter]) -> String {
    let mut out = format!("# Stack parameters for {source}: sam deploy --parameter-overrides $(make params CONFIG={source} | grep -v '^#')\n");
    for (name, value) in parameters {
        out.push_str(&format!("{name}={value}\n"));
    }
    out.push_str(
        "# TaskRoleArns: the task and execution role ARNs your task definitions name (not in the configuration).\n",
    );
    out.push_str("# ScheduleRoleArns: the roles your scheduled tasks' targets run with, when there are `schedules`.\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configuration_says_which_clusters_repositories_and_apis_the_stack_grants() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/api-and-cloud-map.json"
        ))
        .unwrap();
        let config = Config::parse(&text, "example").unwrap();
        let parameters = stack_parameters(&config);
        let value = |name: &str| parameters.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str());
        assert_eq!(value("ClusterNames"), Some("production"));
        assert_eq!(value("WatchedRepositories"), Some("orders,status-page"));
        assert_eq!(
            (value("EnableApiSync"), value("ApiIds")),
            (Some("true"), Some("a1b2c3d4e5"))
        );
        assert_eq!(
            (value("EnableNlbSync"), value("TargetGroupArns")),
            (Some("false"), None)
        );
    }

    #[test]
    fn other_accounts_schedules_and_target_groups_become_their_parameters() {
        let read = |name: &str| {
            let path = format!("{}/../examples/{name}", env!("CARGO_MANIFEST_DIR"));
            stack_parameters(&Config::parse(&std::fs::read_to_string(path).unwrap(), name).unwrap())
        };
        let two = read("two-accounts.json");
        assert!(
            two.contains(&("SourceAccountIds", "222233334444,555566667777".into())),
            "{two:?}"
        );
        assert!(two
            .iter()
            .any(|(n, v)| *n == "WorkloadRoleArns" && v.contains("222233334444:role/ecs-deployer-workload")));
        let scheduled = read("scheduled-tasks.json");
        assert!(
            scheduled.contains(&("ScheduledRules", "orders-bus/reindex,orders-nightly-report".into())),
            "{scheduled:?}"
        );
        assert!(
            scheduled.contains(&("Schedules", "maintenance/orders-cleanup".into())),
            "{scheduled:?}"
        );
        let nlb = read("nlb.json");
        assert!(nlb.contains(&("EnableNlbSync", "true".into())), "{nlb:?}");
        let text = parameters_text("nlb.json", &nlb);
        assert!(
            text.lines()
                .any(|l| l.starts_with("TargetGroupArns=arn:aws:elasticloadbalancing")),
            "{text}"
        );
    }
}
