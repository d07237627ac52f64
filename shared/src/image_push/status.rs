//! `{"status": {"app": "orders"}}`: per application, what runs now, any deploy in progress, the
//! recent deploys with their outcomes and durations, and drift (the service runs a revision no
//! recorded deploy brought, or a followed tag names a digest that does not run). Reads only.

use std::time::SystemTime;

use futures::stream::{self, StreamExt};
use serde::Serialize;

use super::promote::{read_pending, PendingPromotion};
use super::reconcile::{followed_tag_digests, reconciles, tag_drift};
use super::{Answer, Clients, Outcome, Report};
use crate::aws::ecr::ImageRef;
use crate::aws::ecs::{self, ServiceState};
use crate::aws::AwsError;
use crate::input::config::{AppConfig, Base, Config};
use crate::input::InputError;
use crate::job::Settings;
use crate::records::dora::{dora, Dora};
use crate::records::{parse_time, DeployIndex, DeployOutcome, DeployRecord, TriggerKind};

/// Recent deploys shown per application.
pub const RECENT_SHOWN: usize = 10;

/// One application's status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppStatus {
    /// The revision the service runs.
    pub running_task_definition: String,
    /// The followed container's image in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_image: Option<String>,
    /// Its digest, when pinned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_digest: Option<String>,
    /// The tag the deploy that brought it followed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_tag: Option<String>,
    /// Since when it runs: when the deploy that brought it completed (or started, while it
    /// rolls out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_since: Option<String>,
    /// How it got there: `push of latest`, `promotion from staging`, `manual deploy`, `rollback`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_via: Option<String>,
    /// One line: `sha256:ab12cd34ef56… completed 2 h ago (push of latest)`, `sha256:ab12cd34ef56…
    /// promoted from staging 1 h ago`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// A promotion waiting for approval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_promotion: Option<PendingPromotion>,
    /// The deploy in progress.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_progress: Option<RecentDeploy>,
    /// The newest deploys, newest first.
    pub recent: Vec<RecentDeploy>,
    /// The revision a rollback without `revision` returns to (the last completed deploy's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_good: Option<String>,
    /// Set when the service runs something the deployer did not deploy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift: Option<String>,
    /// Set when a followed tag names a digest the service does not run: a lost push the settle
    /// run will deploy, or a digest whose deploy failed or was rolled back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_drift: Option<String>,
    /// Set when deploys are not recorded (no state bucket).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records: Option<String>,
    /// Set when a revision registered outside the deployer (Terraform's) is newer than the
    /// template the running revision was built from: the next deploy takes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_change: Option<String>,
    /// Set while ECS waits at a pause hook of the deploy in progress (where, until when, and
    /// the payloads that answer it), or while its gate task runs (which, until when, its logs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused: Option<String>,
    /// The application's release group in one line (see [`super::group::group_line`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The DORA figures over the deploys the index keeps (none without records).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dora: Option<Dora>,
}

/// A deploy as `status` shows it: its record and how long it took (or has taken so far).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecentDeploy {
    /// The record.
    #[serde(flatten)]
    pub record: DeployRecord,
    /// Seconds from start to end, or to now while in progress.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<u64>,
}

/// Answers a `status` payload for one application or all.
pub async fn status(
    clients: &Clients,
    config: &Config,
    app: Option<&str>,
    settings: &Settings,
) -> Result<Answer, InputError> {
    let apps: Vec<&AppConfig> = match app {
        Some(name) => vec![config.find_app(name, "status.app")?],
        None => config.apps.iter().collect(),
    };
    let concurrency = settings.concurrency.max(1);
    let services = super::describe_app_services(clients, &apps, concurrency).await;
    let now = SystemTime::now();
    let groups = super::group::groups_of(apps.iter().copied());
    let mut results: Vec<Report> = stream::iter(apps.into_iter().zip(services).map(|(app, service)| async move {
        match app_status(clients, settings, app, service, now).await {
            Ok(status) => Report {
                reason: None,
                new_task_definition: Some(status.running_task_definition.clone()),
                image: status.running_image.clone(),
                status: Some(Box::new(status)),
                ..Report::skipped(app, Outcome::Status, "")
            },
            Err(reason) => Report::skipped(app, Outcome::Failed, reason),
        }
    }))
    .buffered(concurrency)
    .collect()
    .await;
    if let Some(store) = &settings.records {
        add_group_lines(clients, config, store, &groups, &mut results).await;
    }
    Ok(Answer {
        results,
        dry_run: false,
    })
}

