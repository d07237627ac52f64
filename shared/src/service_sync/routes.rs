//! The routes of an application: one per configured method, corrected in place. A route is the
//! application's when the deployer's record says it created it for the application, or when it
//! targets one of the application's integrations; only those are changed or deleted. A route
//! with a configured key that is someone else's is a conflict: left alone, and reported.

use std::collections::BTreeSet;

use super::{IntegrationRef, Plan, Step};
use crate::aws::apigw::{Route, RouteSettings};
use crate::input::config::{ApiConfig, AppConfig};
use crate::ownership::ApiRecord;

/// Adds the route steps and conflicts of one application to `plan`; returns the routes that
/// are the application's but not yet in the record (id, key), to be recorded.
pub(crate) fn plan_routes(
    app: &AppConfig,
    api: &ApiConfig,
    integration: &IntegrationRef,
    own_integrations: &[String],
    record: &ApiRecord,
    routes: &[Route],
    plan: &mut Plan,
) -> Vec<(String, String)> {
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
    let own_targets: BTreeSet<String> = own_integrations.iter().map(|id| format!("integrations/{id}")).collect();
    let recorded = |r: &Route| record.route_owner(&r.id) == Some(app.name.as_str());
    let ours = |r: &Route| recorded(r) || r.target.as_ref().is_some_and(|t| own_targets.contains(t));
    let mut adopted = Vec::new();
    let wanted: BTreeSet<String> = api.methods.iter().map(|m| format!("{m} {}", api.path)).collect();
    for key in &wanted {
        let same_key: Vec<&Route> = routes.iter().filter(|r| &r.key == key).collect();
        let mine: Vec<&Route> = same_key.iter().copied().filter(|r| ours(r)).collect();
        // Prefer the recorded route, then one that already has the settings; AWS allows one
        // route per key, the emulator more.
        let keep = mine.iter().max_by_key(|r| (recorded(r), settings.matches(r))).copied();
        let Some(route) = keep else {
            if same_key.is_empty() {
                plan.push(
                    Step::CreateRoute {
                        api_id: api.api_id.clone(),
                        key: key.clone(),
                        integration: integration.clone(),
                        authorizer_id: api.authorizer_id.clone(),
                    },
                    format!("+ route {key} -> {integration_label} ({auth_label})"),
                );
            }
            for other in same_key {
                let whose = match record.route_owner(&other.id) {
                    Some(owner) => format!("the deployer made it for application `{owner}`"),
                    None => "the deployer did not make it (not in its record, not targeting an integration of this application)".into(),
                };
                plan.conflicts.push(format!(
                    "route {key} ({}) of API {} targets {}: {whose}; it is left alone: delete it, or take the method out of this application",
                    other.id,
                    api.api_id,
                    other.target.as_deref().unwrap_or("nothing")
                ));
            }
            continue;
        };
        if !recorded(route) {
            adopted.push((route.id.clone(), key.clone()));
        }
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
        for duplicate in mine.iter().filter(|r| r.id != route.id) {
            plan.push(
                Step::DeleteRoute {
                    api_id: api.api_id.clone(),
                    route_id: duplicate.id.clone(),
                },
                format!("- route {key} (duplicate {})", duplicate.id),
            );
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
    adopted
}
