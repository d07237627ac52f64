//! `schedules`: the scheduled tasks that run an application's family and follow its deploys,
//! as EventBridge rules (`"nightly"`, `"rule/<bus>/<name>"`) or EventBridge Scheduler
//! schedules (`"schedule/<group>/<name>"`).

use super::AppConfig;
pub use crate::aws::schedules::ScheduleRef;
use crate::input::quoted;

/// What a `schedules` entry may be, for messages.
pub const EXPECTED: &str = "expected a rule name, \"rule/<bus>/<name>\" or \"schedule/<group>/<name>\" (names of 1-64 letters, digits, `.`, `-` or `_`)";

/// A rule, bus, schedule or group name: 1-64 of `[A-Za-z0-9._-]` (what EventBridge and
/// EventBridge Scheduler accept for each).
fn is_schedule_name(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// Reads one `schedules` entry; the error says what was expected.
pub fn parse(entry: &str) -> Result<ScheduleRef, String> {
    let parts: Vec<&str> = entry.split('/').collect();
    let parsed = match parts.as_slice() {
        [name] => ScheduleRef::Rule {
            bus: "default".into(),
            name: (*name).to_owned(),
        },
        ["rule", bus, name] => ScheduleRef::Rule {
            bus: (*bus).to_owned(),
            name: (*name).to_owned(),
        },
        ["schedule", group, name] => ScheduleRef::Schedule {
            group: (*group).to_owned(),
            name: (*name).to_owned(),
        },
        _ => return Err(format!("{EXPECTED}, got {}", quoted(entry))),
    };
    let (outer, name) = parsed.parts();
    match is_schedule_name(outer) && is_schedule_name(name) {
        true => Ok(parsed),
        false => Err(format!("{EXPECTED}, got {}", quoted(entry))),
    }
}

/// A task definition family: 1-255 letters, digits, `-` or `_` (what ECS accepts).
fn is_family(s: &str) -> bool {
    (1..=255).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// What is wrong with how `app` names its service or, without one, its `family` (field,
/// message): an application is a service, or only scheduled tasks (`family` and `schedules`),
/// and the latter has no rollout, so nothing that needs one.
pub(super) fn service_or_family_problems(app: &AppConfig) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    if !app.is_schedule_only() {
        if app.family.is_some() {
            problems.push((
                "family",
                "expected only without `service`: an application with a service deploys the family its service runs"
                    .into(),
            ));
        }
        return problems;
    }
    match app.family.as_deref() {
        None => problems.push((
            "service",
            "expected the ECS service's name or ARN (or, for an application that is only scheduled tasks, `family` and `schedules` instead)".into(),
        )),
        Some(family) if !is_family(family) => problems.push((
            "family",
            format!("expected a task definition family (1-255 letters, digits, `-` or `_`), got {}", quoted(family)),
        )),
        Some(_) => {}
    }
    if app.schedules.is_empty() {
        problems.push((
            "schedules",
            "expected at least one scheduled task: an application without a service is its schedules".into(),
        ));
    }
    let without = [
        ("express", app.express),
        ("before_deploy", app.before_deploy.is_some()),
        ("cloud_map", app.cloud_map.is_some()),
        ("api", app.api.is_some()),
        ("circuit_breaker", app.circuit_breaker),
    ];
    for (field, given) in without {
        if given {
            problems.push((
                field,
                "expected none without a service: an application that is only scheduled tasks has no rollout, no service to gate, register or reach".into(),
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_as_rules_and_schedules() {
        let rule = |bus: &str, name: &str| ScheduleRef::Rule {
            bus: bus.into(),
            name: name.into(),
        };
        assert_eq!(parse("nightly"), Ok(rule("default", "nightly")));
        assert_eq!(parse("rule/orders/nightly"), Ok(rule("orders", "nightly")));
        assert_eq!(
            parse("schedule/default/report.daily"),
            Ok(ScheduleRef::Schedule {
                group: "default".into(),
                name: "report.daily".into()
            })
        );
        assert_eq!(parse("nightly").unwrap().to_string(), "rule/default/nightly");
        assert_eq!(
            parse("nightly").unwrap().arn("aws", "eu-west-1", "111122223333"),
            "arn:aws:events:eu-west-1:111122223333:rule/nightly"
        );
        assert_eq!(
            parse("rule/orders/nightly")
                .unwrap()
                .arn("aws", "eu-west-1", "111122223333"),
            "arn:aws:events:eu-west-1:111122223333:rule/orders/nightly"
        );
    }

    #[test]
    fn malformed_entries_say_what_was_expected() {
        for bad in [
            "",
            "rule/nightly",
            "schedule/g",
            "task/a/b",
            "rule//x",
            "night ly",
            "rule/a/b/c",
            &"x".repeat(65),
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.starts_with("expected a rule name"), "{bad}: {err}");
        }
    }
}

#[cfg(test)]
mod in_documents {
    use super::super::tests::paths;
    use super::super::*;

    #[test]
    fn schedules_are_rules_or_scheduler_schedules_and_one_app_claims_each() {
        let two = |first: &str, second: &str| {
            format!(
                r#"{{"apps": [
                {{"name": "a", "cluster": "c", "service": "a", "container": "app", "repository": "orders", "tags": ["latest"], "schedules": {first}}},
                {{"name": "b", "cluster": "c", "service": "b", "container": "app", "repository": "orders", "tags": ["latest"], "schedules": {second}}}]}}"#
            )
        };
        let config = Config::parse(&two(r#"["nightly", "schedule/reports/daily"]"#, "[]"), "test").unwrap();
        assert_eq!(
            config.apps[0].schedule_refs(),
            [
                ScheduleRef::Rule {
                    bus: "default".into(),
                    name: "nightly".into()
                },
                ScheduleRef::Schedule {
                    group: "reports".into(),
                    name: "daily".into()
                }
            ]
        );
        let err = Config::parse(&two(r#"["rule/x", "ok"]"#, r#"["schedule/g/n y"]"#), "test").unwrap_err();
        assert_eq!(paths(err), ["apps[0].schedules[0]", "apps[1].schedules[0]"]);
        // `nightly` is the default bus's rule, however it is written.
        let err = Config::parse(&two(r#"["nightly"]"#, r#"["rule/default/nightly"]"#), "test").unwrap_err();
        assert_eq!(err.problems.len(), 1, "{err:?}");
        assert_eq!(err.problems[0].path, "apps[1].schedules[0]");
        assert!(err.problems[0].message.contains("claimed twice"), "{err:?}");
    }
}

#[cfg(test)]
mod without_a_service {
    use super::super::tests::paths;
    use super::super::*;

    fn one(fields: &str) -> String {
        format!(
            r#"{{"apps": [{{"name": "report", "cluster": "c", "container": "app", "repository": "orders", "tags": ["latest"]{fields}}}]}}"#
        )
    }

    #[test]
    fn an_application_of_scheduled_tasks_names_a_family_and_schedules_and_nothing_that_needs_a_service() {
        let config = Config::parse(&one(r#", "family": "report", "schedules": ["nightly"]"#), "test").unwrap();
        assert!(config.apps[0].is_schedule_only());
        assert_eq!(config.apps[0].service_label(), "c/report (scheduled tasks)");
        let err = Config::parse(&one(""), "test").unwrap_err();
        assert_eq!(paths(err), ["apps[0].service", "apps[0].schedules"]);
        let err = Config::parse(&one(r#", "service": "s", "family": "report""#), "test").unwrap_err();
        assert_eq!(paths(err), ["apps[0].family"]);
        let err = Config::parse(&one(r#", "family": "re port", "schedules": ["nightly"]"#), "test").unwrap_err();
        assert_eq!(paths(err), ["apps[0].family"]);
        let needs_service = r#", "family": "report", "schedules": ["nightly"], "circuit_breaker": true, "before_deploy": {"command": ["migrate"]}"#;
        let err = Config::parse(&one(needs_service), "test").unwrap_err();
        assert_eq!(paths(err), ["apps[0].before_deploy", "apps[0].circuit_breaker"]);
    }

    #[test]
    fn one_family_of_scheduled_tasks_is_one_applications_and_none_is_promoted_from() {
        let two = r#"{"apps": [
            {"name": "a", "cluster": "c", "family": "report", "container": "app", "repository": "orders", "tags": ["latest"], "schedules": ["one"]},
            {"name": "b", "cluster": "c", "family": "report", "container": "app", "repository": "orders", "tags": ["latest"], "schedules": ["two"]},
            {"name": "p", "cluster": "c", "service": "p", "container": "app", "repository": "orders", "promote_from": "a"}]}"#;
        let err = Config::parse(two, "test").unwrap_err();
        assert_eq!(paths(err.clone()), ["apps[2].promote_from", "apps[1].family"]);
        assert!(err.problems[0].message.contains("only scheduled tasks"), "{err:?}");
        assert!(err.problems[1].message.contains("claimed twice"), "{err:?}");
    }
}