/// Puts each group's one line on its members' status (one index read per member; a member
/// whose index cannot be read is left out of the line).
async fn add_group_lines(
    clients: &Clients,
    config: &Config,
    store: &crate::records::RecordStore,
    groups: &[&str],
    results: &mut [Report],
) {
    for group in groups {
        let mut read = Vec::new();
        for member in super::group::members(config, group) {
            if let Ok(index) = store.read(&clients.s3, &member.name).await {
                read.push((member.name.as_str(), index));
            }
        }
        let members: Vec<(&str, &DeployIndex)> = read.iter().map(|(name, index)| (*name, index)).collect();
        let line = super::group::group_line(group, &members);
        for report in results.iter_mut() {
            let member = report.app.as_deref().and_then(|name| config.app(name));
            if let (Some(status), true) = (
                report.status.as_mut(),
                member.is_some_and(|m| m.group.as_deref() == Some(*group)),
            ) {
                status.group = Some(line.clone());
            }
        }
    }
}

async fn app_status(
    clients: &Clients,
    settings: &Settings,
    app: &AppConfig,
    service: Result<Option<ServiceState>, AwsError>,
    now: SystemTime,
) -> Result<AppStatus, String> {
    let service = service
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("service `{}` not found", app.service_label()))?;
    let reach = clients.for_app(app).await;
    let revision = ecs::describe_task_definition(&reach.ecs, &service.task_definition)
        .await
        .map_err(|e| e.to_string())?;
    let template_change = match app.base {
        Base::Template => super::observe::template_change(&reach, &revision)
            .await
            .map_err(|e| e.to_string())?,
        Base::Running => None,
    };
    let running_image = revision.container_image(&app.container).map(str::to_owned);
    let (index, records_note) = match &settings.records {
        Some(store) => (
            store.read(&clients.s3, &app.name).await.map_err(|e| e.to_string())?,
            None,
        ),
        None => (
            DeployIndex::default(),
            Some("not recorded: no state bucket (DEPLOYER_STATE_BUCKET)".to_owned()),
        ),
    };
    let mut status = describe(&service, running_image, &index, records_note, now);
    status.template_change = template_change.map(|template| {
        format!(
            "{}, registered outside the deployer, is newer than the template {} was built from: the next deploy takes it (or {{\"deploy\": {{\"app\": \"{}\", \"revision\": {}}}}})",
            template.label(),
            revision.label(),
            app.name,
            template.definition.revision()
        )
    });
    if reconciles(app, &index) {
        let current = followed_tag_digests(clients, app).await.map_err(|e| e.to_string())?;
        status.tag_drift = tag_drift(&index, &current, status.running_digest.as_deref());
    }
    let asks_approval = app.promote_from.is_some() && app.promotion().approval.is_some();
    if let (true, Some(store)) = (asks_approval, &settings.records) {
        status.pending_promotion = read_pending(clients, store, &app.name)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(status)
}

/// How a deploy got its revision there, for a person.
fn via(record: &DeployRecord) -> String {
    match record.trigger.kind {
        TriggerKind::Push => match &record.tag {
            Some(tag) => format!("push of {tag}"),
            None => "push".into(),
        },
        TriggerKind::Manual => "manual deploy".into(),
        TriggerKind::Override => "manual deploy around the promotion gate".into(),
        TriggerKind::Rollback => "rollback".into(),
        TriggerKind::Promotion => record.trigger.by.clone().unwrap_or_else(|| "promotion".into()),
        TriggerKind::Template => "template change".into(),
    }
}

/// `45 s ago`, `12 min ago`, `2 h ago`, `3 d ago`.
fn ago(seconds: u64) -> String {
    match seconds {
        0..=119 => format!("{seconds} s ago"),
        120..=7199 => format!("{} min ago", seconds / 60),
        7200..=172_799 => format!("{} h ago", seconds / 3600),
        _ => format!("{} d ago", seconds / 86_400),
    }
}

