//! `nlb-sync` input: the every-minute schedule and the manual `sync` payload.

use serde::Deserialize;
use serde_json::Value;

use super::{is_envelope, parse_envelope, SCHEDULED_EVENT};
use crate::input::json::{deserialize_at, require_objects};
use crate::input::{quoted, InputError};

/// An invocation of `nlb-sync`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NlbSyncRequest {
    /// Target groups to sync; none means all.
    pub target_groups: Option<Vec<String>>,
    /// Plan only.
    pub dry_run: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualNlbSync {
    sync: ManualTargetGroups,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualTargetGroups {
    #[serde(default)]
    target_groups: Option<Vec<String>>,
}

/// Parses an `nlb-sync` invocation: the schedule or a manual payload.
pub fn parse_nlb_sync(value: &Value) -> Result<NlbSyncRequest, InputError> {
    if is_envelope(value) {
        let envelope = parse_envelope(value)?;
        if envelope.detail_type != SCHEDULED_EVENT {
            return Err(InputError::new(
                "detail-type",
                format!(
                    "`{SCHEDULED_EVENT}` (this function runs on a schedule), got {}",
                    quoted(&envelope.detail_type)
                ),
            ));
        }
        return Ok(NlbSyncRequest {
            target_groups: None,
            dry_run: false,
        });
    }
    if !value.is_object() {
        return Err(InputError::new(
            "$",
            "a scheduled event or {\"sync\": {\"target_groups\": [\"arn:...\"]}}",
        ));
    }
    require_objects(value, "", &["sync"])?;
    let manual: ManualNlbSync = deserialize_at(value, "")?;
    if let Some(arns) = &manual.sync.target_groups {
        for (i, arn) in arns.iter().enumerate() {
            if !arn.starts_with("arn:") || !arn.contains(":targetgroup/") {
                return Err(InputError::new(
                    format!("sync.target_groups[{i}]"),
                    "a target group ARN",
                ));
            }
        }
        crate::input::json::require_distinct(arns, "sync.target_groups")?;
    }
    Ok(NlbSyncRequest {
        target_groups: manual.sync.target_groups,
        dry_run: manual.dry_run,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_with_named_fields() {
        let scheduled: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{}/../events/scheduled.json", env!("CARGO_MANIFEST_DIR"))).unwrap(),
        )
        .unwrap();
        assert_eq!(
            parse_nlb_sync(&scheduled).unwrap(),
            NlbSyncRequest {
                target_groups: None,
                dry_run: false
            }
        );
        let manual =
            parse_nlb_sync(&serde_json::json!({"sync": {"target_groups": ["arn:aws:elasticloadbalancing:r:1:targetgroup/nlb/1"]}, "dry_run": true}))
                .unwrap();
        assert!(manual.dry_run && manual.target_groups.unwrap().len() == 1);
        assert_eq!(
            parse_nlb_sync(&serde_json::json!({"sync": {"target_groups": ["x"]}}))
                .unwrap_err()
                .field,
            "sync.target_groups[0]"
        );
        assert_eq!(
            parse_nlb_sync(&serde_json::json!({"sink": {}})).unwrap_err().field,
            "sink"
        );
    }
}
