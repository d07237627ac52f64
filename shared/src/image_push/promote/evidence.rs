//! Promotion on evidence: a source's completed, soaked deploy is promoted only when the alarms
//! that watch it stayed quiet through the soak. The alarms are those the source service's
//! deployment watches (its deployment configuration's `alarms`) and those the target names
//! (`promotion.alarms`), read with one `DescribeAlarms` in the source's account and region. One
//! in `ALARM` now, one whose state changed after the source's deploy completed (its
//! `StateUpdatedTimestamp`), or one that does not exist holds the promotion back; what was
//! checked goes in the promotion's record.

use std::collections::BTreeSet;
use std::time::SystemTime;

use super::super::Clients;
use crate::aws::{ecs, AwsError};
use crate::input::config::AppConfig;
use crate::records::format_time;

/// An alarm as CloudWatch describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmSeen {
    /// Its name.
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    /// When its state last changed.
    pub updated_at: Option<SystemTime>,
}

/// What the alarms say of a promotion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// Quiet through the soak: one line per alarm checked (none when no alarm watches it).
    Quiet(Vec<String>),
    /// Held back, and why.
    Held(String),
}

/// Weighs the alarms `wanted` (as `seen`) for a soak that began at `soak_from`. Pure.
pub fn weigh(wanted: &BTreeSet<String>, seen: &[AlarmSeen], soak_from: SystemTime) -> Evidence {
    let mut checked = Vec::new();
    for name in wanted {
        let Some(alarm) = seen.iter().find(|a| &a.name == name) else {
            return Evidence::Held(format!(
                "alarm `{name}` does not exist in the source's account and region: no evidence the soak was quiet"
            ));
        };
        let since = alarm
            .updated_at
            .map(format_time)
            .unwrap_or_else(|| "an unknown time".into());
        if alarm.state == "ALARM" {
            return Evidence::Held(format!("alarm `{name}` is in ALARM (since {since})"));
        }
        if alarm.updated_at.is_some_and(|at| at > soak_from) {
            return Evidence::Held(format!(
                "alarm `{name}` changed state during the soak (to {} at {since})",
                alarm.state
            ));
        }
        checked.push(format!("{name}: {} since {since}", alarm.state));
    }
    Evidence::Quiet(checked)
}

/// The alarms that watch `source`'s deploys: its service's deployment alarms (read through
/// `reach`, the source's clients) and `target`'s `promotion.alarms`.
async fn alarm_names(reach: &Clients, source: &AppConfig, target: &AppConfig) -> Result<BTreeSet<String>, AwsError> {
    let mut names: BTreeSet<String> = target.promotion().alarms.into_iter().collect();
    let services = ecs::describe_services(&reach.ecs, &source.cluster, std::slice::from_ref(&source.service)).await?;
    if let Some(alarms) = services
        .first()
        .and_then(|s| s.deployment_configuration.as_ref())
        .and_then(|c| c.alarms())
        .filter(|a| a.enable())
    {
        names.extend(alarms.alarm_names().iter().cloned());
    }
    Ok(names)
}

/// Reads and weighs the alarms that watch `source` for a promotion to `target` whose soak
/// began at `soak_from`.
pub async fn gather(
    clients: &Clients,
    source: &AppConfig,
    target: &AppConfig,
    soak_from: SystemTime,
) -> Result<Evidence, AwsError> {
    let reach = clients.for_app(source).await;
    let wanted = alarm_names(&reach, source, target).await?;
    if wanted.is_empty() {
        return Ok(Evidence::Quiet(Vec::new()));
    }
    let output = reach
        .cloudwatch
        .describe_alarms()
        .set_alarm_names(Some(wanted.iter().cloned().collect()))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CloudWatch", "DescribeAlarms", &source.name, e))?;
    let seen: Vec<AlarmSeen> = output
        .metric_alarms()
        .iter()
        .map(|a| {
            (
                a.alarm_name(),
                a.state_value().map(|s| s.as_str()),
                a.state_updated_timestamp(),
            )
        })
        .chain(output.composite_alarms().iter().map(|a| {
            (
                a.alarm_name(),
                a.state_value().map(|s| s.as_str()),
                a.state_updated_timestamp(),
            )
        }))
        .map(|(name, state, updated)| AlarmSeen {
            name: name.unwrap_or_default().to_owned(),
            state: state.unwrap_or_default().to_owned(),
            updated_at: updated.and_then(|t| SystemTime::try_from(*t).ok()),
        })
        .collect();
    Ok(weigh(&wanted, &seen, soak_from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(minutes: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000 + minutes * 60)
    }

    fn alarm(name: &str, state: &str, minutes: u64) -> AlarmSeen {
        AlarmSeen {
            name: name.into(),
            state: state.into(),
            updated_at: Some(at(minutes)),
        }
    }

    #[test]
    fn only_alarms_quiet_through_the_whole_soak_let_a_promotion_go() {
        let wanted: BTreeSet<String> = ["5xx", "latency"].iter().map(|s| s.to_string()).collect();
        let soak_from = at(100);
        // Quiet since before the deploy completed: promoted, both named in the record.
        let Evidence::Quiet(lines) = weigh(
            &wanted,
            &[alarm("5xx", "OK", 10), alarm("latency", "OK", 99)],
            soak_from,
        ) else {
            panic!("quiet alarms hold nothing back")
        };
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("5xx: OK since"), "{lines:?}");
        // In ALARM now.
        let held = weigh(
            &wanted,
            &[alarm("5xx", "ALARM", 10), alarm("latency", "OK", 10)],
            soak_from,
        );
        assert!(
            matches!(&held, Evidence::Held(why) if why.contains("`5xx` is in ALARM")),
            "{held:?}"
        );
        // Fired and recovered during the soak: OK now, but it changed after the deploy completed.
        let held = weigh(
            &wanted,
            &[alarm("5xx", "OK", 130), alarm("latency", "OK", 10)],
            soak_from,
        );
        assert!(
            matches!(&held, Evidence::Held(why) if why.contains("changed state during the soak")),
            "{held:?}"
        );
        // One that does not exist is no evidence.
        let held = weigh(&wanted, &[alarm("5xx", "OK", 10)], soak_from);
        assert!(
            matches!(&held, Evidence::Held(why) if why.contains("`latency` does not exist")),
            "{held:?}"
        );
        // Nothing watches it: nothing to hold it back.
        assert_eq!(weigh(&BTreeSet::new(), &[], soak_from), Evidence::Quiet(Vec::new()));
    }
}
