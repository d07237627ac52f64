//! The retention pass as service-sync runs it: per account and region, each application's plan
//! from what exists now, applied under the service's lease, and `Revisions Removed` published
//! (the rules themselves are [`super::retention`]'s, pure).

use super::{retention, Clients, Outcome, Reads, Report, ServiceLease};
use crate::aws::events::Entry;
use crate::aws::AwsError;
use crate::input::config::{grouped, AppConfig, Config, ServicePlace};
use crate::job::{Invocation, Settings};
use crate::notify;

/// A retention pass over `apps`: one report each, listing what is kept (and why) and what is
/// removed; applied unless a dry run, holding the service's lease (a deploy registering a
/// revision at the same moment is planned around, not raced). Removals are published as
/// `Revisions Removed`.
pub(super) async fn retention_reports(
    clients: &Clients,
    config: &Config,
    settings: &Settings,
    invocation: &Invocation,
    apps: &[&AppConfig],
    dry_run: bool,
) -> Vec<Report> {
    let mut reports = Vec::new();
    for (place, group) in grouped(apps.iter().copied(), AppConfig::service_place) {
        let at = clients.at(&place, &group[0].name, config.source_identity).await;
        let clusters = clusters_at(config, &place);
        reports.extend(retention_at(&at, &clusters, settings, invocation, &group, dry_run).await);
    }
    if let (Some(bus), false) = (&settings.event_bus, dry_run) {
        let entries: Vec<Entry> = reports
            .iter()
            .filter(|r| r.outcome == Outcome::Synced)
            .map(|r| Entry {
                detail_type: notify::REVISIONS_REMOVED.to_owned(),
                detail: serde_json::json!({ "app": r.app, "removed": r.actions, "kept": r.kept }),
            })
            .collect();
        if let Err(err) = notify::publish(&clients.events, bus, &entries).await {
            tracing::error!(bus = %bus, error = %err, events = entries.len(), "retention events not published");
        }
    }
    reports
}

/// The retention pass of applications of one account and region, whose configured clusters are
/// `clusters`.
async fn retention_at(
    clients: &Clients,
    clusters: &[&str],
    settings: &Settings,
    invocation: &Invocation,
    apps: &[&AppConfig],
    dry_run: bool,
) -> Vec<Report> {
    let reads = Reads {
        completed: true,
        concurrency: settings.concurrency,
        owned: settings.owned.as_ref(),
        records: settings.records.as_ref(),
        clusters,
    };
    // What the configured clusters and the applications' scheduled tasks run: read once for the
    // whole pass.
    let in_use = match super::observe::revisions_in_use(clients, clusters, apps, settings.concurrency).await {
        Ok(in_use) => in_use,
        Err(err) => {
            return apps
                .iter()
                .map(|app| {
                    let mut report = Report::new(
                        Some(&app.name),
                        Outcome::Failed,
                        Some(format!("{err}; nothing removed")),
                    );
                    report.pass = Some("retention");
                    report
                })
                .collect();
        }
    };
    let mut reports = Vec::new();
    for app in apps {
        let mut report = Report::new(Some(&app.name), Outcome::Unchanged, None);
        report.pass = Some("retention");
        let outcome = async {
            let plan = retention_plan(clients, app, reads, &in_use)
                .await
                .map_err(|e| e.to_string())?;
            let changes = !plan.deregister.is_empty() || !plan.delete.is_empty();
            if !changes || dry_run {
                return Ok(plan);
            }
            // Something to remove: under the service's lease, planned again from what exists
            // then (a deploy may have registered or a pass removed something meanwhile).
            let Some(leases) = &settings.lease else {
                retention::apply_retention(clients, &plan)
                    .await
                    .map_err(|e| e.to_string())?;
                return Ok(plan);
            };
            let held = ServiceLease::take(clients, leases, invocation, app, "retention").await?;
            let applied = async {
                let plan = retention_plan(clients, app, reads, &in_use)
                    .await
                    .map_err(|e| e.to_string())?;
                held.confirm(clients).await?;
                retention::apply_retention(clients, &plan)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>(plan)
            }
            .await;
            held.give_back(clients, app).await;
            applied
        }
        .await;
        match outcome {
            Ok(plan) => {
                report.kept = plan.kept.clone();
                report.actions = plan.actions();
                if !report.actions.is_empty() {
                    report.outcome = if dry_run { Outcome::Planned } else { Outcome::Synced };
                }
            }
            Err(err) => {
                report.outcome = Outcome::Failed;
                report.reason = Some(format!("{err}; the next pass plans again from what exists"));
            }
        }
        reports.push(report);
    }
    reports
}

/// One application's retention plan from what exists now.
async fn retention_plan(
    clients: &Clients,
    app: &AppConfig,
    reads: Reads<'_>,
    in_use: &std::collections::BTreeSet<String>,
) -> Result<retention::RetentionPlan, AwsError> {
    let facts = retention::observe_retention(clients, app, reads, in_use).await?;
    Ok(retention::plan_retention(app, &facts, std::time::SystemTime::now()))
}

/// Every configured cluster of one account and region, once: a revision any of their services
/// runs is in use.
pub(super) fn clusters_at<'a>(config: &'a Config, place: &ServicePlace) -> Vec<&'a str> {
    config
        .apps
        .iter()
        .filter(|a| a.service_place() == *place)
        .map(|a| a.cluster.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}
