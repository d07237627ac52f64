//! Promotion by digest: an application naming `promote_from` receives exactly the digest its
//! source completed — not a rebuild, not a tag that may have moved since.
//!
//! [`decide`] is the rule (pure): which of the source's deploys may be promoted now, from both
//! applications' deploy records. The rest carries it out: automatically when the source's deploy
//! completes (no soak) or from the settle run (after the soak), on a `promote` payload, or on an
//! `approve` payload when the target asks for approval (a `Promotion Pending` event and a
//! pending object `promotions/<app>.json` in the state bucket wait for it). A promotion is a
//! deploy like any other: digest-pinned, recorded with trigger `promotion`, followed to its end.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::{deploy_apps, Clients, Goal, Outcome, Report};
use crate::aws::events::Entry;
use crate::aws::s3::{put_json, read_object};
use crate::input::config::{AppConfig, Approval, Config, PromotionPolicy};
use crate::input::events::DeployTarget;
use crate::input::function_url::{acts_as, principal_of};
use crate::input::{quoted, InputError};
use crate::job::{Invocation, Settings};
use crate::notify;
use crate::records::{format_time, parse_time, DeployIndex, DeployOutcome, RecordStore, Trigger, TriggerKind};

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
            && r.trigger.id == chosen.id
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

/// A promotion waiting for approval: `promotions/<app>.json` in the state bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingPromotion {
    /// The application promoted to.
    pub app: String,
    /// The source application.
    pub source: String,
    /// The digest.
    pub digest: String,
    /// The source's deploy that completed it.
    pub source_deploy: String,
    /// When the promotion started waiting.
    pub asked_at: String,
    /// Who or what asked (`promotion from <source>`, or a payload's `by`).
    pub asked_by: String,
    /// Who signed the request that asked, when it came through the function URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asked_by_caller: Option<String>,
    /// Who approved it, once approved (the signer's ARN when it came through the function URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// When it was approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_at: Option<String>,
}

/// How long a promotion waits for its approval before an `approve` is refused.
pub const PENDING_EXPIRES_AFTER: Duration = Duration::from_secs(24 * 3600);

fn pending_key(app: &str) -> String {
    format!("promotions/{app}.json")
}

/// `app`'s last promotion that asked for approval, waiting or approved.
async fn read_asked(
    clients: &Clients,
    store: &RecordStore,
    app: &str,
) -> Result<Option<PendingPromotion>, crate::aws::AwsError> {
    let Some((bytes, _)) = read_object(&clients.s3, &store.bucket, &pending_key(app)).await? else {
        return Ok(None);
    };
    Ok(serde_json::from_slice(&bytes).ok())
}

/// The promotion waiting for `app`'s approval, if any (approved ones are not waiting).
pub async fn read_pending(
    clients: &Clients,
    store: &RecordStore,
    app: &str,
) -> Result<Option<PendingPromotion>, crate::aws::AwsError> {
    Ok(read_asked(clients, store, app)
        .await?
        .filter(|p| p.approved_at.is_none()))
}

async fn write_pending(
    clients: &Clients,
    store: &RecordStore,
    pending: &PendingPromotion,
) -> Result<(), crate::aws::AwsError> {
    let body = serde_json::to_vec_pretty(pending).unwrap_or_default();
    put_json(&clients.s3, &store.bucket, &pending_key(&pending.app), body).await
}

/// The source of `target`, when it is promoted from one.
fn source_of<'a>(config: &'a Config, target: &AppConfig) -> Option<&'a AppConfig> {
    config.app(target.promote_from.as_deref()?)
}