/// The status of one application from what ECS and its records say (pure).
pub fn describe(
    service: &ServiceState,
    running_image: Option<String>,
    index: &DeployIndex,
    records_note: Option<String>,
    now: SystemTime,
) -> AppStatus {
    let running = &service.task_definition;
    let recent = |record: &DeployRecord| RecentDeploy {
        record: record.clone(),
        duration_seconds: record.duration_seconds(now),
    };
    let brought_running = index.records.iter().find(|r| {
        r.new_task_definition.as_deref() == Some(running.as_str())
            && matches!(
                r.outcome,
                DeployOutcome::Completed | DeployOutcome::InProgress | DeployOutcome::TimedOut
            )
    });
    let drift = match (brought_running, index.records.is_empty()) {
        (_, true) => None,
        (Some(_), false) => None,
        (None, false) => Some(format!(
            "the service runs {running}, which no recorded deploy brought (changed outside the deployer, or rolled back by ECS)"
        )),
    };
    let running_digest = running_image.as_deref().and_then(|image| ImageRef::parse(image).digest);
    let since = brought_running.map(|r| r.ended_at.clone().unwrap_or_else(|| r.started_at.clone()));
    let summary = brought_running.map(|r| {
        let digest = running_digest.as_deref().or(r.digest.as_deref()).unwrap_or(running);
        let short: String = digest.chars().take(19).collect();
        let age = since
            .as_deref()
            .and_then(parse_time)
            .map(|at| ago(now.duration_since(at).unwrap_or_default().as_secs()))
            .unwrap_or_default();
        let how = via(r);
        match (r.outcome, r.trigger.kind) {
            (DeployOutcome::Completed, TriggerKind::Promotion) => {
                format!("{short}… {} {age}", how.replacen("promotion", "promoted", 1))
            }
            (DeployOutcome::Completed, _) => format!("{short}… completed {age} ({how})"),
            (outcome, _) => format!("{short}… {} since {age} ({how})", outcome.as_str()),
        }
    });
    AppStatus {
        running_task_definition: running.clone(),
        running_digest,
        running_image,
        running_tag: brought_running.and_then(|r| r.tag.clone()),
        running_since: since,
        running_via: brought_running.map(via),
        summary,
        pending_promotion: None,
        in_progress: index.in_progress().map(recent),
        recent: index.records.iter().take(RECENT_SHOWN).map(recent).collect(),
        last_good: index
            .last_good_except(running)
            .and_then(|r| r.new_task_definition.clone()),
        drift,
        tag_drift: None,
        paused: index
            .in_progress()
            .and_then(|r| paused_line(r).or_else(|| gate_line(r))),
        group: None,
        dora: records_note.is_none().then(|| dora(&index.records, now)),
        records: records_note,
        template_change: None,
    }
}

/// One line for a deploy ECS holds at a pause hook: `push-… paused at POST_TEST_TRAFFIC_SHIFT
/// (hook approve, ECS rolls back at 2027-01-01T00:00:00Z unless answered): send {"continue": ...}
/// or {"abort": ...}`.
fn paused_line(record: &DeployRecord) -> Option<String> {
    let native = record.native.as_ref().filter(|n| !n.awaiting.is_empty())?;
    let hooks: Vec<String> = native
        .awaiting
        .iter()
        .map(|h| match (&h.timeout_action, &h.expires_at) {
            (Some(action), Some(at)) => format!("hook {}, ECS does {action} at {at} unless answered", h.hook_id),
            _ => format!("hook {}", h.hook_id),
        })
        .collect();
    Some(format!(
        "{} paused at {} ({}): send {{\"continue\": {{\"app\": \"{app}\"}}}} or {{\"abort\": {{\"app\": \"{app}\"}}}}",
        record.id,
        native.lifecycle_stage,
        hooks.join("; "),
        app = record.app
    ))
}

