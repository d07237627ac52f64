//! Promotions that wait for a person: the pending promotion kept in the state bucket, `Promotion
//! Pending` published once per digest, and the `approve` payload, checked (who signed it, when
//! `approvers` are configured; the digest still pending, not expired, its source deploy still
//! completed) before the promotion deploys.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::{deploy_promotion, weigh_evidence};
use crate::aws::events::Entry;
use crate::aws::s3::{put_json, read_object};
use crate::image_push::{Clients, Outcome, Report};
use crate::input::config::{AppConfig, Config};
use crate::input::function_url::{acts_as, principal_of};
use crate::input::{quoted, InputError};
use crate::job::{Invocation, Settings};
use crate::notify;
use crate::records::{format_time, parse_time, DeployOutcome, RecordStore};

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

/// With `approvers` configured, an approval must be signed (through the function URL) by one
/// of them: a plain invoke names nobody, so it is refused before anything is read.
pub fn check_approver(config: &Config, caller: Option<&str>) -> Result<(), InputError> {
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
            "an approval through the approve function's URL (AWS_IAM), which names who signs it: a plain invoke names nobody, and `approvers` is set",
        )),
    }
}

/// Records the promotion as pending and publishes `Promotion Pending` (once per digest: a
/// second ask of the same digest changes nothing).
#[allow(clippy::too_many_arguments)]
pub(super) async fn ask_approval(
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
    let completed_at = match store.read(&clients.s3, &pending.source).await {
        Err(err) => return Ok(Report::skipped(target, Outcome::Failed, err.to_string())),
        Ok(index) => {
            let source_deploy = index.get(&pending.source_deploy);
            let stands = source_deploy
                .is_some_and(|d| d.outcome == DeployOutcome::Completed && d.digest.as_deref() == Some(digest));
            if let (true, Some(deploy)) = (stands, source_deploy) {
                deploy.ended_at.clone().unwrap_or_else(|| deploy.started_at.clone())
            } else {
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
    };
    // The alarms are asked again: approving never promotes past an alarm.
    let checked = match config.app(&pending.source) {
        Some(source) => match weigh_evidence(clients, source, target, digest, &completed_at, now).await {
            Ok(checked) => checked,
            Err(report) => return Ok(report),
        },
        None => Vec::new(),
    };
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
        &checked,
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
