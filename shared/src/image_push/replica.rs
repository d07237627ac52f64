//! Pushes waiting for their replica. A push to an application that pulls from a replica in
//! another region (`registry_region`) may come before the replica holds the image; the deploy
//! is then `waiting` (not a failure) and remembered in the state bucket
//! (`waiting/<app>.json`). The replica's own `ECR Replication Action` event usually deploys
//! it; the settle run tries each remembered push again and, past the app's
//! `replica_wait_minutes`, reports it failed (an invocation error: the alarm fires).

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::select::{nanos_since_epoch, time_of_nanos};
use super::{deploy_apps, Clients, Goal, Outcome, Report};
use crate::aws::s3::{put_json, read_object_limited};
use crate::aws::AwsError;
use crate::input::config::{AppConfig, Config};
use crate::job::{Invocation, Settings};
use crate::records::{format_time, parse_time, RecordStore, Trigger};

/// The largest waiting-push object read back (anything larger is not ours).
const MAX_BYTES: u64 = 4096;

/// A push remembered while its replica has not arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitingPush {
    /// The application.
    pub app: String,
    /// The pushed tag.
    pub tag: String,
    /// The pushed digest.
    pub digest: String,
    /// When the push happened (the event's time).
    pub pushed_at: String,
    /// The push event's id (the deploy's trigger when it happens).
    pub event_id: String,
}

impl WaitingPush {
    /// The deploy this push asks for.
    fn goal(&self) -> Goal {
        Goal::Push {
            tag: self.tag.clone(),
            digest: self.digest.clone(),
            happened_at: parse_time(&self.pushed_at).map(nanos_since_epoch),
        }
    }

    /// True once `bound` has passed since the push.
    fn overdue(&self, bound: Duration, now: SystemTime) -> bool {
        parse_time(&self.pushed_at).is_none_or(|at| now.duration_since(at).unwrap_or_default() > bound)
    }
}

fn waiting_key(app: &str) -> String {
    format!("waiting/{app}.json")
}

/// Remembers each `waiting` report of a push (the newest push of an app replaces an older one:
/// it supersedes it). A failed write is logged: the replica's event still deploys the push.
pub async fn remember(clients: &Clients, settings: &Settings, reports: &[Report], goal: &Goal, trigger: &Trigger) {
    let (
        Some(store),
        Goal::Push {
            tag,
            digest,
            happened_at,
        },
    ) = (&settings.records, goal)
    else {
        return;
    };
    let pushed_at = happened_at.and_then(time_of_nanos).unwrap_or_else(SystemTime::now);
    for app in reports
        .iter()
        .filter(|r| r.outcome == Outcome::Waiting)
        .filter_map(|r| r.app.as_deref())
    {
        let waiting = WaitingPush {
            app: app.to_owned(),
            tag: tag.clone(),
            digest: digest.clone(),
            pushed_at: format_time(pushed_at),
            event_id: trigger.id.clone(),
        };
        let body = serde_json::to_vec_pretty(&waiting).unwrap_or_default();
        if let Err(err) = put_json(&clients.s3, &store.bucket, &waiting_key(app), body).await {
            tracing::warn!(app, error = %err, "the waiting push could not be remembered: its replica's event deploys it");
        }
    }
}

/// The settle run's part: each remembered push is deployed again (the plan's checks make a
/// superseded or late one `stale`); one still waiting past its app's bound is `failed`. A push
/// that ended either way is forgotten.
pub async fn settle_waiting(
    clients: &Clients,
    config: &Config,
    settings: &Settings,
    invocation: &Invocation,
    now: SystemTime,
) -> Vec<Report> {
    let Some(store) = &settings.records else {
        return Vec::new();
    };
    let mut reports = Vec::new();
    for app in config.apps.iter().filter(|a| a.registry_region.is_some()) {
        let waiting = match read_waiting(clients, store, app).await {
            Ok(Some(waiting)) => waiting,
            Ok(None) => continue,
            Err(err) => {
                reports.push(Report::skipped(app, Outcome::Failed, err.to_string()));
                continue;
            }
        };
        let trigger = Trigger {
            kind: crate::records::TriggerKind::Push,
            id: waiting.event_id.clone(),
            by: Some("aws.ecr".into()),
        };
        let mut report = deploy_apps(clients, &[app], &waiting.goal(), settings, invocation, &trigger, false)
            .await
            .into_iter()
            .next()
            .unwrap_or_else(|| Report::skipped(app, Outcome::Failed, "no report"));
        let bound = Duration::from_secs(u64::from(app.replica_wait_minutes) * 60);
        let still_waiting = report.outcome == Outcome::Waiting;
        if still_waiting && waiting.overdue(bound, now) {
            report.outcome = Outcome::Failed;
            report.reason = Some(format!(
                "the replica of `{}` ({}) did not reach region {} within {} minutes of the push at {}: not deployed; push again, or deploy it by digest once replicated",
                waiting.tag,
                waiting.digest,
                app.registry_region.as_deref().unwrap_or_default(),
                app.replica_wait_minutes,
                waiting.pushed_at
            ));
        }
        if report.outcome != Outcome::Waiting {
            if let Err(err) = forget(clients, store, app).await {
                tracing::warn!(app = %app.name, error = %err, "the ended waiting push could not be forgotten: the next settle run finds it ended again");
            }
        }
        reports.push(report);
    }
    reports
}

/// The push `app` waits for, if any; an object that is not a waiting push of this app is not
/// trusted (and left for a person).
async fn read_waiting(
    clients: &Clients,
    store: &RecordStore,
    app: &AppConfig,
) -> Result<Option<WaitingPush>, AwsError> {
    let Some((bytes, _)) = read_object_limited(&clients.s3, &store.bucket, &waiting_key(&app.name), MAX_BYTES).await?
    else {
        return Ok(None);
    };
    let waiting = serde_json::from_slice::<WaitingPush>(&bytes)
        .ok()
        .filter(|w| w.app == app.name);
    if waiting.is_none() {
        tracing::warn!(app = %app.name, "waiting/{}.json is not a waiting push of this app: ignored", app.name);
    }
    Ok(waiting)
}

async fn forget(clients: &Clients, store: &RecordStore, app: &AppConfig) -> Result<(), AwsError> {
    let key = waiting_key(&app.name);
    clients
        .s3
        .delete_object()
        .bucket(&store.bucket)
        .key(&key)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("S3", "DeleteObject", format!("s3://{}/{key}", store.bucket), e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_is_overdue_only_past_its_bound() {
        let pushed = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        let waiting = WaitingPush {
            app: "orders".into(),
            tag: "latest".into(),
            digest: "sha256:ab".into(),
            pushed_at: format_time(pushed),
            event_id: "e-1".into(),
        };
        let hour = Duration::from_secs(3600);
        assert!(!waiting.overdue(hour, pushed + Duration::from_secs(59 * 60)));
        assert!(waiting.overdue(hour, pushed + Duration::from_secs(61 * 60)));
        assert_eq!(
            waiting.goal(),
            Goal::Push {
                tag: "latest".into(),
                digest: "sha256:ab".into(),
                happened_at: Some(2_000_000_000 * 1_000_000_000),
            }
        );
    }
}
