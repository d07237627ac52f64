//! One application's deploy once planned: carried out under the service's lease when one is
//! kept (taken beside the reads, see [`super::prefetch`]), then recorded, published and the
//! lease given back, those three at once.

use super::apply::{self, LeaseStart};
use super::prefetch::Prefetched;
use super::{record, Clients, Goal, Outcome, Plan, Report};
use crate::input::config::AppConfig;
use crate::job::{Invocation, Settings, APP_DEADLINE_MARGIN};
use crate::records::{deploy_id, Trigger};

/// Carries out `plan` for `app` and records it (see the module's documentation).
#[allow(clippy::too_many_arguments)] // the deploy's whole context, passed down once
pub(crate) async fn attempt(
    clients: &Clients,
    settings: &Settings,
    invocation: &Invocation,
    trigger: &Trigger,
    goal: &Goal,
    app: &AppConfig,
    plan: Plan,
    state: Prefetched,
    dry_run: bool,
) -> Report {
    // The lease's owner is the deploy's id: a retry of this deploy (Lambda's, or SQS's
    // redelivery after a worker died holding it) takes its own lease back at once.
    let owner = deploy_id(trigger, &app.name);
    let attempt = record::Attempt {
        app,
        goal,
        trigger,
        rolls_back_on_failure: plan.rolls_back_on_failure,
        observed_deployment: plan.observed_deployment.clone(),
    };
    let late = invocation.too_late_to_start(APP_DEADLINE_MARGIN);
    let start = LeaseStart {
        remaining: invocation
            .deadline
            .map(|deadline| deadline.saturating_duration_since(std::time::Instant::now())),
        ..state.lease
    };
    // A lease taken beside the reads and not needed is given back below with the rest.
    let (mut report, held) = match &settings.lease {
        _ if dry_run => return plan.report,
        _ if plan.steps.is_empty() => (plan.report, start.taken.and_then(Result::ok)),
        // Scheduled tasks follow the recorded deploy: without records nothing would move them.
        _ if app.is_schedule_only() && settings.records.is_none() => (
            Report {
                outcome: Outcome::Failed,
                reason: Some("an application without a service needs the deploy records (DEPLOYER_STATE_BUCKET): its scheduled tasks follow the recorded deploy; nothing was changed".into()),
                ..plan.report
            },
            start.taken.and_then(Result::ok),
        ),
        // Out of time is not a failure: Lambda's retry of the event does it.
        _ if late.is_some() => (
            Report {
                outcome: Outcome::Deferred,
                reason: late,
                ..plan.report
            },
            start.taken.and_then(Result::ok),
        ),
        None => (apply::apply(clients, plan, &owner).await, None),
        Some(leases) => apply::apply_under_lease(clients, leases, &owner, app, goal, plan, start).await,
    };
    // Nothing comes after the last attempt: what would be put off has failed.
    if settings.last_attempt && report.outcome == Outcome::Deferred {
        report.outcome = Outcome::Failed;
        report.reason = Some(format!(
            "put off on every attempt, the last one included: {}",
            report.reason.as_deref().unwrap_or("no reason given")
        ));
    }
    // The record, its events and the lease's release go out together.
    let release = async {
        if let (Some(leases), Some(lease)) = (&settings.lease, &held) {
            if let Err(err) = crate::lease::release(&clients.s3, leases, lease).await {
                tracing::warn!(app = %app.name, error = %err, "lease not given back; it expires by itself");
            }
        }
    };
    tokio::join!(
        record::record_attempt(clients, settings, &attempt, &mut report, state.index),
        release
    );
    // Scheduled tasks alone: their deploy completed as recorded, and the targets follow it now
    // (a replay, `unchanged`, moves any a failed attempt left behind).
    match &settings.records {
        Some(store) if app.is_schedule_only() && matches!(report.outcome, Outcome::Deployed | Outcome::Unchanged) => {
            Box::pin(super::schedules::follow(clients, app, store, report)).await
        }
        _ => report,
    }
}
