//! What the deployer made for applications that are no longer configured, or no longer on that
//! API: the HTTP API routes and integrations its record holds under their names. A full sync reports them as orphans;
//! with `prune: true` in the configuration it removes them (routes first, then integrations no
//! other route uses). Nothing else is ever removed this way: what the record does not hold is
//! not the deployer's.

use std::collections::{BTreeMap, BTreeSet};

use super::{apply, Clients, Outcome, Report};
use super::{Plan, Step};
use crate::aws::apigw::Route;
use crate::aws::{apigw, AwsError};
use crate::input::config::{Config, ServicePlace};
use crate::ownership::ApiRecord;
use crate::ownership::ApiRecordStore;

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

/// The orphans of a full sync: one report per application no longer configured (or no longer
/// on that API) that left routes or integrations in an API record; removed only with `prune: true` (and not in a dry
/// run). Records with nothing orphaned cost one read and no API Gateway call.
pub(super) async fn orphan_reports(
    clients: &Clients,
    config: &Config,
    store: &ApiRecordStore,
    dry_run: bool,
) -> Vec<Report> {
    let configured: BTreeSet<(&str, &str)> = config
        .apps
        .iter()
        .filter_map(|a| Some((a.name.as_str(), a.api.as_ref()?.api_id.as_str())))
        .collect();
    let failed = |err: AwsError| {
        vec![Report::new(
            None,
            Outcome::Failed,
            Some(format!("orphans not checked: {err}")),
        )]
    };
    let apis = match store.apis(&clients.s3).await {
        Ok(apis) => apis,
        Err(err) => return failed(err),
    };
    // Per orphan application: its plans, each with the place of its API.
    let mut by_app: BTreeMap<String, Vec<(ServicePlace, Plan)>> = BTreeMap::new();
    for api_id in apis {
        let record = match store.read(&clients.s3, &api_id).await {
            Ok(read) => read.record,
            Err(err) => return failed(err),
        };
        let names_orphan = |app: &str| !configured.contains(&(app, api_id.as_str()));
        if !record
            .routes
            .values()
            .chain(record.integrations.values())
            .any(|o| names_orphan(&o.app))
        {
            continue;
        }
        // The API where the applications that made it were: their account and region.
        let at = clients.at(&record.place, "orphans", config.source_identity).await;
        let routes = match apigw::get_routes(&at.apigw, &api_id).await {
            Ok(routes) => routes,
            Err(err) if err.code.as_deref() == Some("NotFoundException") => Vec::new(),
            Err(err) => return failed(err),
        };
        for (app, plan) in plan_orphans(&configured, &api_id, &record, &routes) {
            by_app.entry(app).or_default().push((record.place.clone(), plan));
        }
    }
    let mut reports = Vec::new();
    for (app, plans) in by_app {
        let mut report = Report::new(Some(&app), Outcome::Orphaned, None);
        report.actions = plans.iter().flat_map(|(_, p)| p.actions.clone()).collect();
        report.drift = plans.iter().flat_map(|(_, p)| p.drift.clone()).collect();
        if !config.prune || dry_run {
            report.reason = Some(if config.prune {
                "no longer configured: a run that is not a dry run removes these".into()
            } else {
                "no longer configured: kept; set `prune: true` in the configuration to remove them".into()
            });
            reports.push(report);
            continue;
        }
        report.outcome = Outcome::Pruned;
        for (place, plan) in &plans {
            let at = clients.at(place, "orphans", config.source_identity).await;
            if let Err(err) = apply(&at, Some(store), &app, plan).await {
                report.outcome = Outcome::Failed;
                report.reason = Some(format!("{err}; the next full sync resumes the pruning"));
                break;
            }
        }
        reports.push(report);
    }
    reports
}
