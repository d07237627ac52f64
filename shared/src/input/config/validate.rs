//! Value checks of the configuration: names AWS constrains, ranges, and claims two applications
//! must not share. Every problem is collected with its JSON path; nothing stops at the first.

use std::collections::{HashMap, HashSet};

use super::names::{
    is_alb_arn, is_app_name, is_aws_id, is_bucket_name, is_dns_label, is_dns_name, is_name_or_arn, is_region,
    is_repository_name, is_role_arn, is_tag_pattern, reserved_prefix_of,
};
use super::{ApiConfig, CloudMapConfig, Config, Discovery, NlbConfig, Problem};
use crate::aws::arn::short_name;
use crate::input::{is_account_id, quoted};

/// Checks every value of a parsed document; `positions[i]` is the index in the document of `config.apps[i]`.
pub(super) fn validate(config: &Config, positions: &[usize], problems: &mut Vec<Problem>) {
    let mut push = |path: String, message: String| problems.push(Problem { path, message });
    if config.settle_after_minutes > 1440 {
        push(
            "settle_after_minutes".into(),
            format!("expected 0-1440 minutes, got {}", config.settle_after_minutes),
        );
    }
    if !(1..=100).contains(&config.inline_max) {
        push(
            "inline_max".into(),
            format!("expected 1-100 applications, got {}", config.inline_max),
        );
    }
    let mut names = HashSet::new();
    let mut claims = Claims::default();
    for (&i, app) in positions.iter().zip(&config.apps) {
        let at = |field: &str| format!("apps[{i}].{field}");
        if app.express {
            if !(app.service.starts_with("arn:") && app.service.contains(":service/")) {
                push(
                    at("service"),
                    "expected the Express Mode service's ARN (arn:aws:ecs:<region>:<account>:service/<cluster>/<name>)"
                        .into(),
                );
            }
            for (field, given) in [
                ("containers", !app.containers.is_empty()),
                ("before_deploy", app.before_deploy.is_some()),
                ("schedules", !app.schedules.is_empty()),
            ] {
                if given {
                    push(at(field), "expected none with `express`: an Express Mode service has one primary container and no task definition of the deployer's".into());
                }
            }
        }
        if app.group.as_deref().is_some_and(|g| !is_app_name(g)) {
            push(
                at("group"),
                "expected a group name of 1-64 letters, digits, `-`, `_` or `.`".into(),
            );
        }
        if !is_app_name(&app.name) {
            push(at("name"), "expected 1-64 letters, digits, `-`, `_` or `.`".into());
        } else if !names.insert(app.name.as_str()) {
            push(at("name"), format!("duplicate application name {}", quoted(&app.name)));
        }
        for (field, message) in super::schedules::service_or_family_problems(app) {
            push(at(field), message);
        }
        let service = (!app.is_schedule_only()).then_some(("service", &app.service));
        for (field, value) in std::iter::once(("cluster", &app.cluster)).chain(service) {
            if !is_name_or_arn(value) {
                push(
                    at(field),
                    "expected a name (letters, digits, `-`, `_`) or an ARN".into(),
                );
            }
        }
        // Services and namespaces of one name in two accounts or regions are two resources.
        let place = match (app.account(), app.region.as_deref()) {
            (None, None) => String::new(),
            (account, region) => format!(
                " in account {} region {}",
                account.unwrap_or("(own)"),
                region.unwrap_or("(own)")
            ),
        };
        match &app.family {
            Some(family) if app.is_schedule_only() => claims.claim(
                "task definition family",
                format!("`{family}` of scheduled tasks{place}"),
                at("family"),
                &app.name,
            ),
            _ => claims.claim(
                "ECS service",
                format!(
                    "`{}` of cluster `{}`{place}",
                    short_name(&app.service),
                    short_name(&app.cluster)
                ),
                at("service"),
                &app.name,
            ),
        }
        if let Some(cm) = &app.cloud_map {
            claims.claim(
                "Cloud Map service",
                format!(
                    "`{}` in namespace `{}`{place}",
                    cm.service.to_ascii_lowercase(),
                    cm.namespace.to_ascii_lowercase()
                ),
                at("cloud_map.service"),
                &app.name,
            );
        }
        if let Some(gate) = &app.before_deploy {
            for (field, message) in super::gate::problems(gate) {
                push(format!("apps[{i}].before_deploy.{field}"), message);
            }
        }
        for (n, entry) in app.schedules.iter().enumerate() {
            match super::schedules::parse(entry) {
                Err(message) => push(format!("apps[{i}].schedules[{n}]"), message),
                Ok(schedule) => claims.claim(
                    "scheduled task",
                    format!("`{schedule}`{place}"),
                    format!("apps[{i}].schedules[{n}]"),
                    &app.name,
                ),
            }
        }
        // An empty one is said by `containers::problems` (missing, or no entry follows the
        // repository).
        if app.container.len() > 255 {
            push(at("container"), "expected a container name of 1-255 characters".into());
        }
        if !is_repository_name(&app.repository) {
            push(
                at("repository"),
                "expected an ECR repository name (lowercase letters, digits, `.`, `_`, `-`, `/`)".into(),
            );
        }
        match (&app.promote_from, app.tags.is_empty()) {
            (None, true) => push(at("tags"), "expected at least one tag or pattern".into()),
            (Some(_), false) => push(
                at("tags"),
                "expected none: an application promoted from another (`promote_from`) follows no tags, pushes never deploy it".into(),
            ),
            _ => {}
        }
        if app.promotion.is_some() && app.promote_from.is_none() {
            push(at("promotion"), "expected only with `promote_from`".into());
        }
        if app.promotion.as_ref().is_some_and(|p| p.soak_minutes > 10_080) {
            push(
                at("promotion.soak_minutes"),
                "expected 0 to 10080 minutes (a week)".into(),
            );
        }
        let alarms = app.promotion.as_ref().map_or(&[][..], |p| p.alarms.as_slice());
        for (a, alarm) in alarms.iter().enumerate() {
            if alarm.is_empty() || alarm.chars().count() > 255 || alarm.chars().any(char::is_control) {
                push(
                    format!("apps[{i}].promotion.alarms[{a}]"),
                    "expected a CloudWatch alarm name (1-255 printable characters)".into(),
                );
            }
        }
        if alarms.len() > 100 {
            push(
                at("promotion.alarms"),
                "expected at most 100 alarms (one DescribeAlarms call)".into(),
            );
        }
        for (t, tag) in app.tags.iter().enumerate() {
            if !is_tag_pattern(tag) {
                push(
                    format!("apps[{i}].tags[{t}]"),
                    "expected a tag of 1-300 letters, digits, `_`, `.`, `-`, with `*` or `?` as wildcards".into(),
                );
            } else if let Some(prefix) = reserved_prefix_of(tag) {
                push(
                    format!("apps[{i}].tags[{t}]"),
                    format!(
                        "expected a tag pattern that can match a pushed tag: every tag starting with `{prefix}` is the deployer's own (it marks the images in use and is never deployed)"
                    ),
                );
            }
        }
        if app.keep_revisions == 0 {
            push(at("keep_revisions"), "expected at least 1".into());
        }
        if let Some(role) = &app.role_arn {
            if !is_role_arn(role) {
                push(
                    at("role_arn"),
                    "expected an IAM role ARN (arn:aws:iam::<account>:role/<name>)".into(),
                );
            }
        }
        if let Some(id) = &app.external_id {
            let allowed = |c: char| c.is_ascii_alphanumeric() || "+=,.@:/-_".contains(c);
            if app.role_arn.is_none() {
                push(at("external_id"), "expected only with `role_arn`".into());
            } else if !(2..=1224).contains(&id.len()) || !id.chars().all(allowed) {
                push(at("external_id"), "expected 2-1224 letters, digits or +=,.@:/-_".into());
            }
        }
        for (field, region) in [("region", &app.region), ("registry_region", &app.registry_region)] {
            if region.as_deref().is_some_and(|region| !is_region(region)) {
                push(at(field), "expected an AWS region such as `eu-west-1`".into());
            }
        }
        if let Some(account) = &app.registry_id {
            if !is_account_id(account) {
                push(at("registry_id"), "expected a 12-digit AWS account ID".into());
            }
        }
        if let Some(role) = &app.registry_role_arn {
            if !is_role_arn(role) {
                push(
                    at("registry_role_arn"),
                    "expected an IAM role ARN (arn:aws:iam::<account>:role/<name>)".into(),
                );
            }
        }
        if !(1..=1440).contains(&app.replica_wait_minutes) {
            push(at("replica_wait_minutes"), "expected 1 to 1440 minutes".into());
        }
        if app.retention_grace_days > 3650 {
            push(at("retention_grace_days"), "expected 0 to 3650 days".into());
        }
        if let Some(cloud_map) = &app.cloud_map {
            validate_cloud_map(cloud_map, &format!("apps[{i}].cloud_map"), &mut push);
            if cloud_map.record_type == "A" && app.api.is_some() {
                push(
                    format!("apps[{i}].cloud_map.record_type"),
                    "expected `SRV` with `api`: an HTTP API private integration through Cloud Map needs SRV records (the port comes from them); use SRV, or drop `api`".into(),
                );
            }
        }
        if let Some(api) = &app.api {
            validate_api(api, &format!("apps[{i}].api"), &mut push);
        }
    }
    for (&i, app) in positions.iter().zip(&config.apps) {
        let Some(api) = &app.api else { continue };
        if app.cloud_map.is_none() {
            push(
                format!("apps[{i}].api"),
                "needs `cloud_map`: the integration targets the application's Cloud Map service".into(),
            );
        }
        let mut own = HashSet::new();
        for (m, method) in api.methods.iter().enumerate().filter(|(_, method)| own.insert(*method)) {
            claims.claim(
                "route",
                format!("`{method} {}` of API {}", api.path, api.api_id),
                format!("apps[{i}].api.methods[{m}]"),
                &app.name,
            );
        }
    }
    super::promotion::validate_promotions(config, positions, &mut push);
    if let Some(nlb) = &config.nlb {
        validate_nlb(nlb, &mut push);
        for (t, tg) in nlb.target_groups.iter().enumerate() {
            let path = format!("nlb.target_groups[{t}].target_group_arn");
            claims.claim("target group", quoted(&tg.target_group_arn), path.clone(), &path);
        }
    }
    problems.extend(claims.conflicts);
}

