//! EventBridge: putting events on a bus.

use crate::aws::AwsError;

/// PutEvents takes at most this many entries per call.
pub const PUT_EVENTS_BATCH: usize = 10;

/// PutEvents takes at most this many bytes of entries per call (256 KB), each entry sized as
/// AWS's "Calculating PutEvents event entry size" says: the UTF-8 bytes of its `Source`,
/// `DetailType` and `Detail` (and of its resources and 14 for a `Time`, neither of which the
/// deployer sets).
pub const PUT_EVENTS_MAX_BYTES: usize = 256 * 1024;

/// Times the entries a call's answer names as failed are sent again before the put fails.
const RESENDS: usize = 2;

/// One event to put: its detail type and its detail (a JSON object).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The event's `detail-type`.
    pub detail_type: String,
    /// The event's `detail`.
    pub detail: serde_json::Value,
}

/// An entry's size as PutEvents counts it.
pub fn entry_size(source: &str, entry: &Entry) -> usize {
    source.len() + entry.detail_type.len() + entry.detail.to_string().len()
}

/// The entries' indexes in calls: at most [`PUT_EVENTS_BATCH`] and [`PUT_EVENTS_MAX_BYTES`] a
/// call, in order. An entry larger than a whole call is refused before anything is sent.
pub fn batches(sizes: &[usize]) -> Result<Vec<Vec<usize>>, usize> {
    let mut calls: Vec<Vec<usize>> = Vec::new();
    let mut bytes = 0;
    for (i, &size) in sizes.iter().enumerate() {
        if size > PUT_EVENTS_MAX_BYTES {
            return Err(i);
        }
        match calls.last_mut() {
            Some(call) if call.len() < PUT_EVENTS_BATCH && bytes + size <= PUT_EVENTS_MAX_BYTES => {
                call.push(i);
                bytes += size;
            }
            _ => {
                calls.push(vec![i]);
                bytes = size;
            }
        }
    }
    Ok(calls)
}

/// Puts `entries` on `bus` (a name or ARN) with `source`, in calls of at most 10 entries and
/// 256 KB. The entries a call's answer names as failed (the call itself succeeded) are sent
/// again, alone, up to twice; still refused, they are an error.
pub async fn put_events(
    client: &aws_sdk_eventbridge::Client,
    bus: &str,
    source: &str,
    entries: &[Entry],
) -> Result<(), AwsError> {
    let refused = |message: String| AwsError {
        service: "EventBridge",
        transient: false,
        operation: "PutEvents",
        resource: bus.to_owned(),
        code: Some("FailedEntries".into()),
        message,
    };
    let sizes: Vec<usize> = entries.iter().map(|e| entry_size(source, e)).collect();
    let calls = batches(&sizes).map_err(|i| {
        refused(format!(
            "event {i} ({}) is {} bytes, more than PutEvents takes ({PUT_EVENTS_MAX_BYTES})",
            entries[i].detail_type, sizes[i]
        ))
    })?;
    for mut call in calls {
        for attempt in 0..=RESENDS {
            let request = call.iter().fold(client.put_events(), |request, &i| {
                request.entries(
                    aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                        .event_bus_name(bus)
                        .source(source)
                        .detail_type(&entries[i].detail_type)
                        .detail(entries[i].detail.to_string())
                        .build(),
                )
            });
            let output = request
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("EventBridge", "PutEvents", bus, e))?;
            if output.failed_entry_count() == 0 {
                break;
            }
            // The answer's entries are in the request's order: keep the failed ones.
            let failed: Vec<(usize, String)> = call
                .iter()
                .zip(output.entries())
                .filter(|(_, e)| e.error_code().is_some())
                .map(|(&i, e)| {
                    (
                        i,
                        format!(
                            "{}: {}",
                            e.error_code().unwrap_or_default(),
                            e.error_message().unwrap_or_default()
                        ),
                    )
                })
                .collect();
            if attempt == RESENDS || failed.is_empty() {
                let first = failed.first().map(|(_, why)| why.clone()).unwrap_or_default();
                return Err(refused(format!(
                    "{} of {} events refused ({first})",
                    output.failed_entry_count(),
                    call.len()
                )));
            }
            call = failed.into_iter().map(|(i, _)| i).collect();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_hold_at_most_ten_entries_and_256_kb() {
        assert_eq!(batches(&[10; 12]), Ok(vec![(0..10).collect(), vec![10, 11]]));
        let big = 100 * 1024;
        // Two 100 KB entries fit a call, a third would pass 256 KB.
        assert_eq!(batches(&[big, big, big, 5]), Ok(vec![vec![0, 1], vec![2, 3]]));
        assert_eq!(batches(&[PUT_EVENTS_MAX_BYTES, 1]), Ok(vec![vec![0], vec![1]]));
        assert_eq!(batches(&[1, PUT_EVENTS_MAX_BYTES + 1]), Err(1));
        assert_eq!(batches(&[]), Ok(vec![]));
    }

    #[test]
    fn an_entry_is_sized_by_its_source_detail_type_and_detail() {
        let entry = Entry {
            detail_type: "Deploy Succeeded".into(),
            detail: serde_json::json!({"app": "é"}),
        };
        // `{"app":"é"}` is 12 bytes in UTF-8.
        assert_eq!(entry_size("ecs-deployer", &entry), 12 + 16 + 12);
    }
}
