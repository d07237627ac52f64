//! `image-push`: deploy an image to the services that follow it, or roll a service back.
//!
//! [`select`](mod@select) picks the applications an event or payload concerns, [`observe`](mod@observe) reads ECS and ECR
//! with as few calls as the APIs allow, [`plan`](mod@plan) decides (pure, no I/O) and [`apply`](mod@apply) carries
//! the plan out, under a per-service lease when one is configured.

pub mod apply;
mod attempt;
mod clients;
#[cfg(test)]
mod containers_tests;
mod decide;
mod deploy;
mod express;
#[cfg(test)]
mod fidelity;
pub mod follow;
pub mod gate;
pub mod group;
mod heard;
pub mod native;
pub mod observe;
pub mod plan;
mod prefetch;
pub mod promote;
pub mod protect;
pub mod queue;
pub mod reconcile;
pub mod record;
pub mod release;
pub mod replica;
mod report;
mod rollback;
mod schedule_only;
pub mod schedules;
pub mod select;
#[cfg(test)]
mod stack;
pub mod status;
pub mod template;
pub mod template_watch;
#[cfg(test)]
mod tests;
pub mod worker;

use std::sync::Arc;

use aws_config::SdkConfig;

use crate::aws;
use crate::aws::ecr::ImageQuery;
use crate::input::config::{AppConfig, Config};
use crate::input::events::{parse_image_push, DeployTarget, ImagePushRequest};
use crate::input::InputError;
use crate::job::{self, Invocation, Job, Settings};
use crate::records::{Trigger, TriggerKind};

pub use decide::plan_app;
pub use observe::{observe, Observation};
pub use plan::{Plan, Step, TaskDefinitionChoice};
pub use select::{select, Selection};

/// The function's name.
pub const NAME: &str = "image-push";

use clients::by_reach;
pub use clients::{Clients, Reach};
use deploy::deploy_apps;
pub use report::{Outcome, Report};

/// The function's answer.
pub type Answer = job::Answer<Report>;

/// Each application's service, as [`observe::observe_services`] reads it through the
/// application's own reach (10 services a call per account, region and cluster; an application
/// without a service, its scheduled tasks), in the order of `apps`: none when it
/// does not exist.
pub(crate) async fn describe_app_services(
    clients: &Clients,
    apps: &[&AppConfig],
    concurrency: usize,
) -> Vec<Result<Option<aws::ecs::ServiceState>, aws::AwsError>> {
    let mut found: Vec<(&AppConfig, Result<Option<aws::ecs::ServiceState>, aws::AwsError>)> = Vec::new();
    for (group_clients, group) in by_reach(clients, apps).await {
        let services = observe::observe_services(&group_clients, &group, concurrency).await;
        found.extend(group.into_iter().zip(services));
    }
    apps.iter()
        .map(|app| {
            let at = found
                .iter()
                .position(|(a, _)| std::ptr::eq(*a, *app))
                .expect("every app is described");
            found.swap_remove(at).1
        })
        .collect()
}

/// The `image-push` function.
pub struct ImagePush;

impl Job for ImagePush {
    const NAME: &'static str = NAME;
    type Clients = Clients;
    type Request = ImagePushRequest;
    type Report = Report;
    const FAILURE: &'static str = "DeployFailed";

    fn failure(report: &Report) -> Option<String> {
        (report.outcome == Outcome::Failed).then(|| job::failure_text(report.app.as_deref(), report.reason.as_deref()))
    }

    fn deferred(report: &Report) -> Option<String> {
        (report.outcome == Outcome::Deferred)
            .then(|| job::failure_text(report.app.as_deref(), report.reason.as_deref()))
    }

    fn clients(config: &SdkConfig) -> Clients {
        Clients {
            ecs: aws::ecs::Ecs::new(config, None),
            ecr: aws_sdk_ecr::Client::new(config),
            s3: aws::s3::client(config),
            events: aws_sdk_eventbridge::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            schedulers: aws::schedules::Schedulers::new(config),
            region: aws::region_of(config),
            registry_region: aws::region_of(config),
            sdk_config: config.clone(),
            reached: Arc::default(),
        }
    }

    fn cold_start(settings: &Settings) {
        if settings.lease.is_none() {
            tracing::warn!(
                variable = crate::input::env::ENV_STATE_BUCKET,
                "no lease bucket: overlapping deploys of one service are not kept apart"
            );
        }
    }

    fn s3(clients: &Clients) -> &aws_sdk_s3::Client {
        &clients.s3
    }