/// What the applications claim: each resource by one entry only. A second claim is a problem
/// that names both entries and their paths.
#[derive(Default)]
struct Claims {
    /// (kind, resource) -> (path, claimant) of the first claim.
    first: HashMap<(&'static str, String), (String, String)>,
    conflicts: Vec<Problem>,
}

impl Claims {
    fn claim(&mut self, kind: &'static str, resource: String, path: String, claimant: &str) {
        match self.first.get(&(kind, resource.clone())) {
            None => {
                self.first.insert((kind, resource), (path, claimant.to_owned()));
            }
            Some((first_path, first_claimant)) => {
                let who = |path: &str, claimant: &str| {
                    if path == claimant {
                        path.to_owned()
                    } else {
                        format!("{path} (app {})", quoted(claimant))
                    }
                };
                self.conflicts.push(Problem {
                    message: format!(
                        "{kind} {resource} is claimed twice: by {} and by {}; one resource has one owner",
                        who(first_path, first_claimant),
                        who(&path, claimant)
                    ),
                    path,
                });
            }
        }
    }
}

fn validate_cloud_map(cm: &CloudMapConfig, base: &str, push: &mut impl FnMut(String, String)) {
    if !(cm.namespace.starts_with("ns-") || is_dns_name(&cm.namespace)) {
        push(
            format!("{base}.namespace"),
            format!(
                "{} is not a valid DNS name: expected labels of letters, digits and `-` separated by `.` (no `_`), or a namespace ID `ns-...`",
                quoted(&cm.namespace)
            ),
        );
    }
    if !is_dns_label(&cm.service) {
        push(
            format!("{base}.service"),
            "expected a DNS label: letters, digits and `-`, 1-63 characters".into(),
        );
    }
    if cm.record_type != "SRV" && cm.record_type != "A" {
        push(format!("{base}.record_type"), "expected `SRV` or `A`".into());
    }
    if !(0..=2_147_483_647).contains(&cm.ttl) {
        push(format!("{base}.ttl"), "expected seconds from 0 to 2147483647".into());
    }
    if cm.failure_threshold != 1 {
        push(
            format!("{base}.failure_threshold"),
            format!(
                "expected 1, got {}: Cloud Map fixes a custom health check's failure threshold at 1 whatever is sent, so another value would show as drift on every run",
                cm.failure_threshold
            ),
        );
    }
    if !(1..=65535).contains(&cm.port) {
        push(format!("{base}.port"), "expected a port from 1 to 65535".into());
    }
}

/// HTTP methods an application may route.
pub const HTTP_METHODS: [&str; 8] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "ANY"];

