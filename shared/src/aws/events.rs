//! EventBridge: putting events on a bus.

use crate::aws::AwsError;

/// PutEvents takes at most this many entries per call.
pub const PUT_EVENTS_BATCH: usize = 10;

/// One event to put: its detail type and its detail (a JSON object).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The event's `detail-type`.
    pub detail_type: String,
    /// The event's `detail`.
    pub detail: serde_json::Value,
}

/// Puts `entries` on `bus` (a name or ARN) with `source`, 10 a call. An entry EventBridge
/// refuses (the call succeeds but names it) is an error too.
pub async fn put_events(
    client: &aws_sdk_eventbridge::Client,
    bus: &str,
    source: &str,
    entries: &[Entry],
) -> Result<(), AwsError> {
    for chunk in entries.chunks(PUT_EVENTS_BATCH) {
        let request = chunk.iter().fold(client.put_events(), |request, entry| {
            request.entries(
                aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                    .event_bus_name(bus)
                    .source(source)
                    .detail_type(&entry.detail_type)
                    .detail(entry.detail.to_string())
                    .build(),
            )
        });
        let output = request
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("EventBridge", "PutEvents", bus, e))?;
        if output.failed_entry_count() > 0 {
            let first = output
                .entries()
                .iter()
                .find(|e| e.error_code().is_some())
                .map(|e| {
                    format!(
                        "{}: {}",
                        e.error_code().unwrap_or_default(),
                        e.error_message().unwrap_or_default()
                    )
                })
                .unwrap_or_default();
            return Err(AwsError {
                service: "EventBridge",
                operation: "PutEvents",
                resource: bus.to_owned(),
                code: Some("FailedEntries".into()),
                message: format!(
                    "{} of {} events refused ({first})",
                    output.failed_entry_count(),
                    chunk.len()
                ),
            });
        }
    }
    Ok(())
}
