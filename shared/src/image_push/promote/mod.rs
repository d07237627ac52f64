//! Promotion by digest: an application naming `promote_from` receives exactly the digest its
//! source completed — not a rebuild, not a tag that may have moved since.
//!
//! [`decide`] is the rule (pure): which of the source's deploys may be promoted now, from both
//! applications' deploy records. The rest carries it out: automatically when the source's deploy
//! completes (no soak) or from the settle run (after the soak), on a `promote` payload, or on an
//! `approve` payload when the target asks for approval (a `Promotion Pending` event and a
//! pending object `promotions/<app>.json` in the state bucket wait for it). A promotion is a
//! deploy like any other: digest-pinned, recorded with trigger `promotion`, followed to its end.

mod approval;
pub mod evidence;
pub mod group;

use std::time::{Duration, SystemTime};

use super::{deploy_apps, Clients, Goal, Outcome, Report};
use crate::input::config::{AppConfig, Approval, Config, PromotionPolicy};
use crate::input::events::DeployTarget;
use crate::input::{quoted, InputError};
use crate::job::{Invocation, Settings};
use crate::records::{format_time, parse_time, DeployIndex, DeployOutcome, Trigger, TriggerKind};

use approval::ask_approval;
pub use approval::{approve, check_approver, read_pending, PendingPromotion, PENDING_EXPIRES_AFTER};

/// Which of the source's digests a promotion asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted<'a> {
    /// The automatic rule: the source's newest deploy, once completed and soaked.
    Auto,
    /// A `promote` payload without a digest: the source's newest completed deploy.
    LastCompleted,
    /// A `promote` payload naming a digest: it must have completed in the source.
    Digest(&'a str),
}

/// What may be promoted now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Deploy `digest`, completed by the source's deploy `source_deploy` at `completed_at`.
    Promote {
        /// The digest.
        digest: String,
        /// The source's deploy that completed it (the promotion's trigger id).
        source_deploy: String,
        /// When it completed.
        completed_at: String,
    },
    /// The source's deploy completed but has not soaked yet.
    Soaking {
        /// The digest.
        digest: String,
        /// When the soak ends.
        until: String,
    },
    /// Nothing to promote, and why (not a failure).
    Nothing(String),
}

/// Decides a promotion from the source's and the target's records. `Err` is a refusal of what
/// was asked (a digest that never completed in the source).
pub fn decide(
    source_name: &str,
    source: &DeployIndex,
    target: &DeployIndex,
    wanted: Wanted<'_>,
    soak: Duration,
    now: SystemTime,
) -> Result<Decision, String> {
    let completed = |r: &&crate::records::DeployRecord| r.outcome == DeployOutcome::Completed && r.digest.is_some();
    let chosen = match wanted {
        Wanted::Auto => match source.records.first() {
            None => return Ok(Decision::Nothing(format!("`{source_name}` has no deploy yet"))),
            Some(newest) if newest.outcome == DeployOutcome::InProgress => {
                return Ok(Decision::Nothing(format!(
                    "`{source_name}` is deploying {} (deploy {}): its digest is promoted once that deploy completes",
                    newest.digest.as_deref().unwrap_or("an image"),
                    newest.id
                )))
            }
            Some(newest) if !completed(&newest) => {
                return Ok(Decision::Nothing(format!(
                    "`{source_name}`'s last deploy {} ended {}: a deploy that did not complete is never promoted",
                    newest.id,
                    newest.outcome.as_str()
                )))
            }
            Some(newest) => newest,
        },
        Wanted::LastCompleted => match source.records.iter().find(completed) {
            Some(record) => record,
            None => return Err(format!("`{source_name}` has no completed deploy to promote")),
        },
        Wanted::Digest(digest) => match source
            .records
            .iter()
            .filter(completed)
            .find(|r| r.digest.as_deref() == Some(digest))
        {
            Some(record) => record,
            None => {
                return Err(format!(
                    "{digest} never completed in `{source_name}` (its records name no completed deploy of it): only a digest proven there is promoted"
                ))
            }
        },
    };
    let digest = chosen.digest.clone().unwrap_or_default();
    let completed_at = chosen.ended_at.clone().unwrap_or_else(|| chosen.started_at.clone());
    // A promotion that never started (refused, throttled: a failed record without an ECS
    // deployment) is tried again; one that started is not.
    if let Some(done) = target.records.iter().find(|r| {
        r.trigger.kind == TriggerKind::Promotion
            && group::promoted_by(&r.trigger.id, &chosen.id)
            && wanted == Wanted::Auto
            && !(r.outcome == DeployOutcome::Failed && r.ecs_deployment_id.is_none())
    }) {
        return Ok(Decision::Nothing(format!(
            "{digest} was already promoted from `{source_name}` (deploy {}, {})",
            done.id,
            done.outcome.as_str()
        )));
    }
    let target_runs = target.records.iter().find(completed).and_then(|r| r.digest.as_deref());
    if wanted == Wanted::Auto && target_runs == Some(digest.as_str()) {
        return Ok(Decision::Nothing(format!("already runs {digest}")));
    }
    if wanted == Wanted::Auto {
        let until = parse_time(&completed_at).map(|at| at + soak);
        if let Some(until) = until.filter(|until| *until > now) {
            return Ok(Decision::Soaking {
                digest,
                until: format_time(until),
            });
        }
    }
    Ok(Decision::Promote {
        digest,
        source_deploy: chosen.id.clone(),
        completed_at,
    })
}

