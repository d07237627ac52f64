//! Carrying out an image-push plan: register, then update the service; under the service's
//! lease when one is configured, re-planning if another deploy changed the service meanwhile.

use super::{observe, plan_app, Clients, Goal, Outcome, Plan, Report, Step, TaskDefinitionChoice};
use crate::aws::ecs;
use crate::input::config::AppConfig;
use crate::input::events::DeployTarget;
use crate::lease::{self, LeaseConfig};

/// Carries out one application's plan (of deploy `deploy_id`) and reports how it ended.
pub async fn apply(clients: &Clients, plan: Plan, deploy_id: &str) -> Report {
    let mut report = plan.report;
    if plan.steps.is_empty() {
        return report;
    }
    let mut registered: Option<String> = None;
    for step in plan.steps {
        match step {
            Step::Register(revision) => match ecs::register_task_definition(&clients.ecs, &revision).await {
                Ok(new) => registered = Some(new.arn().to_owned()),
                Err(err) => {
                    report.outcome = outcome_of(&err);
                    report.reason = Some(format!(
                        "{err}; the service still runs its previous revision{}",
                        later(&report)
                    ));
                    return report;
                }
            },
            // No call: the scheduled tasks follow once the deploy is recorded completed.
            Step::PointSchedules(choice) => {
                report.new_task_definition = match choice {
                    TaskDefinitionChoice::Existing(arn) => Some(arn),
                    TaskDefinitionChoice::JustRegistered => registered.clone(),
                };
            }
            Step::UpdateService {
                cluster,
                service,
                task_definition,
                deployment_configuration,
            } => {
                let arn = match task_definition {
                    TaskDefinitionChoice::Existing(arn) => arn,
                    TaskDefinitionChoice::JustRegistered => registered.clone().unwrap_or_default(),
                };
                report.new_task_definition = Some(arn.clone());
                // A gate first: the service is updated when its task exits 0 (see `gate`).
                if let Some(gate) = &plan.gate {
                    // Boxed: RunTask's future would grow every deploy's, which callers nest.
                    match Box::pin(super::gate::start(clients, gate, &arn, deploy_id)).await {
                        Ok(progress) => {
                            report.outcome = Outcome::Gated;
                            report.reason = Some(format!(
                                "gate task {} runs; the service is updated when it exits 0",
                                crate::aws::arn::short_name(&progress.task_arn)
                            ));
                            report.gate = Some(Box::new(progress));
                            return report;
                        }
                        Err(err) => {
                            report.outcome = outcome_of(&err);
                            report.reason = Some(format!(
                                "the gate task did not start ({err}); the service still runs its previous revision{}",
                                later(&report)
                            ));
                            return report;
                        }
                    }
                }
                match ecs::update_service(&clients.ecs, &cluster, &service, &arn, deployment_configuration).await {
                    Ok(deployment) => report.ecs_deployment_id = deployment,
                    Err(err) => {
                        report.outcome = outcome_of(&err);
                        report.reason = Some(format!(
                            "{err}; the service still runs its previous revision, and a retry reuses {arn}{}",
                            later(&report)
                        ));
                        return report;
                    }
                }
            }
        }
    }
    report.outcome = Outcome::Deployed;
    report
}

/// How a deploy whose AWS call failed ends: deferred when the call may succeed later as it is
/// (AWS throttled it, failed on its side or never answered: Lambda's retry or the queue's next
/// delivery does it), failed otherwise.
pub(crate) fn outcome_of(err: &crate::aws::AwsError) -> Outcome {
    if err.is_transient() {
        Outcome::Deferred
    } else {
        Outcome::Failed
    }
}

/// How a deploy that could not take or keep its service's lease ends: deferred when another
/// deploy holds it or took it over (nothing was changed) or S3 may answer later, failed otherwise.
fn lease_outcome(err: &lease::LeaseError) -> Outcome {
    match err {
        lease::LeaseError::Busy { .. } | lease::LeaseError::Lost { .. } => Outcome::Deferred,
        lease::LeaseError::Aws(err) => outcome_of(err),
    }
}

/// What a deferred report adds to its reason.
fn later(report: &Report) -> &'static str {
    if report.outcome == Outcome::Deferred {
        " (AWS throttled it or did not answer: put off, not failed; a retry of this event deploys it)"
    } else {
        ""
    }
}

