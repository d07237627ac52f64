//! Reading a document part by part, so that one bad application does not hide the others'
//! problems: the top-level fields by hand (each named by its path), each application and the
//! `nlb` block through serde.

use super::names::is_principal_arn;
use super::rates;
use super::{
    default_inline_max, default_settle_after_minutes, AppConfig, Config, EcsRates, ImageTags, NlbConfig, Problem,
};
use crate::input::json::{deserialize_at, json_kind, key_in_path, require_objects};
use crate::input::{quoted, InputError};

/// Parses each part on its own, so that one bad application does not hide the others' problems.
/// Returns what parsed and, for each parsed application, its index in the document.
pub(super) fn parse_parts(value: &serde_json::Value, problems: &mut Vec<Problem>) -> (Config, Vec<usize>) {
    let mut config = Config {
        apps: Vec::new(),
        nlb: None,
        settle_after_minutes: default_settle_after_minutes(),
        prune: false,
        retention_on_schedule: false,
        inline_max: default_inline_max(),
        ecs_rates: EcsRates::default(),
        image_tags: ImageTags::default(),
        approvers: Vec::new(),
        approver_not_asker: true,
        source_identity: false,
        facets: Vec::new(),
    };
    let mut positions = Vec::new();
    let Some(object) = value.as_object() else {
        problems.push(Problem {
            path: "$".into(),
            message: "expected a JSON object with `apps`".into(),
        });
        return (config, positions);
    };
    for key in object.keys() {
        if ![
            // An editor's pointer to the JSON Schema (see `schema`): not the deployer's.
            "$schema",
            "apps",
            "nlb",
            "settle_after_minutes",
            "prune",
            "retention_on_schedule",
            "inline_max",
            "ecs_rates",
            "image_tags",
            "approvers",
            "approver_not_asker",
            "source_identity",
        ]
        .contains(&key.as_str())
        {
            problems.push(Problem {
                path: key_in_path(key),
                message:
                    "unknown field, expected `apps`, `nlb`, `settle_after_minutes`, `prune`, `retention_on_schedule`, `inline_max`, `ecs_rates`, `image_tags`, `approvers`, `approver_not_asker` or `source_identity`"
                        .into(),
            });
        }
    }
    for (field, flag) in [
        ("prune", &mut config.prune),
        ("retention_on_schedule", &mut config.retention_on_schedule),
        ("approver_not_asker", &mut config.approver_not_asker),
        ("source_identity", &mut config.source_identity),
    ] {
        match object.get(field) {
            None => {}
            Some(serde_json::Value::Bool(value)) => *flag = *value,
            Some(value) => problems.push(Problem {
                path: field.into(),
                message: format!("expected true or false, got {}", json_kind(value)),
            }),
        }
    }
    for (field, number, what) in [
        (
            "settle_after_minutes",
            &mut config.settle_after_minutes,
            "minutes (0-1440)",
        ),
        ("inline_max", &mut config.inline_max, "applications (1-100)"),
    ] {
        match object.get(field) {
            None => {}
            Some(value) => match value.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) => *number = n,
                None => problems.push(Problem {
                    path: field.into(),
                    message: format!("expected a whole number of {what}, got {}", json_kind(value)),
                }),
            },
        }
    }
    match object.get("approvers") {
        None => {}
        Some(serde_json::Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(arn) if is_principal_arn(arn) => config.approvers.push(arn.to_owned()),
                    _ => problems.push(Problem {
                        path: format!("approvers[{i}]"),
                        message:
                            "expected an IAM role or user ARN (arn:aws:iam::<account>:role/<name> or :user/<name>)"
                                .into(),
                    }),
                }
            }
        }
        Some(value) => problems.push(Problem {
            path: "approvers".into(),
            message: format!("expected an array of IAM role or user ARNs, got {}", json_kind(value)),
        }),
    }
    match object.get("image_tags").map(|v| (v, v.as_str())) {
        None => {}
        Some((_, Some("per-app"))) => config.image_tags = ImageTags::PerApp,
        Some((_, Some("per-image"))) => config.image_tags = ImageTags::PerImage,
        Some((value, text)) => problems.push(Problem {
            path: "image_tags".into(),
            message: format!(
                "expected \"per-app\" or \"per-image\", got {}",
                text.map_or_else(|| json_kind(value).to_owned(), quoted)
            ),
        }),
    }
    if let Some(rates) = object.get("ecs_rates") {
        config.ecs_rates = rates::parse(rates, problems);
    }
    match object.get("apps") {
        Some(serde_json::Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                match parse_part::<AppConfig>(
                    item,
                    &format!("apps[{i}]"),
                    &["cloud_map", "api", "promotion", "before_deploy"],
                ) {
                    Ok(mut app) => {
                        if let Err(message) = app.read_repository_uri() {
                            problems.push(Problem {
                                path: format!("apps[{i}].repository"),
                                message,
                            });
                        }
                        let given_container = !app.container.is_empty();
                        for (field, message) in super::containers::problems(&app, given_container) {
                            problems.push(Problem {
                                path: format!("apps[{i}].{field}"),
                                message,
                            });
                        }
                        app.read_containers();
                        config.apps.push(app);
                        positions.push(i);
                    }
                    Err(problem) => problems.push(problem),
                }
            }
        }
        Some(_) => problems.push(Problem {
            path: "apps".into(),
            message: "expected an array of applications".into(),
        }),
        None => problems.push(Problem {
            path: "apps".into(),
            message: "missing field, expected an array of applications".into(),
        }),
    }
    match object.get("nlb") {
        None | Some(serde_json::Value::Null) => {}
        Some(item) => match parse_part::<NlbConfig>(item, "nlb", &[]) {
            Ok(nlb) => config.nlb = Some(nlb),
            Err(problem) => problems.push(problem),
        },
    }
    (config, positions)
}

/// Parses one part (an application, the `nlb` block) that must be an object, whose `nested`
/// keys hold objects too, and each of whose `target_groups` is an object.
fn parse_part<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
    base: &str,
    nested: &[&str],
) -> Result<T, Problem> {
    let problem = |e: InputError| Problem {
        path: e.field,
        message: format!("expected {}", e.expected),
    };
    if !value.is_object() {
        return Err(Problem {
            path: base.to_owned(),
            message: format!("expected an object (got {})", json_kind(value)),
        });
    }
    require_objects(value, base, nested).map_err(problem)?;
    if let Some(serde_json::Value::Array(groups)) = value.get("target_groups") {
        for (i, group) in groups.iter().enumerate() {
            if !group.is_object() {
                return Err(Problem {
                    path: format!("{base}.target_groups[{i}]"),
                    message: format!("expected an object (got {})", json_kind(group)),
                });
            }
        }
    }
    deserialize_at(value, base).map_err(problem)
}
