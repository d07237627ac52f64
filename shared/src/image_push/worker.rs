//! The `deploy-worker` function: the deploys of a large fan-out, taken from the FIFO deploy
//! queue through Lambda's SQS event source mapping (see [`super::queue`]). Each message is one
//! application's deploy of one push, deployed exactly as image-push deploys inline (observe,
//! plan, lease, apply, record), paced to ECS's buckets. The answer is SQS's partial batch
//! response: a message that failed or was put off (throttled, a busy lease, out of time) is
//! named in `batchItemFailures`, so SQS delivers it again. Messages of different applications
//! run at once; one application's messages run in their order, and those after one that was not
//! done are not started (named too), so each application's order holds. A message named for
//! redelivery is hidden for a short while only ([`redelivery_seconds`]), not the queue's
//! visibility timeout: while it is hidden its whole message group (the account and Region)
//! waits.

use futures::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::Value;

use super::queue::QueuedDeploy;
use super::{deploy_apps, Clients, ImagePush, Outcome, Report};
use crate::error::InvokeError;
use crate::input::config::Config;
use crate::input::InputError;
use crate::job::{Answer, Invocation, Job, Settings};

/// The function's name.
pub const NAME: &str = "deploy-worker";

/// One SQS message of the batch.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedMessage {
    /// SQS's message id (what the partial batch response names).
    pub message_id: String,
    /// The receipt handle of this delivery (to hide it for a while when it must come again).
    pub receipt_handle: Option<String>,
    /// Deliveries so far, this one included (`attributes.ApproximateReceiveCount`; 1 when
    /// SQS did not say).
    pub receive_count: u32,
    /// The deploy it asks for, or why its body is not one.
    pub deploy: Result<QueuedDeploy, InputError>,
}

/// One message's outcome: its id and the deploy's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerReport {
    /// SQS's message id.
    pub message_id: String,
    /// The deploy's report.
    #[serde(flatten)]
    pub report: Report,
}

/// Parses Lambda's SQS event: `{"Records": [{"messageId", "body", "eventSource": "aws:sqs"}]}`.
/// A record that is not an SQS message makes the whole event invalid; a body that is not a
/// queued deploy fails that message only.
pub fn parse_batch(payload: &Value) -> Result<Vec<QueuedMessage>, InputError> {
    let records = payload
        .get("Records")
        .and_then(Value::as_array)
        .ok_or_else(|| InputError::new("Records", "an SQS event: an array `Records` of messages"))?;
    records
        .iter()
        .enumerate()
        .map(|(i, record)| {
            let field = |name: &str| {
                record
                    .get(name)
                    .and_then(Value::as_str)
                    .ok_or_else(|| InputError::new(format!("Records[{i}].{name}"), "a string, as SQS sends it"))
            };
            if field("eventSource")? != "aws:sqs" {
                return Err(InputError::new(format!("Records[{i}].eventSource"), "`aws:sqs`"));
            }
            let message_id = field("messageId")?.to_owned();
            let receipt_handle = record.get("receiptHandle").and_then(Value::as_str).map(str::to_owned);
            let receive_count = record
                .pointer("/attributes/ApproximateReceiveCount")
                .and_then(Value::as_str)
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            let deploy = serde_json::from_str::<QueuedDeploy>(field("body")?).map_err(|e| {
                InputError::new(
                    format!("Records[{i}].body"),
                    format!("a queued deploy of image-push ({e})"),
                )
            });
            Ok(QueuedMessage {
                message_id,
                receipt_handle,
                receive_count,
                deploy,
            })
        })
        .collect()
}

/// The `deploy-worker` function.
pub struct DeployWorker;

impl Job for DeployWorker {
    const NAME: &'static str = NAME;
    type Clients = Clients;
    type Request = Vec<QueuedMessage>;
    type Report = WorkerReport;
    const FAILURE: &'static str = "DeployFailed";

    fn failure(report: &WorkerReport) -> Option<String> {
        ImagePush::failure(&report.report)
    }

    fn deferred(report: &WorkerReport) -> Option<String> {
        ImagePush::deferred(&report.report)
    }

    fn clients(config: &aws_config::SdkConfig) -> Clients {
        ImagePush::clients(config)
    }

    fn s3(clients: &Clients) -> &aws_sdk_s3::Client {
        &clients.s3
    }

    fn parse(payload: &Value) -> Result<Vec<QueuedMessage>, InputError> {
        parse_batch(payload)
    }

