//! SQS: the deploy queue (FIFO), one message per application of a large fan-out.

use crate::aws::AwsError;

/// SendMessageBatch takes at most this many messages.
pub const SEND_BATCH: usize = 10;

/// One message of a FIFO queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FifoMessage {
    /// The body (JSON).
    pub body: String,
    /// The message group: messages of one group are delivered in order, one batch in flight.
    pub group: String,
    /// The deduplication id: a message sent again with it within 5 minutes is dropped.
    pub dedup: String,
}

/// SendMessageBatch calls in flight at once: a fan-out of 5,000 is 500 calls, well under a FIFO
/// queue's 300 calls a second per action.
const SENDS_AT_ONCE: usize = 8;

/// Sends `messages` to the FIFO queue at `queue_url`, 10 a call, up to 8 calls at once (the
/// messages of one fan-out name different applications, so their order within a group does not
/// matter; each application's order across pushes holds, as one push's sends end before the
/// next push is read). A message the answer names as failed is sent again (with its
/// deduplication id, so never twice), up to twice; still failed, it is an error naming it.
pub async fn send_fifo(
    client: &aws_sdk_sqs::Client,
    queue_url: &str,
    messages: &[FifoMessage],
) -> Result<(), AwsError> {
    use futures::stream::{self, TryStreamExt};
    stream::iter(messages.chunks(SEND_BATCH).map(Ok))
        .try_for_each_concurrent(SENDS_AT_ONCE, |chunk| send_batch(client, queue_url, chunk))
        .await
}

/// One SendMessageBatch of at most 10 messages, with the retries of its failed entries.
async fn send_batch(client: &aws_sdk_sqs::Client, queue_url: &str, chunk: &[FifoMessage]) -> Result<(), AwsError> {
    let mut pending: Vec<usize> = (0..chunk.len()).collect();
    for attempt in 0..3 {
        let entries = pending
            .iter()
            .map(|&i| {
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(&chunk[i].body)
                    .message_group_id(&chunk[i].group)
                    .message_deduplication_id(&chunk[i].dedup)
                    .build()
                    .expect("id and body are set")
            })
            .collect::<Vec<_>>();
        let output = client
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("SQS", "SendMessageBatch", queue_url, e))?;
        let failed: Vec<(usize, String)> = output
            .failed()
            .iter()
            .filter_map(|f| {
                Some((
                    f.id().parse().ok()?,
                    format!("{}: {}", f.code(), f.message().unwrap_or_default()),
                ))
            })
            .collect();
        if failed.is_empty() {
            break;
        }
        if attempt == 2 {
            return Err(AwsError {
                service: "SQS",
                transient: false,
                operation: "SendMessageBatch",
                resource: queue_url.to_owned(),
                code: Some("FailedEntries".into()),
                message: format!("{} messages not sent ({})", failed.len(), failed[0].1),
            });
        }
        pending = failed.into_iter().map(|(i, _)| i).collect();
    }
    Ok(())
}

/// Hides a received message for `seconds` from now (`ChangeMessageVisibility`): SQS delivers it
/// again then, instead of at the end of the queue's visibility timeout.
pub async fn deliver_again_in(
    client: &aws_sdk_sqs::Client,
    queue_url: &str,
    receipt_handle: &str,
    seconds: u32,
) -> Result<(), AwsError> {
    client
        .change_message_visibility()
        .queue_url(queue_url)
        .receipt_handle(receipt_handle)
        .visibility_timeout(seconds.min(43_200) as i32)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("SQS", "ChangeMessageVisibility", queue_url, e))?;
    Ok(())
}