/// The source of `target`, when it is promoted from one.
fn source_of<'a>(config: &'a Config, target: &AppConfig) -> Option<&'a AppConfig> {
    config.app(target.promote_from.as_deref()?)
}

/// What asked for a promotion: the payload's `by`, else the rule.
fn asked_by(source: &str, by: Option<&str>) -> String {
    match by {
        Some(by) => format!("promotion from {source}, asked by {by}"),
        None => format!("promotion from {source}"),
    }
}

/// The automatic promotions `source`'s news may start: every application promoted from it with
/// the `auto` policy (with `due_only`, those whose soak is 0: the completion itself is the news).
pub async fn promote_followers(
    clients: &Clients,
    config: &Config,
    settings: &Settings,
    invocation: &Invocation,
    source: &AppConfig,
    now: SystemTime,
    due_only: bool,
) -> Vec<Report> {
    let mut reports = Vec::new();
    let mut groups: Vec<&str> = Vec::new();
    for target in config
        .apps
        .iter()
        .filter(|a| a.promote_from.as_deref() == Some(source.name.as_str()))
        .filter(|a| a.promotion().policy() == PromotionPolicy::Auto)
        .filter(|a| !due_only || a.promotion().soak_minutes == 0)
    {
        // A release group's members move together.
        if let Some(group) = target.group.as_deref() {
            if !groups.contains(&group) {
                groups.push(group);
                reports.extend(
                    Box::pin(group::promote_group(
                        clients, config, settings, invocation, group, now, due_only,
                    ))
                    .await,
                );
            }
            continue;
        }
        match promote(
            clients,
            config,
            settings,
            invocation,
            target,
            Wanted::Auto,
            None,
            false,
            now,
        )
        .await
        {
            Ok(Some(report)) => reports.push(report),
            Ok(None) => {}
            Err(err) => reports.push(Report::skipped(target, Outcome::Failed, err.to_string())),
        }
    }
    reports
}

