//! Large fan-outs through the deploy queue: a push that concerns more than `inline_max`
//! applications is sent to the FIFO deploy queue as one message per application, grouped by the
//! application's account and Region (ECS's throttling scope: one batch of a group in flight, so
//! workers never compete for one account's buckets), deduplicated by the push event's id and the
//! application (a replayed push within SQS's 5-minute window sends nothing new; a later replay
//! finds each service already running the digest). The deploy worker ([`super::worker`]) takes
//! them from there.

use serde::{Deserialize, Serialize};

use super::{Clients, Goal, Outcome, Report};
use crate::aws::s3;
use crate::aws::sqs::{self, FifoMessage};
use crate::input::config::AppConfig;
use crate::job::Settings;
use crate::records::{fnv1a, format_time, parse_time, Trigger, TriggerKind};

/// One application's deploy of a push, as queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueuedDeploy {
    /// The application.
    pub app: String,
    /// The pushed tag.
    pub tag: String,
    /// The pushed digest.
    pub digest: String,
    /// When the push happened (the event's time), for the late-event check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_at: Option<String>,
    /// The push event's id: the deploy's trigger, as if deployed inline.
    pub event_id: String,
}

impl QueuedDeploy {
    /// The deploy this message asks for.
    pub fn goal(&self) -> Goal {
        Goal::Push {
            tag: self.tag.clone(),
            digest: self.digest.clone(),
            happened_at: self
                .pushed_at
                .as_deref()
                .and_then(parse_time)
                .map(super::select::nanos_since_epoch),
        }
    }

    /// The trigger its record names: the push's, as an inline deploy would.
    pub fn trigger(&self) -> Trigger {
        Trigger {
            kind: TriggerKind::Push,
            id: self.event_id.clone(),
            by: Some("aws.ecr".into()),
        }
    }
}

/// The message group of `app`: its service's account (of the role it acts through, else the
/// function's own) and Region, ECS's throttling scope.
pub fn group_of(app: &AppConfig, own_region: &str) -> String {
    format!(
        "{}/{}",
        app.account().unwrap_or("own"),
        app.region.as_deref().unwrap_or(own_region)
    )
}

/// A fan-out as recorded once in the state bucket (`fanouts/<event id>.json`): what was pushed,
/// when it was queued and to which applications. Each application's deploy has its own record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FanOut {
    /// The push event's id.
    pub event_id: String,
    /// The pushed tag.
    pub tag: String,
    /// The pushed digest.
    pub digest: String,
    /// When it was queued.
    pub queued_at: String,
    /// The applications, one message each.
    pub apps: Vec<String>,
}

/// The key of a fan-out's record.
pub fn fan_out_key(event_id: &str) -> String {
    let safe: String = event_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(100)
        .collect();
    if safe == event_id {
        format!("fanouts/{safe}.json")
    } else {
        // Not a plain id (EventBridge's are UUIDs): its cleaned form and a hash of the whole.
        format!("fanouts/{safe}-{:016x}.json", fnv1a(event_id))
    }
}

/// Sends one message per application; each report says `queued` (or `failed`, when the queue
/// refused them: Lambda's retry sends them again, and the deduplication ids keep them single).
/// With a state bucket, the fan-out is recorded first, once: a retry finds it and leaves it.
pub async fn enqueue(
    clients: &Clients,
    settings: &Settings,
    queue_url: &str,
    apps: &[&AppConfig],
    goal: &Goal,
    trigger: &Trigger,
) -> Vec<Report> {
    let Goal::Push {
        tag,
        digest,
        happened_at,
    } = goal
    else {
        unreachable!("only pushes are queued")
    };
    let pushed_at = happened_at.and_then(super::select::time_of_nanos).map(format_time);
    let messages: Vec<FifoMessage> = apps
        .iter()
        .map(|app| FifoMessage {
            body: serde_json::to_string(&QueuedDeploy {
                app: app.name.clone(),
                tag: tag.clone(),
                digest: digest.clone(),
                pushed_at: pushed_at.clone(),
                event_id: trigger.id.clone(),
            })
            .expect("messages serialize"),
            group: group_of(app, &clients.region),
            dedup: dedup_id(&trigger.id, &app.name),
        })
        .collect();
    if let Some(store) = &settings.records {
        let record = FanOut {
            event_id: trigger.id.clone(),
            tag: tag.clone(),
            digest: digest.clone(),
            queued_at: format_time(std::time::SystemTime::now()),
            apps: apps.iter().map(|a| a.name.clone()).collect(),
        };
        let body = serde_json::to_vec_pretty(&record).expect("records serialize");
        // If-None-Match: a retry of the push keeps the first record.
        if let Err(err) = s3::put_if(&clients.s3, &store.bucket, &fan_out_key(&trigger.id), body, None).await {
            return apps
                .iter()
                .map(|app| {
                    Report::skipped(
                        app,
                        Outcome::Failed,
                        format!("fan-out not recorded, nothing queued: {err}"),
                    )
                })
                .collect();
        }
    }
    let sent = sqs::send_fifo(&clients.sqs, queue_url, &messages).await;
    apps.iter()
        .zip(&messages)
        .map(|(app, message)| match &sent {
            Ok(()) => Report::skipped(
                app,
                Outcome::Queued,
                format!(
                    "queued for the deploy worker (group {}; fan-out {})",
                    message.group,
                    fan_out_key(&trigger.id)
                ),
            ),
            Err(err) => Report::skipped(app, Outcome::Failed, format!("not queued: {err}")),
        })
        .collect()
}

/// SQS's deduplication id for one application's deploy of one push (at most 128 characters).
fn dedup_id(event_id: &str, app: &str) -> String {
    let id = format!("{event_id}/{app}");
    if id.len() <= 128 {
        return id;
    }
    format!("{}/{:016x}", &app[..app.len().min(100)], fnv1a(&id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_round_trips_to_the_push_it_came_from() {
        let queued = QueuedDeploy {
            app: "orders".into(),
            tag: "latest".into(),
            digest: "sha256:ab".into(),
            pushed_at: Some("2026-12-06T10:00:00Z".into()),
            event_id: "e-1".into(),
        };
        let body = serde_json::to_string(&queued).unwrap();
        assert_eq!(serde_json::from_str::<QueuedDeploy>(&body).unwrap(), queued);
        assert!(
            serde_json::from_str::<QueuedDeploy>(r#"{"app":"a","tag":"t","digest":"d","event_id":"e","x":1}"#).is_err()
        );
        let Goal::Push { happened_at, .. } = queued.goal() else {
            panic!()
        };
        assert_eq!(
            happened_at,
            parse_time("2026-12-06T10:00:00Z").map(crate::image_push::select::nanos_since_epoch)
        );
        assert_eq!(queued.trigger().id, "e-1");
        assert_eq!(dedup_id("e-1", "orders"), "e-1/orders");
        assert!(dedup_id(&"e".repeat(100), &"a".repeat(64)).len() <= 128);
        assert_eq!(fan_out_key("13cde686-328b"), "fanouts/13cde686-328b.json");
        let odd = fan_out_key("../x y");
        assert!(
            odd.starts_with("fanouts/..xy-") && odd.matches('/').count() == 1,
            "{odd}"
        );
    }
}
