//! Carrying out an image-push plan: register, then update the service; under the service's
//! lease when one is configured, re-planning if another deploy changed the service meanwhile.

use super::{observe, plan_app, Clients, Goal, Outcome, Plan, Report, Step, TaskDefinitionChoice};
use crate::aws::ecs;
use crate::input::config::AppConfig;
use crate::lease::{self, LeaseConfig};

/// Carries out one application's plan and reports how it ended.
pub async fn apply(clients: &Clients, plan: Plan) -> Report {
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

/// Applies a plan while holding the service's lease. The plan was made from the service as it
/// was before the lease: when another deploy changed the service's task definition meanwhile,
/// the application is observed and planned again, so an older image never replaces a newer one
/// and the last of two overlapping deploys decides.
pub async fn apply_under_lease(
    clients: &Clients,
    leases: &LeaseConfig,
    owner: &str,
    app: &AppConfig,
    goal: &Goal,
    plan: Plan,
) -> Report {
    let key = leases.key_of(app);
    let purpose = format!("{} {}", app.name, plan.report.image.as_deref().unwrap_or("rollback"));
    let lease = match lease::acquire(&clients.s3, leases, &key, owner, &purpose).await {
        Ok(lease) => lease,
        // Another deploy of the service is under way: this one waits for Lambda's retry.
        Err(err) => return Report::skipped(app, lease_outcome(&err), err.to_string()),
    };
    let planned_from = plan.observed_task_definition.clone();
    let now = match ecs::describe_services(&clients.ecs, &app.cluster, std::slice::from_ref(&app.service)).await {
        Ok(found) => found
            .into_iter()
            .find(|s| s.is(&app.service))
            .map(|s| s.task_definition),
        Err(err) => Some(format!("unknown ({err})")),
    };
    let plan = if now == planned_from {
        plan
    } else {
        tracing::info!(app = %app.name, "the service changed while waiting for its lease: planning again");
        match observe(clients, &[app], goal, 1).await.pop() {
            Some(Ok(obs)) => plan_app(app, goal, &obs, &clients.registry_region),
            Some(Err(err)) => Plan::nothing(Report::skipped(app, outcome_of(&err), err.to_string())),
            None => unreachable!("one application observed"),
        }
    };
    let report = if plan.steps.is_empty() {
        plan.report
    } else if let Err(err) = lease::confirm(&clients.s3, leases, &lease).await {
        Report::skipped(app, lease_outcome(&err), err.to_string())
    } else {
        apply(clients, plan).await
    };
    if let Err(err) = lease::release(&clients.s3, leases, &lease).await {
        tracing::warn!(app = %app.name, error = %err, "lease not given back; it expires by itself");
    }
    report
}