    async fn handle(
        clients: &Clients,
        config: &Config,
        messages: &Vec<QueuedMessage>,
        settings: &Settings,
        invocation: &Invocation,
    ) -> Result<Answer<WorkerReport>, InputError> {
        // Each application's messages in their order, one after the other (a message after one
        // that was not done is not started); different applications at once, up to the
        // concurrency bound: the pacer keeps them inside ECS's buckets.
        let mut lanes: Vec<(Option<&str>, Vec<usize>)> = Vec::new();
        for (i, message) in messages.iter().enumerate() {
            let app = message.deploy.as_ref().ok().map(|d| d.app.as_str());
            match lanes.iter_mut().find(|(a, _)| app.is_some() && *a == app) {
                Some((_, lane)) => lane.push(i),
                None => lanes.push((app, vec![i])),
            }
        }
        let done: Vec<Vec<(usize, Report)>> = stream::iter(lanes.into_iter().map(|(_, lane)| async move {
            let mut reports = Vec::new();
            let mut stopped = false;
            for i in lane {
                let report = if stopped {
                    Report {
                        outcome: Outcome::Deferred,
                        reason: Some(
                            "not started: an earlier message of this application was not done (its order holds)".into(),
                        ),
                        ..Report::ignored("")
                    }
                } else {
                    deploy_one(clients, config, settings, invocation, &messages[i]).await
                };
                stopped |= matches!(report.outcome, Outcome::Failed | Outcome::Deferred);
                reports.push((i, report));
            }
            reports
        }))
        .buffer_unordered(settings.concurrency.max(1))
        .collect()
        .await;
        let mut done: Vec<(usize, Report)> = done.into_iter().flatten().collect();
        done.sort_by_key(|(i, _)| *i);
        let results: Vec<WorkerReport> = done
            .into_iter()
            .map(|(i, report)| WorkerReport {
                message_id: messages[i].message_id.clone(),
                report,
            })
            .collect();
        results.iter().for_each(|r| super::log_report(&r.report));
        deliver_again_soon(clients, settings, messages, &results).await;
        Ok(Answer {
            results,
            dry_run: false,
        })
    }

    /// SQS's partial batch response: the messages to deliver again. Failures are not an
    /// invocation error (that would deliver the whole batch again); they are counted in the
    /// deploy records and, after the queue's last delivery, its dead-letter queue.
    fn respond(answer: Answer<WorkerReport>) -> Result<Value, InvokeError> {
        let again: Vec<Value> = answer
            .results
            .iter()
            .filter(|r| Self::failure(r).is_some() || Self::deferred(r).is_some())
            .map(|r| serde_json::json!({"itemIdentifier": r.message_id}))
            .collect();
        for failed in answer.results.iter().filter_map(Self::failure) {
            tracing::error!(function = NAME, failure = %failed, "queued deploy failed: delivered again");
        }
        Ok(serde_json::json!({ "batchItemFailures": again }))
    }
}

/// Seconds a message that must come again stays hidden: `base` when it was put off (throttled,
/// a busy lease, out of time: it may go through at once), six times `base` per delivery so far
/// when it failed (a real failure rarely heals in seconds), at most 10 minutes.
pub fn redelivery_seconds(outcome: Outcome, receive_count: u32, base: u32) -> u32 {
    let seconds = match outcome {
        Outcome::Failed => base.saturating_mul(6).saturating_mul(receive_count.max(1)),
        _ => base,
    };
    seconds.min(600)
}

/// Hides each message the answer names for redelivery for [`redelivery_seconds`], so SQS brings
/// it (and its group) back soon. A message this cannot hide comes back at the end of the queue's
/// visibility timeout, as it would anyway.
async fn deliver_again_soon(
    clients: &Clients,
    settings: &Settings,
    messages: &[QueuedMessage],
    results: &[WorkerReport],
) {
    let Some(queue) = &settings.deploy_queue else {
        return;
    };
    // All at once: the batch's answer waits for them.
    let hidden = messages.iter().zip(results).filter_map(|(message, result)| {
        let outcome = result.report.outcome;
        let (Some(receipt), Outcome::Failed | Outcome::Deferred) = (&message.receipt_handle, outcome) else {
            return None;
        };
        let seconds = redelivery_seconds(outcome, message.receive_count, settings.redelivery_seconds);
        Some(async move {
            if let Err(err) = crate::aws::sqs::deliver_again_in(&clients.sqs, queue, receipt, seconds).await {
                tracing::warn!(message = %message.message_id, error = %err, "not hidden for the retry; the visibility timeout decides");
            }
        })
    });
    futures::future::join_all(hidden).await;
}

