//! What image-push keeps and tells of each deploy: the deploy record (see [`crate::records`]),
//! an EventBridge event at each transition (see [`crate::notify`]), and one metric line.

use std::time::SystemTime;

use super::{Clients, Goal, Outcome, Report};
use crate::aws::ecr::ImageRef;
use crate::aws::events::Entry;
use crate::input::config::AppConfig;
use crate::input::events::DeployTarget;
use crate::job::Settings;
use crate::notify;
use crate::records::{
    deploy_id, format_time, Change, DeployIndex, DeployOutcome, DeployRecord, Milestone, RecordStore, Trigger,
    VersionedIndex,
};

/// CloudWatch namespace of the deploy metrics.
pub const METRICS_NAMESPACE: &str = "EcsDeployer/Deploys";

/// What the record of one attempt needs besides the report.
#[derive(Debug, Clone)]
pub struct Attempt<'a> {
    /// The application.
    pub app: &'a AppConfig,
    /// What was asked.
    pub goal: &'a Goal,
    /// What started it.
    pub trigger: &'a Trigger,
    /// True when ECS rolls the service back by itself on failure.
    pub rolls_back_on_failure: bool,
    /// The deployment running the service's revision when observed.
    pub observed_deployment: Option<String>,
}

/// Records one application's attempt and publishes what changed: a started deploy, a deploy
/// the deployer could not start, or (for a retry whose first attempt updated the service but
/// could not write its record) the record that attempt left unwritten. A record that cannot be
/// written turns the report into a failure, so that Lambda's retry writes it.
///
/// `read` is the application's index as read beside the service (none: read it here). The
/// events of the changes that index predicts go out beside the writes; a change only the index
/// as written shows (another run wrote in between) is published after.
pub async fn record_attempt(
    clients: &Clients,
    settings: &Settings,
    attempt: &Attempt<'_>,
    report: &mut Report,
    read: Option<VersionedIndex>,
) {
    let Some(store) = &settings.records else {
        return;
    };
    let app = &attempt.app.name;
    let id = deploy_id(attempt.trigger, app);
    // Scheduled tasks alone have no rollout: their deploy is over once its revision is named.
    let started = match attempt.app.is_schedule_only() {
        true => DeployOutcome::Completed,
        false => DeployOutcome::InProgress,
    };
    let write = match report.outcome {
        Outcome::Deployed | Outcome::Gated => Write::Start(new_record(attempt, report, &id, started)),
        Outcome::Failed => Write::FailToStart(new_record(attempt, report, &id, DeployOutcome::Failed)),
        Outcome::Unchanged if !matches!(attempt.goal, Goal::Rollback { .. }) => {
            let mut record = new_record(attempt, report, &id, started);
            record.ecs_deployment_id = attempt.observed_deployment.clone();
            Write::Adopt(record)
        }
        _ => return,
    };
    let change = |index: &mut DeployIndex| match &write {
        Write::Start(record) => index.start(record.clone()),
        Write::FailToStart(record) => index.fail_to_start(record.clone()),
        // Only when nothing recorded the running revision: a replay of an event whose deploy
        // was recorded, or a push of a digest another deploy brought, adds nothing.
        Write::Adopt(record) => {
            let known = index.get(&record.id).is_some()
                || index
                    .records
                    .iter()
                    .any(|r| r.new_task_definition == record.new_task_definition);
            if known {
                Vec::new()
            } else {
                index.start(record.clone())
            }
        }
    };
    match update_publishing(clients, settings, store, app, read, change).await {
        Ok(changes) => {
            if changes.iter().any(|c| c.record.id == id) {
                report.deploy_id = Some(id);
            }
        }
        Err(err) if matches!(report.outcome, Outcome::Deployed | Outcome::Gated) => {
            // Put off, not failed, when S3 may take it later: the retry adopts the deploy.
            report.outcome = super::apply::outcome_of(&err);
            report.reason = Some(format!(
                "the service now runs {}, but its deploy record was not written ({err}); a retry writes it",
                report.new_task_definition.as_deref().unwrap_or("the new revision")
            ));
        }
        Err(err) => {
            tracing::warn!(app = %app, error = %err, "deploy record not written");
        }
    }
}

