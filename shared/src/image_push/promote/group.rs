//! A release group's automatic promotions move together: once no member's source is still
//! deploying and none soaks, every member with something to promote is deployed under one
//! trigger (one release: a member that fails rolls the others back, see
//! [`crate::image_push::group`]); alarms that hold one member's promotion back hold them all.

use std::time::{Duration, SystemTime};

use super::{asked_by, decide, deploy_promotion, source_of, weigh_evidence, Decision, Wanted};
use crate::image_push::{Clients, Outcome, Report};
use crate::input::config::{AppConfig, Config, PromotionPolicy};
use crate::job::{Invocation, Settings};
use crate::records::DeployOutcome;

/// The trigger id of a group promotion: the group and the source deploys it promotes, so a
/// replay or a second run names the same release, and [`promoted_by`] knows each source deploy.
pub fn group_trigger_id(group: &str, source_deploys: &[&str]) -> String {
    let mut sorted = source_deploys.to_vec();
    sorted.sort_unstable();
    format!("group-{group}:{}", sorted.join(","))
}

/// True when a promotion record's trigger id promoted the source deploy `source_deploy`: its
/// own promotion (the source deploy's id), or a group promotion naming it.
pub fn promoted_by(trigger_id: &str, source_deploy: &str) -> bool {
    trigger_id == source_deploy
        || trigger_id.split_once(':').is_some_and(|(group, deploys)| {
            group.starts_with("group-") && deploys.split(',').any(|d| d == source_deploy)
        })
}

/// A member's promotion decided now.
struct Chosen<'a> {
    target: &'a AppConfig,
    source: &'a AppConfig,
    digest: String,
    source_deploy: String,
    completed_at: String,
}

/// Promotes `group`'s automatically promoted members together, or nothing while one of their
/// sources deploys or soaks. With `due_only` (a source's completion), only a group whose
/// members soak for no time.
pub(super) async fn promote_group(
    clients: &Clients,
    config: &Config,
    settings: &Settings,
    invocation: &Invocation,
    group: &str,
    now: SystemTime,
    due_only: bool,
) -> Vec<Report> {
    let Some(store) = &settings.records else {
        return Vec::new();
    };
    let members: Vec<&AppConfig> = config
        .apps
        .iter()
        .filter(|a| a.group.as_deref() == Some(group) && a.promote_from.is_some())
        .filter(|a| a.promotion().policy() == PromotionPolicy::Auto)
        .collect();
    if due_only && members.iter().any(|m| m.promotion().soak_minutes > 0) {
        return Vec::new();
    }
    let mut chosen = Vec::new();
    for target in members {
        let Some(source) = source_of(config, target) else {
            continue;
        };
        let (source_index, target_index) = match (
            store.read(&clients.s3, &source.name).await,
            store.read(&clients.s3, &target.name).await,
        ) {
            (Ok(source_index), Ok(target_index)) => (source_index, target_index),
            (Err(err), _) | (_, Err(err)) => {
                return vec![Report::skipped(
                    target,
                    Outcome::Failed,
                    format!("{err}: group `{group}` not promoted; a later run tries again"),
                )]
            }
        };
        // The release is not over while a member's source still deploys it.
        if source_index
            .records
            .first()
            .is_some_and(|r| r.outcome == DeployOutcome::InProgress)
        {
            tracing::info!(group, app = %target.name, source = %source.name, "group promotion waits for a source");
            return Vec::new();
        }
        let soak = Duration::from_secs(u64::from(target.promotion().soak_minutes) * 60);
        match decide(&source.name, &source_index, &target_index, Wanted::Auto, soak, now) {
            Ok(Decision::Promote {
                digest,
                source_deploy,
                completed_at,
            }) => chosen.push(Chosen {
                target,
                source,
                digest,
                source_deploy,
                completed_at,
            }),
            Ok(Decision::Soaking { .. }) => return Vec::new(),
            Ok(Decision::Nothing(_)) | Err(_) => {}
        }
    }
    if chosen.is_empty() {
        return Vec::new();
    }
    let mut evidence = Vec::new();
    for member in &chosen {
        match weigh_evidence(
            clients,
            member.source,
            member.target,
            &member.digest,
            &member.completed_at,
            now,
        )
        .await
        {
            Ok(checked) => evidence.push(checked),
            Err(held) => return vec![held],
        }
    }
    let deploys: Vec<&str> = chosen.iter().map(|c| c.source_deploy.as_str()).collect();
    let trigger_id = group_trigger_id(group, &deploys);
    let mut reports = Vec::new();
    for (member, checked) in chosen.iter().zip(&evidence) {
        let asked = format!("group {group}: {}", asked_by(&member.source.name, None));
        reports.push(
            Box::pin(deploy_promotion(
                clients,
                settings,
                invocation,
                member.target,
                &member.digest,
                trigger_id.clone(),
                asked,
                checked,
                false,
            ))
            .await,
        );
    }
    reports
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_promotion_names_every_source_deploy_in_one_stable_id() {
        let id = group_trigger_id("shop", &["push-b", "push-a"]);
        assert_eq!(id, "group-shop:push-a,push-b");
        assert_eq!(id, group_trigger_id("shop", &["push-a", "push-b"]));
        assert!(promoted_by(&id, "push-a") && promoted_by(&id, "push-b"));
        assert!(!promoted_by(&id, "push-c") && !promoted_by(&id, "push"));
        assert!(promoted_by("push-a", "push-a"));
        assert!(!promoted_by("other:push-a", "push-a"));
    }
}
