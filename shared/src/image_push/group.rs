//! Release groups (`group`): applications released together. A release is the deploys of the
//! group's members that one trigger started (one push of the image they follow, one group
//! promotion); when one member's deploy of a release fails, is rolled back or times out, the
//! others of that release that still run it (or roll it out) roll back to their last good. The
//! group's status is one line.

use super::{deploy_apps, Clients, Goal, Report};
use crate::input::config::{AppConfig, Config};
use crate::job::{Invocation, Settings};
use crate::records::{DeployIndex, DeployOutcome, DeployRecord, Trigger, TriggerKind};

/// A member to roll back because another member's deploy of the same release did not hold.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRollback<'a> {
    /// The member rolled back.
    pub app: &'a AppConfig,
    /// The release: the trigger of the deploys it started.
    pub release: Trigger,
    /// Why, said on the rollback's record.
    pub cause: String,
}

fn same_release(a: &Trigger, b: &Trigger) -> bool {
    a.kind == b.kind && a.id == b.id
}

/// The newest record of `index` (a release's deploy, or a rollback).
fn newest(index: &DeployIndex) -> Option<&DeployRecord> {
    index.records.first()
}

/// The groups `apps` are in, each once.
pub(crate) fn groups_of<'a>(apps: impl IntoIterator<Item = &'a AppConfig>) -> Vec<&'a str> {
    let mut groups: Vec<&str> = apps.into_iter().filter_map(|a| a.group.as_deref()).collect();
    groups.sort_unstable();
    groups.dedup();
    groups
}

/// The members to roll back (pure): for each member whose newest deploy, of a release, ended
/// failed, rolled back or timed out, every other member whose newest deploy is of that same
/// release and in progress or completed. A member already rolled back (its newest record is the
/// rollback) or deployed since is left alone, so a replay or the next run finds nothing.
pub fn rollbacks<'a>(group: &str, members: &[(&'a AppConfig, &DeployIndex)]) -> Vec<GroupRollback<'a>> {
    let mut found: Vec<GroupRollback<'a>> = Vec::new();
    for (failed_app, index) in members {
        let Some(failed) = newest(index) else {
            continue;
        };
        let did_not_hold = matches!(
            failed.outcome,
            DeployOutcome::Failed | DeployOutcome::RolledBack | DeployOutcome::TimedOut
        );
        if !did_not_hold || failed.trigger.kind == TriggerKind::Rollback {
            continue;
        }
        for (other, other_index) in members {
            let Some(mine) = newest(other_index) else {
                continue;
            };
            let holds = matches!(mine.outcome, DeployOutcome::InProgress | DeployOutcome::Completed);
            if other.name == failed_app.name
                || !holds
                || !same_release(&mine.trigger, &failed.trigger)
                || found.iter().any(|r| r.app.name == other.name)
            {
                continue;
            }
            found.push(GroupRollback {
                app: other,
                release: failed.trigger.clone(),
                cause: format!(
                    "group `{group}`: `{}`'s deploy {} of the same release ended {}",
                    failed_app.name,
                    failed.id,
                    failed.outcome.as_str()
                ),
            });
        }
    }
    found
}

/// The trigger of a group rollback: one id per group, release and member, so a replay or the
/// next settle run finds the rollback's record instead of rolling back again.
pub fn rollback_trigger(group: &str, rollback: &GroupRollback<'_>) -> Trigger {
    Trigger {
        kind: TriggerKind::Rollback,
        id: format!("group-{group}-{:?}-{}", rollback.release.kind, rollback.release.id),
        by: Some(rollback.cause.clone()),
    }
}

/// The group's members in the configuration.
pub fn members<'a>(config: &'a Config, group: &str) -> Vec<&'a AppConfig> {
    config
        .apps
        .iter()
        .filter(|a| a.group.as_deref() == Some(group))
        .collect()
}

/// Rolls back what [`rollbacks`] finds in `group` (one index read per member).
pub(crate) async fn sweep(
    clients: &Clients,
    config: &Config,
    settings: &Settings,
    invocation: &Invocation,
    group: &str,
) -> Vec<Report> {
    let Some(store) = &settings.records else {
        return Vec::new();
    };
    let apps = members(config, group);
    let mut indexes = Vec::new();
    for app in &apps {
        match store.read(&clients.s3, &app.name).await {
            Ok(index) => indexes.push((*app, index)),
            Err(err) => {
                return vec![Report::skipped(
                    app,
                    super::Outcome::Failed,
                    format!("{err}: group `{group}` not checked; the next settle run checks it"),
                )]
            }
        }
    }
    let read: Vec<(&AppConfig, &DeployIndex)> = indexes.iter().map(|(app, index)| (*app, index)).collect();
    let mut reports = Vec::new();
    for rollback in rollbacks(group, &read) {
        let trigger = rollback_trigger(group, &rollback);
        let goal = Goal::Rollback {
            revision: None,
            force: false,
        };
        reports.extend(
            Box::pin(deploy_apps(
                clients,
                &[rollback.app],
                &goal,
                settings,
                invocation,
                &trigger,
                false,
            ))
            .await,
        );
    }
    reports
}

/// `report` of what may have ended `app`'s deploy, followed by the rollbacks its release group
/// needs because of it (none for an application in no group).
pub(crate) async fn and_rollbacks(
    clients: &Clients,
    config: &Config,
    settings: &Settings,
    invocation: &Invocation,
    app: &AppConfig,
    report: Report,
) -> Vec<Report> {
    let mut reports = vec![report];
    if app.group.is_some() {
        reports.extend(Box::pin(sweep_groups_of(clients, config, settings, invocation, &[app])).await);
    }
    reports
}