/// With `approvers` configured, an approval must be signed (through the function URL) by one
/// of them: a plain invoke names nobody, so it is refused before anything is read.
fn check_approver(config: &Config, caller: Option<&str>) -> Result<(), InputError> {
    if config.approvers.is_empty() {
        return Ok(());
    }
    match caller {
        Some(caller) if config.approvers.iter().any(|listed| acts_as(caller, listed)) => Ok(()),
        Some(caller) => Err(InputError::new(
            "approve",
            format!(
                "an approval signed by one of `approvers`; {} acts as {}, which is not listed",
                quoted(caller),
                principal_of(caller)
            ),
        )),
        None => Err(InputError::new(
            "approve",
            "an approval through image-push's function URL (AWS_IAM), which names who signs it: a plain invoke names nobody, and `approvers` is set",
        )),
    }
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
    for target in config
        .apps
        .iter()
        .filter(|a| a.promote_from.as_deref() == Some(source.name.as_str()))
        .filter(|a| a.promotion().policy() == PromotionPolicy::Auto)
        .filter(|a| !due_only || a.promotion().soak_minutes == 0)
    {
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
    let (digest, source_deploy) = match decision {
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
            digest, source_deploy, ..
        } => (digest, source_deploy),
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
            clients, settings, invocation, target, &digest, trigger_id, asked, dry_run,
        )
        .await,
    ))
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
    report
}

/// Records the promotion as pending and publishes `Promotion Pending` (once per digest: a
/// second ask of the same digest changes nothing).
#[allow(clippy::too_many_arguments)]
async fn ask_approval(
    clients: &Clients,
    settings: &Settings,
    store: &RecordStore,
    target: &AppConfig,
    source: &str,
    digest: &str,
    source_deploy: &str,
    asked: &str,
    caller: Option<&str>,
    dry_run: bool,
    now: SystemTime,
) -> Report {
    let pending = PendingPromotion {
        app: target.name.clone(),
        source: source.to_owned(),
        digest: digest.to_owned(),
        source_deploy: source_deploy.to_owned(),
        asked_at: format_time(now),
        asked_by: asked.to_owned(),
        asked_by_caller: caller.map(str::to_owned),
        approved_by: None,
        approved_at: None,
    };
    let waiting = |outcome, reason: String| Report {
        image: Some(digest.to_owned()),
        ..Report::skipped(target, outcome, reason)
    };
    let reason = format!(
        "{digest} from `{source}` waits for approval: {{\"approve\": {{\"app\": \"{}\", \"digest\": \"{digest}\"}}}}",
        target.name
    );
    if dry_run {
        return waiting(Outcome::Planned, reason);
    }
    let asked_before = match read_asked(clients, store, &target.name).await {
        Ok(found) => found,
        Err(err) => return waiting(Outcome::Failed, err.to_string()),
    };
    match asked_before {
        // Still waiting: asked once, published once.
        Some(p) if p.approved_at.is_none() && p.digest == digest => return waiting(Outcome::Pending, reason),
        // An approved promotion of this very deploy is not asked again.
        Some(p) if p.approved_at.is_some() && p.source_deploy == source_deploy => {
            return waiting(
                Outcome::Unchanged,
                format!("{digest} from `{source}` was approved already"),
            )
        }
        _ => {}
    }
    if let Err(err) = write_pending(clients, store, &pending).await {
        return waiting(Outcome::Failed, format!("{err}; a retry asks again"));
    }
    if let Some(bus) = &settings.event_bus {
        let entry = Entry {
            detail_type: notify::PROMOTION_PENDING.to_owned(),
            detail: serde_json::json!({
                "app": target.name,
                "source": source,
                "digest": digest,
                "source_deploy": source_deploy,
                "asked_by": asked,
                "approve": {"approve": {"app": target.name, "digest": digest}},
            }),
        };
        if let Err(err) = notify::publish(&clients.events, bus, &[entry]).await {
            tracing::error!(bus = %bus, error = %err, "Promotion Pending not published");
        }
    }
    waiting(Outcome::Pending, reason)
}

