//! The routes of an application's integration: one per configured method, corrected in place;
//! duplicates and routes no longer configured are deleted, but only those that target the
//! application's own integration.

use std::collections::BTreeSet;

use super::{IntegrationRef, Plan, Step};
use crate::aws::apigw::{Route, RouteSettings};
use crate::input::config::{ApiConfig, AppConfig};

/// Adds the route steps of one application to `plan`.
pub(crate) fn plan_routes(
    app: &AppConfig,
    api: &ApiConfig,
    integration: &IntegrationRef,
    routes: &[Route],
    plan: &mut Plan,
) {
    let target = match integration {
        IntegrationRef::Existing(id) => format!("integrations/{id}"),
        IntegrationRef::Created => String::new(),
    };
    let integration_label = match integration {
        IntegrationRef::Existing(id) => format!("integration {id}"),
        IntegrationRef::Created => "the new integration".to_string(),
    };
    let settings = RouteSettings {
        target: target.clone(),
        authorizer_id: api.authorizer_id.clone(),
    };
    let auth_label = match &api.authorizer_id {
        Some(id) => format!("JWT {id}"),
        None => "no authorization".into(),
    };
    let ours =
        |r: &Route| matches!(integration, IntegrationRef::Existing(_)) && r.target.as_deref() == Some(target.as_str());
    let wanted: BTreeSet<String> = api.methods.iter().map(|m| format!("{m} {}", api.path)).collect();
    for key in &wanted {
        let same_key: Vec<&Route> = routes.iter().filter(|r| &r.key == key).collect();
        // Prefer a route that is already ours; AWS allows one route per key, the emulator more.
        let keep = same_key.iter().find(|r| ours(r)).or(same_key.first()).copied();
        match keep {
            None => plan.push(
                Step::CreateRoute {
                    api_id: api.api_id.clone(),
                    key: key.clone(),
                    integration: integration.clone(),
                    authorizer_id: api.authorizer_id.clone(),
                },
                format!("+ route {key} -> {integration_label} ({auth_label})"),
            ),
            Some(route) => {
                if matches!(integration, IntegrationRef::Created) || !settings.matches(route) {
                    plan.push(
                        Step::UpdateRoute {
                            api_id: api.api_id.clone(),
                            route_id: route.id.clone(),
                            integration: integration.clone(),
                            authorizer_id: api.authorizer_id.clone(),
                        },
                        format!(
                            "~ route {key}: target {} -> {integration_label}, {} {} -> {auth_label}",
                            route.target.as_deref().unwrap_or("(none)"),
                            route.authorization_type,
                            route.authorizer_id.as_deref().unwrap_or("-")
                        ),
                    );
                }
                for duplicate in same_key.iter().filter(|r| r.id != route.id && ours(r)) {
                    plan.push(
                        Step::DeleteRoute {
                            api_id: api.api_id.clone(),
                            route_id: duplicate.id.clone(),
                        },
                        format!("- route {key} (duplicate {})", duplicate.id),
                    );
                }
            }
        }
    }
    for stale in routes.iter().filter(|r| ours(r) && !wanted.contains(&r.key)) {
        plan.push(
            Step::DeleteRoute {
                api_id: api.api_id.clone(),
                route_id: stale.id.clone(),
            },
            format!("- route {} (no longer configured for {})", stale.key, app.name),
        );
    }
}