/// [`sweep`] of every group one of `apps` is in.
pub(crate) async fn sweep_groups_of(
    clients: &Clients,
    config: &Config,
    settings: &Settings,
    invocation: &Invocation,
    apps: &[&AppConfig],
) -> Vec<Report> {
    let mut reports = Vec::new();
    for group in groups_of(apps.iter().copied()) {
        reports.extend(Box::pin(sweep(clients, config, settings, invocation, group)).await);
    }
    reports
}

/// The group's status in one line: its newest release and how each member's deploy of it
/// stands (`group shop, release push evt-1: orders completed, payments failed, web rolled back
/// by the group`).
pub fn group_line(group: &str, members: &[(&str, &DeployIndex)]) -> String {
    let release = members
        .iter()
        .flat_map(|(_, index)| index.records.iter())
        .filter(|r| r.trigger.kind != TriggerKind::Rollback)
        .max_by(|a, b| a.started_at.cmp(&b.started_at))
        .map(|r| r.trigger.clone());
    let Some(release) = release else {
        return format!("group {group}: no release yet");
    };
    let states: Vec<String> = members
        .iter()
        .map(|(name, index)| {
            let of_release = index.records.iter().find(|r| same_release(&r.trigger, &release));
            let rolled_back = index.records.first().is_some_and(|r| {
                r.trigger.kind == TriggerKind::Rollback && r.trigger.id.starts_with(&format!("group-{group}-"))
            });
            match (of_release, rolled_back) {
                (Some(_), true) => format!("{name} rolled back by the group"),
                (Some(record), false) => format!("{name} {}", record.outcome.as_str()),
                (None, _) => format!("{name} not in it"),
            }
        })
        .collect();
    let kind = serde_json::to_value(release.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    format!("group {group}, release {kind} {}: {}", release.id, states.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::DeployOutcome::{Completed, Failed, InProgress, RolledBack};
    use crate::testing::{app, deploy_record, digest};

    fn member(name: &str) -> AppConfig {
        AppConfig {
            name: name.into(),
            group: Some("shop".into()),
            ..app()
        }
    }

    /// An index whose records are `(trigger id, outcome)`, newest first.
    fn index(records: &[(&str, DeployOutcome)]) -> DeployIndex {
        DeployIndex {
            records: records
                .iter()
                .enumerate()
                .map(|(n, (id, outcome))| {
                    deploy_record(id, *outcome, &digest(n as u8), &format!("2026-12-07T1{}:00:00Z", 9 - n))
                })
                .collect(),
        }
    }

    #[test]
    fn a_failed_member_rolls_back_the_others_of_its_release_only() {
        let (orders, payments, web) = (member("orders"), member("payments"), member("web"));
        let failed = index(&[("push-2", Failed), ("push-1", Completed)]);
        let completed = index(&[("push-2", Completed), ("push-1", Completed)]);
        let rolling = index(&[("push-2", InProgress)]);
        // `web` deployed something newer since: not this release's any more.
        let moved_on = index(&[("push-3", Completed), ("push-2", Completed)]);
        let found = rollbacks(
            "shop",
            &[(&orders, &completed), (&payments, &failed), (&web, &moved_on)],
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].app.name, "orders");
        assert!(found[0].cause.contains("`payments`'s deploy push-2") && found[0].cause.contains("failed"));
        let trigger = rollback_trigger("shop", &found[0]);
        assert_eq!(
            (trigger.kind, trigger.id.as_str()),
            (TriggerKind::Rollback, "group-shop-Push-push-2")
        );
        // One in progress rolls back too; a rolled-back member counts as failed.
        let rolled_back = index(&[("push-2", RolledBack)]);
        let found = rollbacks("shop", &[(&orders, &rolling), (&payments, &rolled_back)]);
        assert_eq!(
            found.iter().map(|r| r.app.name.as_str()).collect::<Vec<_>>(),
            ["orders"]
        );
        // Once rolled back (its newest record is the rollback), nothing more: a replay is quiet.
        let mut done = completed.clone();
        let mut rollback = deploy_record("rb", Completed, &digest(1), "2026-12-07T20:00:00Z");
        rollback.trigger = trigger;
        done.records.insert(0, rollback);
        assert!(rollbacks("shop", &[(&orders, &done), (&payments, &failed)]).is_empty());
        // Nobody failed: nothing.
        assert!(rollbacks("shop", &[(&orders, &completed), (&payments, &completed)]).is_empty());
    }

    #[test]
    fn the_group_line_names_the_release_and_each_member() {
        let completed = index(&[("push-2", Completed), ("push-1", Completed)]);
        let failed = index(&[("push-2", Failed), ("push-1", Completed)]);
        let line = group_line("shop", &[("orders", &completed), ("payments", &failed)]);
        assert_eq!(
            line,
            "group shop, release push push-2: orders completed, payments failed"
        );
        let mut rolled = completed.clone();
        let mut rollback = deploy_record("rb", Completed, &digest(1), "2026-12-07T20:00:00Z");
        rollback.trigger = Trigger {
            kind: TriggerKind::Rollback,
            id: "group-shop-Push-push-2".into(),
            by: None,
        };
        rolled.records.insert(0, rollback);
        let line = group_line("shop", &[("orders", &rolled), ("payments", &failed)]);
        assert!(
            line.ends_with("orders rolled back by the group, payments failed"),
            "{line}"
        );
        assert_eq!(group_line("shop", &[]), "group shop: no release yet");
    }
}