fn validate_api(api: &ApiConfig, base: &str, push: &mut impl FnMut(String, String)) {
    if !is_aws_id(&api.api_id) {
        push(
            format!("{base}.api_id"),
            "expected an API ID of letters and digits".into(),
        );
    }
    if !is_aws_id(&api.vpc_link_id) {
        push(
            format!("{base}.vpc_link_id"),
            "expected a VPC link ID of letters and digits".into(),
        );
    }
    match (&api.authorizer_id, api.authorization.as_deref()) {
        (Some(authorizer), None | Some("JWT")) if !is_aws_id(authorizer) => push(
            format!("{base}.authorizer_id"),
            "expected an authorizer ID of letters and digits".into(),
        ),
        (Some(_), None | Some("JWT")) | (None, Some("NONE")) => {}
        (Some(_), Some("NONE")) => push(
            format!("{base}.authorization"),
            "`NONE` opens the routes: not with an `authorizer_id`".into(),
        ),
        (None, None | Some("JWT")) => push(
            format!("{base}.authorizer_id"),
            "expected the JWT authorizer of the routes; routes open to anyone need `\"authorization\": \"NONE\"` written out".into(),
        ),
        (_, Some(other)) => push(
            format!("{base}.authorization"),
            format!("expected `NONE` (open routes) or `JWT` (with `authorizer_id`), got `{other}`"),
        ),
    }
    if api.methods.is_empty() {
        push(format!("{base}.methods"), "expected at least one method".into());
    }
    let mut seen = HashSet::new();
    for (m, method) in api.methods.iter().enumerate() {
        if !HTTP_METHODS.contains(&method.as_str()) {
            push(
                format!("{base}.methods[{m}]"),
                format!("expected one of {}", HTTP_METHODS.join(", ")),
            );
        } else if !seen.insert(method) {
            push(format!("{base}.methods[{m}]"), format!("duplicate method `{method}`"));
        }
    }
    if !api.path.starts_with('/') || api.path.contains(char::is_whitespace) {
        push(
            format!("{base}.path"),
            "expected a path starting with `/`, without spaces".into(),
        );
    }
}

