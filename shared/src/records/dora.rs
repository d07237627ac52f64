//! The four DORA figures of one application, from its deploy records: deploy frequency, lead
//! time, change-failure rate and time to restore. Pure. The index keeps the newest
//! [`super::KEPT_IN_INDEX`] deploys, so the figures cover those (the window says how long they
//! span), not all of history.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::{parse_time, DeployOutcome, DeployRecord};

/// One application's DORA figures over the deploys its index keeps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dora {
    /// Days from the oldest deploy kept to now (at least 1).
    pub window_days: f64,
    /// Deploys that ended: completed, failed, rolled back or timed out (superseded ones never
    /// reached production and count for nothing).
    pub deploys: usize,
    /// Completed deploys per day over the window.
    pub deploys_per_day: f64,
    /// Median time from a deploy's start (the push, the payload) to ECS saying it completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead_time_seconds: Option<u64>,
    /// Failed, rolled-back and timed-out deploys over all that ended (0-1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_failure_rate: Option<f64>,
    /// Median time from a failed deploy's end to the next completed deploy's end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_to_restore_seconds: Option<u64>,
}

fn median(mut values: Vec<u64>) -> Option<u64> {
    values.sort_unstable();
    match values.len() {
        0 => None,
        n if n % 2 == 1 => Some(values[n / 2]),
        n => Some((values[n / 2 - 1] + values[n / 2]) / 2),
    }
}

/// The figures of `records` (any order) at `now`.
pub fn dora(records: &[DeployRecord], now: SystemTime) -> Dora {
    let mut ended: Vec<(&DeployRecord, SystemTime)> = records
        .iter()
        .filter(|r| {
            matches!(
                r.outcome,
                DeployOutcome::Completed | DeployOutcome::Failed | DeployOutcome::RolledBack | DeployOutcome::TimedOut
            )
        })
        .filter_map(|r| Some((r, parse_time(r.ended_at.as_deref()?)?)))
        .collect();
    ended.sort_by_key(|(_, at)| *at);
    let oldest = records
        .iter()
        .filter_map(|r| parse_time(&r.started_at))
        .min()
        .unwrap_or(now);
    let window = now
        .duration_since(oldest)
        .unwrap_or_default()
        .max(Duration::from_secs(86_400));
    let window_days = window.as_secs_f64() / 86_400.0;
    let completed: Vec<&(&DeployRecord, SystemTime)> = ended
        .iter()
        .filter(|(r, _)| r.outcome == DeployOutcome::Completed)
        .collect();
    let lead_time_seconds = median(
        completed
            .iter()
            .filter_map(|(r, at)| Some(at.duration_since(parse_time(&r.started_at)?).ok()?.as_secs()))
            .collect(),
    );
    let failures = ended.len() - completed.len();
    let restores: Vec<u64> = ended
        .iter()
        .filter(|(r, _)| r.outcome != DeployOutcome::Completed)
        .filter_map(|(_, failed_at)| {
            let restored = ended
                .iter()
                .find(|(r, at)| r.outcome == DeployOutcome::Completed && at > failed_at)?;
            Some(restored.1.duration_since(*failed_at).ok()?.as_secs())
        })
        .collect();
    Dora {
        window_days: (window_days * 10.0).round() / 10.0,
        deploys: ended.len(),
        deploys_per_day: ((completed.len() as f64 / window_days) * 100.0).round() / 100.0,
        lead_time_seconds,
        change_failure_rate: (!ended.is_empty())
            .then(|| ((failures as f64 / ended.len() as f64) * 1000.0).round() / 1000.0),
        time_to_restore_seconds: median(restores),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::format_time;
    use crate::testing::deploy_record;
    use std::time::UNIX_EPOCH;

    fn at(hours: u64, minutes: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000 + hours * 3600 + minutes * 60)
    }

    /// A deploy started at `hours`:00 that ended `minutes` later as `outcome`.
    fn deploy(id: &str, outcome: DeployOutcome, hours: u64, minutes: u64) -> DeployRecord {
        let mut record = deploy_record(id, outcome, "sha256:aa", &format_time(at(hours, 0)));
        record.started_at = format_time(at(hours, 0));
        record.ended_at = Some(format_time(at(hours, minutes)));
        record
    }

    #[test]
    fn the_four_figures_come_from_the_records() {
        let records = vec![
            deploy("a", DeployOutcome::Completed, 0, 10),
            deploy("b", DeployOutcome::RolledBack, 24, 20),
            deploy("c", DeployOutcome::Completed, 25, 20), // restores b: 1 h after b ended
            deploy("d", DeployOutcome::Superseded, 30, 1), // never reached production
            deploy("e", DeployOutcome::Failed, 48, 5),
            deploy("f", DeployOutcome::Completed, 50, 30), // restores e: 2 h 25 min after
        ];
        let mut in_progress = deploy("g", DeployOutcome::InProgress, 71, 0);
        in_progress.ended_at = None;
        let mut all = records.clone();
        all.push(in_progress);
        let figures = dora(&all, at(72, 0));
        assert_eq!(figures.window_days, 3.0);
        assert_eq!(figures.deploys, 5, "superseded and in-progress deploys are not counted");
        assert_eq!(figures.deploys_per_day, 1.0, "3 completed over 3 days");
        assert_eq!(
            figures.lead_time_seconds,
            Some(20 * 60),
            "median of 10, 20 and 30 minutes"
        );
        assert_eq!(figures.change_failure_rate, Some(0.4), "2 of 5");
        assert_eq!(figures.time_to_restore_seconds, Some((3600 + 8700) / 2));
        // No deploy yet: nothing to say but the window.
        let none = dora(&[], at(72, 0));
        assert_eq!(
            (none.deploys, none.lead_time_seconds, none.change_failure_rate),
            (0, None, None)
        );
        assert_eq!(none.window_days, 1.0);
        // A failure not restored yet has no time to restore.
        let open = dora(&[deploy("x", DeployOutcome::Failed, 0, 5)], at(2, 0));
        assert_eq!(
            (open.change_failure_rate, open.time_to_restore_seconds),
            (Some(1.0), None)
        );
    }
}