/// One line for a deploy whose gate task runs: `push-… waits for its gate task 0f6f… (until
/// 2027-01-01T00:30:00Z; logs: https://…): the service is updated when it exits 0`.
fn gate_line(record: &DeployRecord) -> Option<String> {
    let gate = record.gate.as_ref().filter(|_| record.gate_pending())?;
    Some(format!(
        "{} waits for its gate task {} (until {}{}): the service is updated when it exits 0",
        record.id,
        crate::aws::arn::short_name(&gate.task_arn),
        gate.deadline,
        gate.logs.as_deref().map(|l| format!("; logs: {l}")).unwrap_or_default()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{format_time, Trigger};
    use crate::testing::{deploy_record, digest, service};

    fn completed(kind: TriggerKind, by: Option<&str>, ended: SystemTime) -> DeployRecord {
        DeployRecord {
            trigger: Trigger {
                kind,
                id: "e".into(),
                by: by.map(str::to_owned),
            },
            tag: Some("latest".into()),
            new_task_definition: Some("arn:aws:ecs:r:1:task-definition/orders:2".into()),
            ..deploy_record("d-1", DeployOutcome::Completed, &digest(7), &format_time(ended))
        }
    }

    #[test]
    fn the_summary_says_which_digest_runs_since_when_and_how() {
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(2_000_000_000);
        let two_hours_ago = now - std::time::Duration::from_secs(2 * 3600 + 60);
        let running = service("arn:aws:ecs:r:1:task-definition/orders:2");
        let image = Some(format!("1.dkr.ecr.r.amazonaws.com/orders@{}", digest(7)));
        let short: String = digest(7).chars().take(19).collect();
        let pushed = DeployIndex {
            records: vec![completed(TriggerKind::Push, Some("aws.ecr"), two_hours_ago)],
        };
        let status = describe(&running, image.clone(), &pushed, None, now);
        assert_eq!(
            status.summary,
            Some(format!("{short}… completed 2 h ago (push of latest)"))
        );
        assert_eq!(status.running_since, Some(format_time(two_hours_ago)));
        let promoted = DeployIndex {
            records: vec![completed(
                TriggerKind::Promotion,
                Some("promotion from staging"),
                now - std::time::Duration::from_secs(90),
            )],
        };
        let status = describe(&running, image, &promoted, None, now);
        assert_eq!(status.summary, Some(format!("{short}… promoted from staging 90 s ago")));
        assert_eq!(status.running_via.as_deref(), Some("promotion from staging"));
        assert_eq!(status.paused, None);
    }

    #[test]
    fn a_deploy_held_at_a_pause_hook_says_where_and_how_to_answer() {
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(2_000_000_000);
        let mut deploying = deploy_record("d-2", DeployOutcome::InProgress, &digest(8), &format_time(now));
        deploying.native = Some(crate::records::NativeProgress {
            service_deployment_arn: "arn:aws:ecs:r:1:service-deployment/sss/orders/x".into(),
            status: "IN_PROGRESS".into(),
            lifecycle_stage: "POST_TEST_TRAFFIC_SHIFT".into(),
            awaiting: vec![crate::records::PausedHook {
                hook_id: "approve".into(),
                expires_at: Some("2027-01-01T00:00:00Z".into()),
                timeout_action: Some("ROLLBACK".into()),
            }],
            since: format_time(now),
            live_at: None,
        });
        let index = DeployIndex {
            records: vec![deploying],
        };
        let status = describe(&service("orders:1"), None, &index, None, now);
        let paused = status.paused.expect("paused");
        assert!(paused.starts_with("d-2 paused at POST_TEST_TRAFFIC_SHIFT (hook approve, ECS does ROLLBACK at 2027-01-01T00:00:00Z unless answered)"), "{paused}");
        assert!(paused.contains(r#"{"continue": {"app": "orders"}}"#), "{paused}");
    }

    #[test]
    fn a_deploy_waiting_for_its_gate_task_says_which_until_when_and_its_logs() {
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(2_000_000_000);
        let mut gated = deploy_record("d-3", DeployOutcome::InProgress, &digest(9), &format_time(now));
        gated.gate = Some(crate::records::GateProgress {
            task_arn: "arn:aws:ecs:r:1:task/sss/0f6f9b4a".into(),
            container: "app".into(),
            started_at: format_time(now),
            deadline: "2033-05-18T04:03:20Z".into(),
            exit_code: None,
            passed: false,
            logs: Some("https://console/logs".into()),
        });
        let mut index = DeployIndex { records: vec![gated] };
        let line = describe(&service("orders:1"), None, &index, None, now)
            .paused
            .expect("a line");
        assert_eq!(
            line,
            "d-3 waits for its gate task 0f6f9b4a (until 2033-05-18T04:03:20Z; logs: https://console/logs): the service is updated when it exits 0"
        );
        // Once passed, ECS rolls it out: no gate line.
        index.records[0].gate.as_mut().unwrap().passed = true;
        assert_eq!(describe(&service("orders:1"), None, &index, None, now).paused, None);
    }
}