/// Promotes to `target` what `wanted` names: deploys it, or, when the target asks for approval,
/// publishes `Promotion Pending` and records what waits. `Ok(None)`: an automatic promotion
/// with nothing to do (reported only when asked for by a payload).
#[allow(clippy::too_many_arguments)]
pub async fn promote(
    clients: &Clients,
    config: &Config,
    settings: &Settings,
    invocation: &Invocation,
    target: &AppConfig,
    wanted: Wanted<'_>,
    by: Option<&str>,
    dry_run: bool,
    now: SystemTime,
) -> Result<Option<Report>, InputError> {
    let Some(source) = source_of(config, target) else {
        return Err(InputError::new(
            "promote.app",
            format!("an application with `promote_from`, got {}", quoted(&target.name)),
        ));
    };
    let Some(store) = &settings.records else {
        return Err(InputError::new(
            "promote",
            "deploy records (DEPLOYER_STATE_BUCKET): promotions are decided from them",
        ));
    };
    let indexes = async {
        Ok::<_, crate::aws::AwsError>((
            store.read(&clients.s3, &source.name).await?,
            store.read(&clients.s3, &target.name).await?,
        ))
    }
    .await;
    let (source_index, target_index) = match indexes {
        Ok(read) => read,
        Err(err) => return Ok(Some(Report::skipped(target, Outcome::Failed, err.to_string()))),
    };
    let policy = target.promotion();
    let soak = Duration::from_secs(u64::from(policy.soak_minutes) * 60);
    let field = match wanted {
        Wanted::Digest(_) => "promote.digest",
        _ => "promote.app",
    };
    let decision = decide(&source.name, &source_index, &target_index, wanted, soak, now)
        .map_err(|refusal| InputError::new(field, refusal))?;
    let (digest, source_deploy, completed_at) = match decision {
        Decision::Nothing(reason) if wanted == Wanted::Auto => {
            tracing::debug!(app = %target.name, reason = %reason, "nothing to promote");
            return Ok(None);
        }
        Decision::Nothing(reason) => return Ok(Some(Report::skipped(target, Outcome::Unchanged, reason))),
        Decision::Soaking { digest, until } => {
            tracing::info!(app = %target.name, digest = %digest, until = %until, "promotion soaking");
            return Ok(None);
        }
        Decision::Promote {
            digest,
            source_deploy,
            completed_at,
        } => (digest, source_deploy, completed_at),
    };
    let checked = match weigh_evidence(clients, source, target, &digest, &completed_at, now).await {
        Ok(checked) => checked,
        Err(report) => return Ok(Some(report)),
    };
    let asked = asked_by(&source.name, by);
    if policy.approval == Some(Approval::Manual) {
        return Ok(Some(
            ask_approval(
                clients,
                settings,
                store,
                target,
                &source.name,
                &digest,
                &source_deploy,
                &asked,
                invocation.caller.as_deref(),
                dry_run,
                now,
            )
            .await,
        ));
    }
    // A payload's promotion is its own deploy (its request id); the automatic one is named by
    // the source's deploy, so a replayed completion or a second settle run promotes it once.
    let trigger_id = match wanted {
        Wanted::Auto => source_deploy,
        _ => invocation.request_id.clone(),
    };
    Ok(Some(
        deploy_promotion(
            clients, settings, invocation, target, &digest, trigger_id, asked, &checked, dry_run,
        )
        .await,
    ))
}

/// What the alarms watching `source` say of promoting `digest` to `target`, its soak having
/// begun when the source's deploy completed (`completed_at`): the alarms checked, or the report
/// that holds the promotion back (or says the alarms could not be read).
async fn weigh_evidence(
    clients: &Clients,
    source: &AppConfig,
    target: &AppConfig,
    digest: &str,
    completed_at: &str,
    now: SystemTime,
) -> Result<Vec<String>, Report> {
    let soak_from = parse_time(completed_at).unwrap_or(now);
    match Box::pin(evidence::gather(clients, source, target, soak_from)).await {
        Ok(evidence::Evidence::Quiet(checked)) => Ok(checked),
        Ok(evidence::Evidence::Held(why)) => {
            tracing::warn!(app = %target.name, digest = %digest, why = %why, "promotion held back");
            Err(Report::skipped(
                target,
                Outcome::Unchanged,
                format!("{digest} from `{}` is held back: {why}", source.name),
            ))
        }
        Err(err) => Err(Report::skipped(
            target,
            Outcome::Failed,
            format!("{err}: the alarms that hold promotions back could not be read; a later run tries again"),
        )),
    }
}

/// Deploys `digest` to `target` as a promotion.
#[allow(clippy::too_many_arguments)]
async fn deploy_promotion(
    clients: &Clients,
    settings: &Settings,
    invocation: &Invocation,
    target: &AppConfig,
    digest: &str,
    trigger_id: String,
    asked: String,
    checked: &[String],
    dry_run: bool,
) -> Report {
    let trigger = Trigger {
        kind: TriggerKind::Promotion,
        id: trigger_id,
        by: Some(asked),
    };
    let goal = Goal::Manual(DeployTarget::Digest(digest.to_owned()));
    let mut reports = deploy_apps(clients, &[target], &goal, settings, invocation, &trigger, dry_run).await;
    let mut report = reports
        .pop()
        .unwrap_or_else(|| Report::skipped(target, Outcome::Failed, "no answer"));
    if report.reason.is_none() {
        report.reason = trigger.by;
    }
    // The promotion's record says what evidence let it go.
    if let (Some(id), Some(store), false) = (report.deploy_id.clone(), &settings.records, dry_run) {
        let note = match checked {
            [] => "evidence: no alarm watches the source".to_owned(),
            lines => format!("evidence: alarms quiet through the soak: {}", lines.join("; ")),
        };
        let noted = super::record::update_publishing(clients, settings, store, &target.name, None, |index| {
            index.note(&id, &note)
        })
        .await;
        if let Err(err) = noted {
            tracing::warn!(app = %target.name, error = %err, "the promotion's evidence was not noted on its record");
        }
    }
    report
}

#[cfg(test)]
mod tests;