/// One message's deploy, as image-push deploys a push inline.
async fn deploy_one(
    clients: &Clients,
    config: &Config,
    settings: &Settings,
    invocation: &Invocation,
    message: &QueuedMessage,
) -> Report {
    let queued = match &message.deploy {
        Ok(queued) => queued,
        Err(err) => {
            return Report {
                outcome: Outcome::Failed,
                reason: Some(err.to_string()),
                ..Report::ignored("")
            }
        }
    };
    // The configuration changed since the push: the application is no longer followed.
    let Some(app) = config.app(&queued.app) else {
        return Report {
            app: Some(queued.app.clone()),
            ..Report::ignored(format!(
                "application `{}` is no longer in the configuration",
                queued.app
            ))
        };
    };
    let trigger = queued.trigger();
    // On its last delivery a deploy that would be put off fails (recorded, published): SQS
    // moves the message to the dead-letter queue next, and the record must say so.
    let settings = Settings {
        last_attempt: message.receive_count >= settings.deploy_max_receives,
        ..settings.clone()
    };
    deploy_apps(clients, &[app], &queued.goal(), &settings, invocation, &trigger, false)
        .await
        .into_iter()
        .next()
        .unwrap_or_else(|| Report::skipped(app, Outcome::Failed, "no report"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sqs_event_parses_into_its_messages_and_a_bad_body_fails_only_its_own() {
        let body = r#"{"app":"orders","tag":"latest","digest":"sha256:ab","event_id":"e-1"}"#;
        let event = serde_json::json!({"Records": [
            {"messageId": "m-1", "eventSource": "aws:sqs", "body": body},
            {"messageId": "m-2", "eventSource": "aws:sqs", "body": "{\"app\": 1}"}
        ]});
        let batch = parse_batch(&event).unwrap();
        assert_eq!(batch[0].message_id, "m-1");
        assert_eq!((batch[0].receipt_handle.as_deref(), batch[0].receive_count), (None, 1));
        assert_eq!(batch[0].deploy.as_ref().unwrap().app, "orders");
        assert_eq!(batch[1].deploy.as_ref().unwrap_err().field, "Records[1].body");
        let wrong = serde_json::json!({"Records": [{"messageId": "m", "eventSource": "aws:sns", "body": "{}"}]});
        assert_eq!(parse_batch(&wrong).unwrap_err().field, "Records[0].eventSource");
        assert_eq!(parse_batch(&serde_json::json!({})).unwrap_err().field, "Records");
        // The sample in events/ is what the event source mapping sends.
        let path = format!("{}/../events/sqs-deploy-batch.json", env!("CARGO_MANIFEST_DIR"));
        let sample: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let batch = parse_batch(&sample).unwrap();
        assert_eq!(
            batch[0].deploy.as_ref().unwrap().event_id,
            "13cde686-328b-6117-af20-0e5566167482"
        );
        assert!(batch[0].receipt_handle.is_some());
        assert_eq!(batch[0].receive_count, 1);
    }

    #[test]
    fn a_put_off_message_comes_back_soon_and_a_failed_one_later_each_time() {
        assert_eq!(redelivery_seconds(Outcome::Deferred, 1, 5), 5);
        assert_eq!(redelivery_seconds(Outcome::Deferred, 4, 5), 5);
        assert_eq!(redelivery_seconds(Outcome::Failed, 1, 5), 30);
        assert_eq!(redelivery_seconds(Outcome::Failed, 3, 5), 90);
        assert_eq!(redelivery_seconds(Outcome::Failed, 50, 5), 600, "at most 10 minutes");
        assert_eq!(redelivery_seconds(Outcome::Failed, 2, 0), 0, "tests may ask for none");
    }

    #[test]
    fn the_partial_batch_response_names_what_must_come_again() {
        let report = |id: &str, outcome| WorkerReport {
            message_id: id.into(),
            report: Report {
                outcome,
                ..Report::ignored("")
            },
        };
        let answer = Answer {
            results: vec![
                report("m-1", Outcome::Deployed),
                report("m-2", Outcome::Deferred),
                report("m-3", Outcome::Failed),
                report("m-4", Outcome::Unchanged),
            ],
            dry_run: false,
        };
        let response = DeployWorker::respond(answer).unwrap();
        assert_eq!(
            response,
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m-2"}, {"itemIdentifier": "m-3"}]})
        );
    }
}