/// Changes `app`'s index with `change` from `read` (none: read it here) and publishes the
/// changes: those the index as read predicts beside the writes, a change only the index as
/// written shows (another run wrote in between) after them. Returns what changed.
pub async fn update_publishing(
    clients: &Clients,
    settings: &Settings,
    store: &RecordStore,
    app: &str,
    read: Option<VersionedIndex>,
    change: impl Fn(&mut DeployIndex) -> Vec<Change>,
) -> Result<Vec<Change>, crate::aws::AwsError> {
    let predicted = read
        .as_ref()
        .map(|read| read.index.clone().apply(&change))
        .unwrap_or_default();
    let (written, ()) = tokio::join!(
        store.update_from(&clients.s3, app, read, &change),
        publish_changes(clients, settings, &predicted)
    );
    let changes = written?;
    let unpublished: Vec<Change> = changes.iter().filter(|c| !predicted.contains(c)).cloned().collect();
    publish_changes(clients, settings, &unpublished).await;
    Ok(changes)
}

/// What one attempt writes to its application's index.
enum Write {
    /// ECS accepted the new revision.
    Start(DeployRecord),
    /// The deployer could not start the deploy.
    FailToStart(DeployRecord),
    /// The service already runs the target: record it only if an earlier attempt of this
    /// trigger updated the service but could not write its record.
    Adopt(DeployRecord),
}

fn new_record(attempt: &Attempt<'_>, report: &Report, id: &str, outcome: DeployOutcome) -> DeployRecord {
    let now = format_time(SystemTime::now());
    let tag = match attempt.goal {
        Goal::Push { tag, .. } | Goal::Manual(DeployTarget::Tag(tag)) => Some(tag.clone()),
        _ => None,
    };
    let ended = outcome.is_end().then(|| now.clone());
    DeployRecord {
        id: id.to_owned(),
        app: attempt.app.name.clone(),
        cluster: attempt.app.cluster.clone(),
        service: attempt.app.service.clone(),
        account: attempt.app.account().map(str::to_owned),
        region: attempt.app.region.clone(),
        trigger: attempt.trigger.clone(),
        tag,
        digest: report.image.as_deref().and_then(|image| ImageRef::parse(image).digest),
        image: report.image.clone(),
        old_task_definition: report.old_task_definition.clone(),
        new_task_definition: report.new_task_definition.clone(),
        ecs_deployment_id: report.ecs_deployment_id.clone(),
        rolls_back_on_failure: attempt.rolls_back_on_failure,
        started_at: now,
        ended_at: ended,
        outcome,
        reason: report.reason.clone(),
        template: report.template.clone(),
        notes: Vec::new(),
        native: None,
        gate: report.gate.as_deref().cloned(),
        images: report.images.clone(),
    }
}

/// The event a record's change is published as; none for a change nobody needs to hear of
/// (a superseded deploy: the deploy that superseded it is published).
pub fn detail_type(change: &Change) -> Option<&'static str> {
    match change.milestone {
        Some(Milestone::Live) => return Some(notify::DEPLOY_LIVE),
        Some(Milestone::Paused) => return Some(notify::DEPLOY_PAUSED),
        None => {}
    }
    // A note added to a deploy that kept its outcome is not a transition.
    if change.from == Some(change.record.outcome) {
        return None;
    }
    Some(match change.record.outcome {
        DeployOutcome::InProgress => notify::DEPLOY_STARTED,
        DeployOutcome::Completed => notify::DEPLOY_SUCCEEDED,
        DeployOutcome::Failed => notify::DEPLOY_FAILED,
        DeployOutcome::RolledBack => notify::DEPLOY_ROLLED_BACK,
        DeployOutcome::TimedOut => notify::DEPLOY_TIMED_OUT,
        DeployOutcome::Superseded => return None,
    })
}