/// What a deploy under a lease starts from: the lease taken beside the reads that planned it
/// (or the reason it was not), else the lease as read there (none: read it first); when those
/// reads began; and how long the invocation has left (none: no bound known, as outside Lambda).
#[derive(Debug, Default)]
pub struct LeaseStart {
    /// The lease already taken, or why not (none: not tried).
    pub taken: Option<Result<lease::Lease, lease::LeaseError>>,
    /// The lease as [`lease::peek`] saw it.
    pub seen: Option<lease::Seen>,
    /// When the service was read (seconds since the epoch).
    pub observed_at: Option<u64>,
    /// The invocation's time left when the lease is taken.
    pub remaining: Option<std::time::Duration>,
}

/// Applies a plan while holding the service's lease, and hands the lease back to the caller to
/// give back beside its other writes (none: not taken). The plan was made from the service as
/// it was before the lease: when the lease was contended (another deploy held it or gave it
/// back since the service was read) the service is read again, and when another deploy changed
/// its task definition meanwhile the application is observed and planned again, so an older
/// image never replaces a newer one and the last of two overlapping deploys decides. The fence
/// before the writes ([`lease::confirm`]) is skipped when the lease cannot expire while this
/// invocation lives.
pub async fn apply_under_lease(
    clients: &Clients,
    leases: &LeaseConfig,
    owner: &str,
    app: &AppConfig,
    goal: &Goal,
    plan: Plan,
    start: LeaseStart,
) -> (Report, Option<lease::Lease>) {
    let taken = match start.taken {
        Some(taken) => taken,
        None => {
            let key = leases.key_of(app);
            let purpose = lease_purpose(app, goal);
            lease::acquire_seen(
                &clients.s3,
                leases,
                &key,
                owner,
                &purpose,
                start.seen,
                start.observed_at,
            )
            .await
        }
    };
    let lease = match taken {
        Ok(lease) => lease,
        // Another deploy of the service is under way: this one waits for Lambda's retry.
        Err(err) => return (Report::skipped(app, lease_outcome(&err), err.to_string()), None),
    };
    let plan = if lease.contended {
        replan_if_changed(clients, app, goal, plan).await
    } else {
        plan
    };
    let report = if plan.steps.is_empty() {
        plan.report
    } else if let Err(err) = match start.remaining {
        Some(remaining) if lease::outlives(&lease, remaining) => Ok(()),
        _ => lease::confirm(&clients.s3, leases, &lease).await,
    } {
        Report::skipped(app, lease_outcome(&err), err.to_string())
    } else {
        apply(clients, plan, owner).await
    };
    (report, Some(lease))
}

/// What a lease says its holder is doing, for whoever waits: the application and the goal.
pub(crate) fn lease_purpose(app: &AppConfig, goal: &Goal) -> String {
    let what = match goal {
        Goal::Push { tag, digest, .. } => format!("push of {tag} ({digest})"),
        Goal::Manual(DeployTarget::Tag(tag)) => format!("manual deploy of {tag}"),
        Goal::Manual(DeployTarget::Digest(digest)) => format!("manual deploy of {digest}"),
        Goal::Manual(DeployTarget::Revision { revision, .. }) => format!("manual deploy of revision {revision}"),
        Goal::Rollback { .. } => "rollback".into(),
    };
    format!("{} {what}", app.name)
}

/// Reads the service again and, when its task definition is no longer the one `plan` was made
/// from, observes and plans the application again.
async fn replan_if_changed(clients: &Clients, app: &AppConfig, goal: &Goal, plan: Plan) -> Plan {
    let planned_from = plan.observed_task_definition.clone();
    let now = match super::observe::observe_services(clients, &[app], 1).await.pop() {
        Some(Ok(found)) => found.map(|s| s.task_definition),
        Some(Err(err)) => Some(format!("unknown ({err})")),
        None => unreachable!("one application observed"),
    };
    if now == planned_from {
        return plan;
    }
    tracing::info!(app = %app.name, "the service changed while waiting for its lease: planning again");
    match observe(clients, &[app], goal, 1).await.pop() {
        Some(Ok(obs)) => plan_app(app, goal, &obs, &clients.registry_region),
        Some(Err(err)) => Plan::nothing(Report::skipped(app, outcome_of(&err), err.to_string())),
        None => unreachable!("one application observed"),
    }
}