fn validate_nlb(nlb: &NlbConfig, push: &mut impl FnMut(String, String)) {
    if !nlb.state_bucket.is_empty() && !is_bucket_name(&nlb.state_bucket) {
        push("nlb.state_bucket".into(), "expected an S3 bucket name".into());
    }
    if !(1..=30).contains(&nlb.dns_budget_seconds) {
        push(
            "nlb.dns_budget_seconds".into(),
            "expected 1 to 30 seconds (the function's timeout is 45 s)".into(),
        );
    }
    if nlb.lookups_per_run == 0 {
        push("nlb.lookups_per_run".into(), "expected at least 1".into());
    }
    if nlb.missing_runs_before_deregister == 0 {
        push(
            "nlb.missing_runs_before_deregister".into(),
            "expected at least 1".into(),
        );
    }
    if !(nlb.max_deregister_share > 0.0 && nlb.max_deregister_share <= 1.0) {
        push(
            "nlb.max_deregister_share".into(),
            "expected a share above 0 and at most 1".into(),
        );
    }
    for (d, server) in nlb.dns_servers.iter().enumerate() {
        if server.parse::<std::net::SocketAddr>().is_err() {
            push(
                format!("nlb.dns_servers[{d}]"),
                "expected `ip:port`, such as `10.0.0.2:53`".into(),
            );
        }
    }
    for (t, tg) in nlb.target_groups.iter().enumerate() {
        let base = format!("nlb.target_groups[{t}]");
        if !tg.target_group_arn.starts_with("arn:") || !tg.target_group_arn.contains(":targetgroup/") {
            push(format!("{base}.target_group_arn"), "expected a target group ARN".into());
        }
        if let Some(name) = &tg.alb_dns_name {
            if !is_dns_name(name) {
                push(format!("{base}.alb_dns_name"), "expected a DNS name".into());
            }
        }
        if let Some(arn) = &tg.alb_arn {
            if !is_alb_arn(arn) {
                push(
                    format!("{base}.alb_arn"),
                    "expected an application load balancer ARN (arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/app/<name>/<id>)".into(),
                );
            }
        }
        match tg.discovery() {
            Discovery::Dns if tg.alb_dns_name.is_none() => push(
                format!("{base}.alb_dns_name"),
                "expected the ALB's DNS name: `dns` discovery looks it up".into(),
            ),
            Discovery::Eni if tg.alb_arn.is_none() => push(
                format!("{base}.alb_arn"),
                "expected the ALB's ARN: `eni` discovery describes its network interfaces".into(),
            ),
            _ => {}
        }
        if let Some(role) = &tg.role_arn {
            if !is_role_arn(role) {
                push(
                    format!("{base}.role_arn"),
                    "expected an IAM role ARN (arn:aws:iam::<account>:role/<name>)".into(),
                );
            }
        }
        if !(1..=65535).contains(&tg.port) {
            push(format!("{base}.port"), "expected a port from 1 to 65535".into());
        }
    }
}
