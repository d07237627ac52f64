//! EventBridge's partial failure: a `PutEvents` call that succeeds as a whole while its answer
//! names some entries as refused (`FailedEntryCount`, an `ErrorCode` on each refused entry, in
//! the request's order). The emulator never refuses an entry; the proxy plays it.

use serde_json::{json, Value};

/// The request with its last entry taken out (the one AWS will be said to have refused), or
/// `None` when the request is not a `PutEvents` with entries.
pub(super) fn without_last_entry(body: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut request: Value = serde_json::from_slice(body).ok()?;
    let entries = request.get_mut("Entries")?.as_array_mut()?;
    entries.pop()?;
    let kept = entries.len();
    Some((serde_json::to_vec(&request).ok()?, kept))
}

/// The answer to give: the emulator's entries for the `kept` entries it carried out (none when
/// nothing was sent), then the refused last entry, with `FailedEntryCount` counting it.
pub(super) fn answer_with_last_refused(upstream_body: Option<&[u8]>) -> String {
    let carried: Value = upstream_body
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or_else(|| json!({"FailedEntryCount": 0, "Entries": []}));
    let mut entries = carried["Entries"].as_array().cloned().unwrap_or_default();
    entries.push(json!({"ErrorCode": "InternalFailure", "ErrorMessage": "injected: entry refused"}));
    let failed = carried["FailedEntryCount"].as_u64().unwrap_or(0) + 1;
    json!({"FailedEntryCount": failed, "Entries": entries}).to_string()
}

/// The head with its `Content-Length` set to `length` (the body was rewritten).
pub(super) fn with_length(head: &str, length: usize) -> String {
    head.split("\r\n")
        .map(|line| {
            if line.to_ascii_lowercase().starts_with("content-length:") {
                format!("Content-Length: {length}")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// The body of an HTTP answer (after the blank line).
pub(super) fn body_of(answer: &[u8]) -> Option<&[u8]> {
    let start = answer.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    Some(&answer[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_entry_is_taken_out_and_answered_as_refused() {
        let body = br#"{"Entries":[{"Source":"a"},{"Source":"b"}]}"#;
        let (sent, kept) = without_last_entry(body).unwrap();
        assert_eq!(kept, 1);
        assert_eq!(
            serde_json::from_slice::<Value>(&sent).unwrap()["Entries"],
            json!([{"Source": "a"}])
        );
        let answer: Value = serde_json::from_str(&answer_with_last_refused(Some(
            br#"{"FailedEntryCount":0,"Entries":[{"EventId":"1"}]}"#,
        )))
        .unwrap();
        assert_eq!(answer["FailedEntryCount"], 1);
        assert_eq!(answer["Entries"][0]["EventId"], "1");
        assert_eq!(answer["Entries"][1]["ErrorCode"], "InternalFailure");
        assert_eq!(without_last_entry(b"{}"), None);
        assert_eq!(
            with_length("POST / HTTP/1.1\r\ncontent-length: 99\r\n\r\n", 5),
            "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n"
        );
    }
}
