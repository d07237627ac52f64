//! What the deployer made for applications that are no longer configured, or no longer on that
//! API: the HTTP API routes and integrations its record holds under their names. A full sync reports them as orphans;
//! with `prune: true` in the configuration it removes them (routes first, then integrations no
//! other route uses). Nothing else is ever removed this way: what the record does not hold is
//! not the deployer's.

use std::collections::{BTreeMap, BTreeSet};

use super::{Plan, Step};
use crate::aws::apigw::Route;
use crate::ownership::ApiRecord;

/// Plans the removal of each orphan application's routes and integrations in one API (pure):
/// one plan per application the record names that `configured` (application, API) pairs do not
/// hold for this API.
pub fn plan_orphans(
    configured: &BTreeSet<(&str, &str)>,
    api_id: &str,
    record: &ApiRecord,
    routes: &[Route],
) -> BTreeMap<String, Plan> {
    let mut plans: BTreeMap<String, Plan> = BTreeMap::new();
    let existing: BTreeMap<&str, &Route> = routes.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut removed_routes = BTreeSet::new();
    for (id, owner) in &record.routes {
        if configured.contains(&(owner.app.as_str(), api_id)) {
            continue;
        }
        let key = existing
            .get(id.as_str())
            .map(|r| r.key.clone())
            .or_else(|| owner.key.clone())
            .unwrap_or_default();
        removed_routes.insert(id.as_str());
        plans.entry(owner.app.clone()).or_default().push(
            Step::DeleteRoute {
                api_id: api_id.to_owned(),
                route_id: id.clone(),
            },
            format!("- route {key} ({id}) of API {api_id}"),
        );
    }
    for (id, owner) in &record.integrations {
        if configured.contains(&(owner.app.as_str(), api_id)) {
            continue;
        }
        // An integration a remaining route still targets (someone pointed theirs at it) stays.
        let target = format!("integrations/{id}");
        let used = routes
            .iter()
            .any(|r| r.target.as_deref() == Some(target.as_str()) && !removed_routes.contains(r.id.as_str()));
        let plan = plans.entry(owner.app.clone()).or_default();
        if used {
            plan.drift.push(format!(
                "integration {id} of API {api_id} is still the target of a route the deployer did not make: kept"
            ));
            continue;
        }
        plan.push(
            Step::DeleteIntegration {
                api_id: api_id.to_owned(),
                id: id.clone(),
            },
            format!("- integration {id} of API {api_id}"),
        );
    }
    plans
}