    fn parse(payload: &serde_json::Value) -> Result<ImagePushRequest, InputError> {
        parse_image_push(payload)
    }

    async fn handle(
        clients: &Clients,
        config: &Config,
        request: &ImagePushRequest,
        settings: &Settings,
        invocation: &Invocation,
    ) -> Result<Answer, InputError> {
        handle(clients, config, request, settings, invocation).await
    }
}

/// What a deploy asks for, once the event or payload is understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Goal {
    /// A push event: deploy `digest` if it is still what `tag` points to.
    Push {
        /// Pushed tag.
        tag: String,
        /// Pushed digest.
        digest: String,
        /// When the push or tag move happened (the event's time, nanoseconds since the epoch).
        happened_at: Option<i128>,
    },
    /// A manual deploy of a tag's or digest's image.
    Manual(DeployTarget),
    /// A manual rollback to a revision (none: the last good one).
    Rollback {
        /// The revision named; none: the last good one.
        revision: Option<i32>,
        /// Roll back even to a revision whose followed image is named by tag.
        force: bool,
    },
}

impl Goal {
    /// The ECR query that finds the image to deploy (none for a rollback).
    pub fn image_query(&self) -> Option<ImageQuery> {
        match self {
            Goal::Push { tag, .. } | Goal::Manual(DeployTarget::Tag(tag)) => Some(ImageQuery::Tag(tag.clone())),
            Goal::Manual(DeployTarget::Digest(digest))
            | Goal::Manual(DeployTarget::Revision {
                digest: Some(digest), ..
            }) => Some(ImageQuery::Digest(digest.clone())),
            // A revision without a digest keeps the image the application runs.
            Goal::Manual(DeployTarget::Revision { digest: None, .. }) | Goal::Rollback { .. } => None,
        }
    }
}

/// Handles one `image-push` invocation: a deploy (push, manual deploy, rollback), an ECS event
/// or the settle schedule that moves deploy records, or a `status` question.
pub async fn handle(
    clients: &Clients,
    config: &Config,
    request: &ImagePushRequest,
    settings: &Settings,
    invocation: &Invocation,
) -> Result<Answer, InputError> {
    // A rollback (to no named revision) of a deploy still in flight is ECS's own
    // (StopServiceDeployment ROLLBACK), not a second UpdateService.
    if let ImagePushRequest::Rollback {
        app,
        revision: None,
        by,
        dry_run,
        ..
    } = request
    {
        let target = config.find_app(app, "rollback.app")?;
        if let Some(report) = Box::pin(native::roll_back_in_flight(
            clients,
            settings,
            invocation,
            target,
            by.as_deref(),
            *dry_run,
        ))
        .await
        {
            log_report(&report);
            return Ok(Answer {
                results: vec![report],
                dry_run: *dry_run,
            });
        }
    }
    // Every arm boxed: an arm's future would otherwise sit in this function's own stack frame
    // (a debug build lays them side by side), which the callers' stacks outgrow.
    let answer = match request {
        ImagePushRequest::Deployment {
            service_arn,
            time,
            detail,
        } => {
            Box::pin(follow::hear_deployment(
                clients,
                config,
                settings,
                invocation,
                service_arn,
                time,
                detail,
            ))
            .await
        }
        ImagePushRequest::ServiceAction {
            service_arn,
            time,
            detail,
        } => {
            Box::pin(follow::hear_service_action(
                clients,
                config,
                settings,
                invocation,
                service_arn,
                time,
                detail,
            ))
            .await
        }
        ImagePushRequest::Settle => {
            Box::pin(follow::settle(
                clients,
                config,
                settings,
                invocation,
                std::time::SystemTime::now(),
            ))
            .await
        }
        ImagePushRequest::Task { detail } => {
            Box::pin(gate::follow::hear_task(clients, config, settings, invocation, detail)).await
        }
        ImagePushRequest::Hook { service_arn } => {
            Box::pin(native::hear_hook(clients, config, settings, invocation, service_arn)).await
        }
        ImagePushRequest::Continue { app, by } | ImagePushRequest::Abort { app, by } => {
            let asked = match request {
                ImagePushRequest::Continue { .. } => native::PauseAnswer::Continue,
                _ => native::PauseAnswer::Abort,
            };
            Box::pin(native::answer_pause(
                clients,
                config,
                settings,
                invocation,
                app,
                by.as_deref(),
                asked,
            ))
            .await?
        }
        ImagePushRequest::Promote {
            app,
            digest,
            by,
            dry_run,
        } => {
            let target = config.find_app(app, "promote.app")?;
            let wanted = match digest {
                Some(digest) => promote::Wanted::Digest(digest),
                None => promote::Wanted::LastCompleted,
            };
            let now = std::time::SystemTime::now();
            let report = Box::pin(promote::promote(
                clients,
                config,
                settings,
                invocation,
                target,
                wanted,
                invocation.caller.as_deref().or(by.as_deref()),
                *dry_run,
                now,
            ))
            .await?
            .unwrap_or_else(|| Report::skipped(target, Outcome::Unchanged, "nothing to promote"));
            Answer {
                results: vec![report],
                dry_run: *dry_run,
            }
        }
        ImagePushRequest::Approve { app, digest, by } => Answer {
            results: vec![
                Box::pin(promote::approve(
                    clients,
                    config,
                    settings,
                    invocation,
                    app,
                    digest,
                    by.as_deref(),
                ))
                .await?,
            ],
            dry_run: false,
        },
        ImagePushRequest::Status { app } => Box::pin(status::status(clients, config, app.as_deref(), settings)).await?,
        // What started the deploy, kept in its record: the push event's id, or the Lambda request
        // id of a manual invocation (Lambda's retries keep both), and who or what asked.
        ImagePushRequest::Push { id, .. } => {
            let trigger = Trigger {
                kind: TriggerKind::Push,
                id: id.clone(),
                by: Some("aws.ecr".into()),
            };
            return Box::pin(deploy(clients, config, request, settings, invocation, &trigger)).await;
        }
        ImagePushRequest::Deploy { by, .. } | ImagePushRequest::Rollback { by, .. } => {
            let kind = match request {
                ImagePushRequest::Rollback { .. } => TriggerKind::Rollback,
                ImagePushRequest::Deploy {
                    override_gate: true, ..
                } => TriggerKind::Override,
                _ => TriggerKind::Manual,
            };
            // Who signed it, when it came through the function URL; else the payload's word.
            let trigger = Trigger {
                kind,
                id: invocation.request_id.clone(),
                by: invocation.caller.clone().or_else(|| by.clone()),
            };
            return Box::pin(deploy(clients, config, request, settings, invocation, &trigger)).await;
        }
    };
    answer.results.iter().for_each(log_report);
    Ok(answer)
}