/// An `approve` payload: the pending promotion of `app` proceeds if it is still `digest`.
pub async fn approve(
    clients: &Clients,
    config: &Config,
    settings: &Settings,
    invocation: &Invocation,
    app: &str,
    digest: &str,
    by: Option<&str>,
) -> Result<Report, InputError> {
    let target = config.find_app(app, "approve.app")?;
    let caller = invocation.caller.as_deref();
    check_approver(config, caller)?;
    let Some(store) = &settings.records else {
        return Err(InputError::new(
            "approve",
            "deploy records (DEPLOYER_STATE_BUCKET): approvals are kept there",
        ));
    };
    let pending = match read_pending(clients, store, &target.name).await {
        Ok(Some(pending)) => pending,
        Ok(None) => {
            return Err(InputError::new(
                "approve.app",
                format!("an application with a promotion waiting for approval; none waits for `{app}`"),
            ))
        }
        Err(err) => return Ok(Report::skipped(target, Outcome::Failed, err.to_string())),
    };
    if pending.digest != digest {
        return Err(InputError::new(
            "approve.digest",
            format!(
                "the digest waiting for approval ({} from `{}`), got {}: that one is no longer (or never was) pending",
                pending.digest,
                pending.source,
                quoted(digest)
            ),
        ));
    }
    if let (Some(caller), Some(asker), false) =
        (caller, pending.asked_by_caller.as_deref(), config.approvers.is_empty())
    {
        if config.approver_not_asker && principal_of(caller) == principal_of(asker) {
            return Err(InputError::new(
                "approve",
                format!(
                    "an approver other than who asked for the promotion ({}); `approver_not_asker` is on",
                    principal_of(asker)
                ),
            ));
        }
    }
    // A pending promotion expires; and what it moves must still stand where it came from.
    let now = SystemTime::now();
    let waited = parse_time(&pending.asked_at).and_then(|at| now.duration_since(at).ok());
    if pending.approved_by.is_none() && waited.is_none_or(|waited| waited > PENDING_EXPIRES_AFTER) {
        return Err(InputError::new(
            "approve.digest",
            format!(
                "the promotion of {digest} has waited since {}: pending promotions expire after {} h; ask again with {{\"promote\": {{\"app\": \"{app}\"}}}}",
                pending.asked_at,
                PENDING_EXPIRES_AFTER.as_secs() / 3600
            ),
        ));
    }
    match store.read(&clients.s3, &pending.source).await {
        Err(err) => return Ok(Report::skipped(target, Outcome::Failed, err.to_string())),
        Ok(index) => {
            let source_deploy = index.get(&pending.source_deploy);
            let stands = source_deploy
                .is_some_and(|d| d.outcome == DeployOutcome::Completed && d.digest.as_deref() == Some(digest));
            if !stands {
                let now_is = source_deploy.map_or("no longer recorded", |d| d.outcome.as_str());
                return Err(InputError::new(
                    "approve.digest",
                    format!(
                        "{digest} came from `{}`'s deploy {}, which is {now_is} there now: only what its source completed is promoted",
                        pending.source, pending.source_deploy
                    ),
                ));
            }
        }
    }
    let approved_by = caller.or(by).unwrap_or("an approve payload").to_owned();
    let asked = format!("promotion from {}, approved by {approved_by}", pending.source);
    let report = deploy_promotion(
        clients,
        settings,
        invocation,
        target,
        digest,
        pending.source_deploy.clone(),
        asked,
        false,
    )
    .await;
    if matches!(report.outcome, Outcome::Deployed | Outcome::Unchanged) {
        let done = PendingPromotion {
            approved_by: Some(approved_by),
            approved_at: Some(format_time(SystemTime::now())),
            ..pending
        };
        if let Err(err) = write_pending(clients, store, &done).await {
            tracing::error!(app = %target.name, error = %err, "approval not marked done; a second approve finds the deploy unchanged");
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::DeployRecord;
    use crate::testing::{deploy_record, digest};

    /// A deploy record; with `promoted_from`, a promotion named by that source deploy.
    fn record(
        id: &str,
        outcome: DeployOutcome,
        digest: &str,
        ended: &str,
        promoted_from: Option<&str>,
    ) -> DeployRecord {
        let mut record = deploy_record(id, outcome, digest, ended);
        if let Some(source) = promoted_from {
            record.trigger = Trigger {
                kind: TriggerKind::Promotion,
                id: source.into(),
                by: None,
            };
        }
        record
    }

    fn index(records: Vec<DeployRecord>) -> DeployIndex {
        DeployIndex { records }
    }

    fn at(text: &str) -> SystemTime {
        parse_time(text).unwrap()
    }

    #[test]
    fn a_completed_deploy_is_promoted_after_its_soak_and_once() {
        let staging = index(vec![record(
            "push-2",
            DeployOutcome::Completed,
            &digest(2),
            "2026-12-01T10:00:00Z",
            None,
        )]);
        let prod = DeployIndex::default();
        let soak = Duration::from_secs(30 * 60);
        let decide_at =
            |now, prod: &DeployIndex| decide("staging", &staging, prod, Wanted::Auto, soak, at(now)).unwrap();
        assert_eq!(
            decide_at("2026-12-01T10:10:00Z", &prod),
            Decision::Soaking {
                digest: digest(2),
                until: "2026-12-01T10:30:00Z".into()
            }
        );
        assert_eq!(
            decide_at("2026-12-01T10:30:00Z", &prod),
            Decision::Promote {
                digest: digest(2),
                source_deploy: "push-2".into(),
                completed_at: "2026-12-01T10:00:00Z".into()
            }
        );
        // Once the promotion is recorded in prod, it is not started again.
        let promoted = index(vec![record(
            "promotion-1",
            DeployOutcome::InProgress,
            &digest(2),
            "2026-12-01T10:31:00Z",
            Some("push-2"),
        )]);
        assert!(
            matches!(decide_at("2026-12-01T11:00:00Z", &promoted), Decision::Nothing(r) if r.contains("already promoted"))
        );
    }

    #[test]
    fn a_promotion_that_never_started_is_tried_again_one_that_started_is_not() {
        let staging = index(vec![record(
            "push-2",
            DeployOutcome::Completed,
            &digest(2),
            "2026-12-01T10:00:00Z",
            None,
        )]);
        let now = at("2026-12-01T11:00:00Z");
        let mut refused = record(
            "promotion-1",
            DeployOutcome::Failed,
            &digest(2),
            "2026-12-01T10:01:00Z",
            Some("push-2"),
        );
        let decision = decide(
            "staging",
            &staging,
            &index(vec![refused.clone()]),
            Wanted::Auto,
            Duration::ZERO,
            now,
        )
        .unwrap();
        assert!(matches!(decision, Decision::Promote { .. }), "{decision:?}");
        // Started (ECS took it) and then failed: not promoted again by the rule.
        refused.ecs_deployment_id = Some("ecs-svc/1".into());
        let decision = decide(
            "staging",
            &staging,
            &index(vec![refused]),
            Wanted::Auto,
            Duration::ZERO,
            now,
        )
        .unwrap();
        assert!(
            matches!(&decision, Decision::Nothing(r) if r.contains("already promoted")),
            "{decision:?}"
        );
    }

    #[test]
    fn failed_and_superseded_source_deploys_promote_nothing() {
        let now = at("2026-12-01T12:00:00Z");
        let prod = DeployIndex::default();
        let good = record(
            "push-1",
            DeployOutcome::Completed,
            &digest(1),
            "2026-12-01T09:00:00Z",
            None,
        );
        for (newest, says) in [
            (DeployOutcome::Failed, "ended failed"),
            (DeployOutcome::RolledBack, "ended rolled_back"),
            (DeployOutcome::InProgress, "once that deploy completes"),
            (DeployOutcome::Superseded, "ended superseded"),
        ] {
            let staging = index(vec![
                record("push-2", newest, &digest(2), "2026-12-01T10:00:00Z", None),
                good.clone(),
            ]);
            let decision = decide("staging", &staging, &prod, Wanted::Auto, Duration::ZERO, now).unwrap();
            assert!(
                matches!(&decision, Decision::Nothing(r) if r.contains(says)),
                "{newest:?}: {decision:?}"
            );
        }
        // A payload may still promote the last completed one, or name it.
        let staging = index(vec![
            record(
                "push-2",
                DeployOutcome::Failed,
                &digest(2),
                "2026-12-01T10:00:00Z",
                None,
            ),
            good,
        ]);
        for wanted in [Wanted::LastCompleted, Wanted::Digest(&digest(1))] {
            assert!(matches!(
                decide("staging", &staging, &prod, wanted, Duration::ZERO, now).unwrap(),
                Decision::Promote { digest: d, .. } if d == digest(1)
            ));
        }
        let refused = decide(
            "staging",
            &staging,
            &prod,
            Wanted::Digest(&digest(2)),
            Duration::ZERO,
            now,
        )
        .unwrap_err();
        assert!(refused.contains("never completed in `staging`"), "{refused}");
    }
}
