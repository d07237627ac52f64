//! The end of a run: one summary line per application, `Sync Failed` for each failed one, and
//! the answer.

use super::{emit_metrics, Answer, Clients, Outcome, Report};
use crate::aws::events::Entry;
use crate::input::config::Config;
use crate::job::Settings;
use crate::notify;

/// Logs one summary line per application, publishes `Sync Failed` for each failed one and
/// shapes the answer.
pub(super) async fn finish(
    clients: &Clients,
    config: &Config,
    settings: &Settings,
    results: Vec<Report>,
    dry_run: bool,
) -> Answer {
    for result in &results {
        tracing::info!(
            app = result.app.as_deref().unwrap_or("-"),
            outcome = ?result.outcome,
            actions = result.actions.len(),
            drift = result.drift.len(),
            reason = result.reason.as_deref().unwrap_or("-"),
            "service-sync result"
        );
        if !dry_run {
            emit_metrics(result);
        }
    }
    if let Some(bus) = &settings.event_bus {
        publish_failures(clients, config, bus, &results).await;
    }
    Answer { results, dry_run }
}

/// One `Sync Failed` event per application whose sync failed: the report and the service's
/// console link. A failure to publish is logged; the answer already carries the failure.
async fn publish_failures(clients: &Clients, config: &Config, bus: &str, results: &[Report]) {
    let entries: Vec<Entry> = results
        .iter()
        .filter(|result| result.outcome == Outcome::Failed)
        .map(|result| {
            let app = result
                .app
                .as_deref()
                .and_then(|name| config.apps.iter().find(|a| a.name == name));
            let mut detail = serde_json::json!({ "app": result.app, "sync": result });
            if let Some(app) = app.filter(|app| !app.is_schedule_only()) {
                detail["cluster"] = app.cluster.clone().into();
                detail["service"] = app.service.clone().into();
                detail["links"] = notify::links(
                    app.region.as_deref().unwrap_or(&clients.region),
                    &app.cluster,
                    &app.service,
                );
            }
            Entry {
                detail_type: notify::SYNC_FAILED.to_owned(),
                detail,
            }
        })
        .collect();
    if let Err(err) = notify::publish(&clients.events, bus, &entries).await {
        tracing::error!(bus = %bus, error = %err, events = entries.len(), "sync events not published");
    }
}