/// Publishes record changes on the configured bus (one event each) and writes one metric line
/// per deploy that ended. A bus that refuses is logged, not failed: the record holds the truth,
/// and `status` shows it.
pub async fn publish_changes(clients: &Clients, settings: &Settings, changes: &[Change]) {
    let now = SystemTime::now();
    for change in changes
        .iter()
        .filter(|c| c.record.outcome.is_end() && c.from != Some(c.record.outcome))
    {
        emit_metrics(&change.record, now);
    }
    let Some(bus) = &settings.event_bus else {
        return;
    };
    let entries: Vec<Entry> = changes
        .iter()
        .filter_map(|change| {
            let detail_type = detail_type(change)?;
            let record = &change.record;
            let mut detail = serde_json::json!({
                "app": record.app,
                "outcome": record.outcome,
                "previous_outcome": change.from,
                "duration_seconds": record.duration_seconds(now),
                "deploy": record,
                "links": notify::links(
                    record.region.as_deref().unwrap_or(&clients.region),
                    &record.cluster,
                    &record.service
                ),
            });
            if let (Some(milestone), Some(native)) = (change.milestone, &record.native) {
                detail["milestone"] = serde_json::json!(milestone);
                detail["lifecycle_stage"] = serde_json::json!(native.lifecycle_stage);
                if milestone == Milestone::Paused {
                    // What ECS waits for, and the payloads that answer it.
                    detail["hooks"] = serde_json::json!(native.awaiting);
                    detail["continue"] = serde_json::json!({"continue": {"app": record.app}, "by": "<who>"});
                    detail["abort"] = serde_json::json!({"abort": {"app": record.app}, "by": "<who>"});
                }
            }
            Some(Entry {
                detail_type: detail_type.to_owned(),
                detail,
            })
        })
        .collect();
    if let Err(err) = notify::publish(&clients.events, bus, &entries).await {
        tracing::error!(bus = %bus, error = %err, events = entries.len(), "deploy events not published");
    }
}

/// One CloudWatch embedded-metric-format line for a deploy that ended: `Deploys` (count, by
/// outcome) and `DeployDuration` (seconds).
fn emit_metrics(record: &DeployRecord, now: SystemTime) {
    crate::telemetry::emit_metrics(
        METRICS_NAMESPACE,
        &[&["Outcome"], &["App", "Outcome"]],
        &[("Deploys", "Count"), ("DeployDuration", "Seconds")],
        serde_json::json!({
            "App": record.app,
            "Outcome": record.outcome,
            "Deploys": 1,
            "DeployDuration": record.duration_seconds(now).unwrap_or_default(),
            "deploy_id": record.id,
        }),
    );
}

/// One embedded-metric line of an application's DORA figures (`DeploysPerDay`,
/// `ChangeFailureRate`, `LeadTime`, `TimeToRestore`, by `App`): the settle run writes one per
/// application, so each figure is a time series a dashboard or an alarm can use. A figure with
/// no value yet (no completed deploy, no failure) is left out.
pub fn emit_dora(app: &str, figures: &crate::records::dora::Dora) {
    println!("{}", dora_metrics_line(app, figures));
}

/// The line [`emit_dora`] writes.
pub fn dora_metrics_line(app: &str, figures: &crate::records::dora::Dora) -> serde_json::Value {
    let mut fields = serde_json::json!({"App": app, "DoraWindowDays": figures.window_days});
    let mut metrics = vec![("DeploysPerDay", "Count")];
    fields["DeploysPerDay"] = serde_json::json!(figures.deploys_per_day);
    for (name, unit, value) in [
        (
            "ChangeFailureRate",
            "None",
            figures.change_failure_rate.map(|v| serde_json::json!(v)),
        ),
        (
            "LeadTime",
            "Seconds",
            figures.lead_time_seconds.map(|v| serde_json::json!(v)),
        ),
        (
            "TimeToRestore",
            "Seconds",
            figures.time_to_restore_seconds.map(|v| serde_json::json!(v)),
        ),
    ] {
        if let Some(value) = value {
            metrics.push((name, unit));
            fields[name] = value;
        }
    }
    crate::telemetry::metrics_line(METRICS_NAMESPACE, &[&["App"]], &metrics, fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dora_line_carries_the_figures_that_have_a_value() {
        let figures = crate::records::dora::Dora {
            window_days: 3.0,
            deploys: 5,
            deploys_per_day: 1.0,
            lead_time_seconds: Some(1200),
            change_failure_rate: Some(0.4),
            time_to_restore_seconds: None,
        };
        let line = dora_metrics_line("orders", &figures);
        let names: Vec<&str> = line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["DeploysPerDay", "ChangeFailureRate", "LeadTime"]);
        assert_eq!(
            (line["App"].as_str(), line["ChangeFailureRate"].as_f64()),
            (Some("orders"), Some(0.4))
        );
        assert!(line.get("TimeToRestore").is_none(), "{line}");
    }
}
