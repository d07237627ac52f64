//! A local player of Lambda's SQS event source mapping, which no emulator runs: it receives
//! batches from a queue of the emulator (up to `batch_size` messages, hidden for the visibility
//! timeout), hands each batch to the function as the SQS event Lambda sends, and applies the
//! partial batch response (`ReportBatchItemFailures`): the messages it names are delivered again
//! when their visibility ends (the queue's timeout, or what the function set with
//! `ChangeMessageVisibility`; the emulator keeps that time), the others are deleted. Up to
//! `max_concurrency` batches are in flight at once (`ScalingConfig.MaximumConcurrency`). A FIFO
//! queue keeps a message group locked while one of its messages is in flight, in the emulator as
//! in AWS.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use deployer::AwsClients;
use serde_json::{json, Value};

use crate::emulator::{ACCOUNT, REGION};

/// A queue and how its mapping reads it.
#[derive(Debug, Clone)]
pub struct SqsPlayer {
    sqs: aws_sdk_sqs::Client,
    /// The queue's URL.
    pub queue_url: String,
    /// The queue's name.
    pub name: String,
    /// Messages per batch (`BatchSize`, at most 10 for FIFO).
    pub batch_size: i32,
    /// Batches in flight at once (`MaximumConcurrency`).
    pub max_concurrency: usize,
}

/// What a drain did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Drained {
    /// Invocations of the function.
    pub invocations: usize,
    /// Messages delivered (a message delivered again counts again).
    pub deliveries: usize,
    /// Messages the function named in `batchItemFailures`.
    pub redelivered: usize,
}

impl SqsPlayer {
    /// Creates the FIFO queue `name` (`.fifo` is added) in the emulator.
    pub async fn fifo(clients: &AwsClients, name: &str, batch_size: i32, max_concurrency: usize) -> SqsPlayer {
        let sqs = aws_sdk_sqs::Client::new(&clients.sdk_config);
        let name = format!("{name}.fifo");
        let queue_url = sqs
            .create_queue()
            .queue_name(&name)
            .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
            .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, "60")
            .send()
            .await
            .expect("CreateQueue")
            .queue_url()
            .unwrap_or_default()
            .to_owned();
        SqsPlayer {
            sqs,
            queue_url,
            name,
            batch_size,
            max_concurrency,
        }
    }

    /// Plays the mapping until the queue has nothing to deliver or `max_rounds` rounds passed:
    /// each round, up to `max_concurrency` pollers receive a batch each and invoke `function`
    /// with it, at once.
    pub async fn drain<F, Fut>(&self, max_rounds: usize, function: F) -> Drained
    where
        F: Fn(Value) -> Fut,
        Fut: Future<Output = Value>,
    {
        self.drain_while_sent(max_rounds, &AtomicBool::new(false), function)
            .await
    }

    /// As `drain`, started while messages are still being sent (as Lambda polls while a push
    /// queues its fan-out): an empty queue ends it only once `sending` is false.
    pub async fn drain_while_sent<F, Fut>(&self, max_rounds: usize, sending: &AtomicBool, function: F) -> Drained
    where
        F: Fn(Value) -> Fut,
        Fut: Future<Output = Value>,
    {
        let mut drained = Drained::default();
        for _ in 0..max_rounds {
            let mut batches = Vec::new();
            for _ in 0..self.max_concurrency {
                let messages = self.receive().await;
                if messages.is_empty() {
                    break;
                }
                batches.push(messages);
            }
            if batches.is_empty() {
                // Nothing to receive: done when the queue is empty; otherwise messages are hidden
                // until their redelivery (or became visible since the receive).
                if !sending.load(Ordering::SeqCst) && self.left().await == 0 {
                    return drained;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
            let answers = futures::future::join_all(batches.iter().map(|batch| function(self.event(batch)))).await;
            for (batch, answer) in batches.iter().zip(answers) {
                drained.invocations += 1;
                drained.deliveries += batch.len();
                let again: Vec<&str> = answer["batchItemFailures"]
                    .as_array()
                    .map(|items| items.iter().filter_map(|i| i["itemIdentifier"].as_str()).collect())
                    .unwrap_or_default();
                drained.redelivered += again.len();
                for message in batch {
                    let id = message.message_id().unwrap_or_default();
                    let receipt = message.receipt_handle().unwrap_or_default();
                    // A message named again stays hidden until its visibility ends.
                    if !again.contains(&id) {
                        self.sqs
                            .delete_message()
                            .queue_url(&self.queue_url)
                            .receipt_handle(receipt)
                            .send()
                            .await
                            .expect("DeleteMessage");
                    }
                }
            }
        }
        drained
    }

    /// Messages received and not deleted whose visibility has not ended.
    pub async fn hidden(&self) -> usize {
        self.count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .await
    }

    /// Messages not deleted yet, visible or hidden.
    pub async fn left(&self) -> usize {
        self.hidden().await
            + self
                .count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                .await
    }

    async fn count(&self, name: aws_sdk_sqs::types::QueueAttributeName) -> usize {
        self.sqs
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(name.clone())
            .send()
            .await
            .expect("GetQueueAttributes")
            .attributes()
            .and_then(|a| a.get(&name))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    async fn receive(&self) -> Vec<aws_sdk_sqs::types::Message> {
        self.sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.batch_size)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .expect("ReceiveMessage")
            .messages()
            .to_vec()
    }

    /// The SQS event Lambda sends for `batch`.
    fn event(&self, batch: &[aws_sdk_sqs::types::Message]) -> Value {
        let records: Vec<Value> = batch
            .iter()
            .map(|m| {
                let attributes: serde_json::Map<String, Value> = m
                    .attributes()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| (k.as_str().to_owned(), Value::String(v.clone())))
                            .collect()
                    })
                    .unwrap_or_default();
                json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body(),
                    "attributes": attributes,
                    "messageAttributes": {},
                    "md5OfBody": m.md5_of_body(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{}", self.name),
                    "awsRegion": REGION,
                })
            })
            .collect();
        json!({ "Records": records })
    }
}