/// A push, a manual deploy or a rollback: select, observe, plan, apply (unless a dry run),
/// record, report. Input errors (an unknown application) are returned before any call.
async fn deploy(
    clients: &Clients,
    config: &Config,
    request: &ImagePushRequest,
    settings: &Settings,
    invocation: &Invocation,
    trigger: &Trigger,
) -> Result<Answer, InputError> {
    let dry_run = request.dry_run();
    let (apps, goal) = match select(config, request, invocation.account.as_deref())? {
        Selection::Apps { apps, goal } => (apps, goal),
        Selection::Ignored(reason) => {
            let report = Report::ignored(reason);
            log_report(&report);
            return Ok(Answer {
                results: vec![report],
                dry_run,
            });
        }
    };
    // A large fan-out goes through the deploy queue: one message per application.
    if let (Some(queue_url), Goal::Push { .. }, false) = (&settings.deploy_queue, &goal, dry_run) {
        if apps.len() > config.inline_max as usize {
            let results = queue::enqueue(clients, settings, queue_url, &apps, &goal, trigger).await;
            results.iter().for_each(log_report);
            return Ok(Answer { results, dry_run });
        }
    }
    let mut results = deploy_apps(clients, &apps, &goal, settings, invocation, trigger, dry_run).await;
    if !dry_run {
        replica::remember(clients, settings, &results, &goal, trigger).await;
        // A member of a release group that failed at once rolls back the others of its release.
        if results.iter().any(|r| r.outcome == Outcome::Failed) {
            let grouped: Vec<&AppConfig> = apps.iter().copied().filter(|a| a.group.is_some()).collect();
            results.extend(Box::pin(group::sweep_groups_of(clients, config, settings, invocation, &grouped)).await);
        }
    }
    results.iter().for_each(log_report);
    Ok(Answer { results, dry_run })
}

/// One structured summary line per application.
fn log_report(result: &Report) {
    tracing::info!(
        app = result.app.as_deref().unwrap_or("-"),
        service = result.service.as_deref().unwrap_or("-"),
        outcome = ?result.outcome,
        old_task_definition = result.old_task_definition.as_deref().unwrap_or("-"),
        new_task_definition = result.new_task_definition.as_deref().unwrap_or("-"),
        image = result.image.as_deref().unwrap_or("-"),
        reason = result.reason.as_deref().unwrap_or("-"),
        "image-push result"
    );
}
