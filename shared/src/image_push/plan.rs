//! How image-push decides (pure, no I/O): deploy a digest-pinned copy of the running revision,
//! reuse one an interrupted attempt left, or roll back; or nothing, with the outcome and why.

use aws_sdk_ecs::types::{DeploymentCircuitBreaker, DeploymentConfiguration, DeploymentStrategy};

pub use super::template::copy_with_image;
use super::{template, Goal, Observation, Outcome, Report};
use crate::aws::ecr::{self, ImageRef};
use crate::aws::ecs::ServiceState;
use crate::aws::revision::{same_content, Revision};
use crate::input::config::AppConfig;
use crate::input::events::DeployTarget;
use crate::ownership::MANAGED_TAG_KEY;

/// One write the plan asks for.
#[allow(clippy::large_enum_variant)] // a plan holds two steps at most
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Register this revision (a copy of the current one with the new image).
    Register(Revision),
    /// Point the service at a task definition.
    UpdateService {
        /// Cluster name or ARN.
        cluster: String,
        /// Service name or ARN.
        service: String,
        /// Which task definition.
        task_definition: TaskDefinitionChoice,
        /// Deployment configuration to set (circuit breaker), if it must change.
        deployment_configuration: Option<DeploymentConfiguration>,
    },
    /// An application without a service: its scheduled tasks move to this task definition
    /// (see [`super::schedule_only`]).
    PointSchedules(TaskDefinitionChoice),
}

/// The task definition an [`Step::UpdateService`] points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskDefinitionChoice {
    /// The one registered by the preceding [`Step::Register`].
    JustRegistered,
    /// An existing revision, by ARN.
    Existing(String),
}

/// The plan for one application: the steps to take, or none and why (a value, not an error:
/// `unchanged` and `stale` are ordinary answers).
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// What to report if nothing is done (outcome and reason), or the base of the report.
    pub report: Report,
    /// The writes, in order; empty means nothing to do.
    pub steps: Vec<Step>,
    /// The task definition the service ran when observed (none: no service).
    pub observed_task_definition: Option<String>,
    /// The deployment that put the observed task definition in place (ECS's `PRIMARY`).
    pub observed_deployment: Option<String>,
    /// True when ECS rolls this service back by itself if the deploy fails (see
    /// [`rolls_back_on_failure`]).
    pub rolls_back_on_failure: bool,
    /// The gate task run instead of the service update (`before_deploy`; see [`super::gate`]).
    pub gate: Option<Box<super::gate::GatePlan>>,
}

/// True when ECS rolls the service back by itself if a deploy fails: a blue/green, linear or
/// canary strategy, or a rolling update with the circuit breaker or alarms set to roll back
/// (as the service has them, or as this plan sets them).
pub fn rolls_back_on_failure(service: &ServiceState, steps: &[Step]) -> bool {
    let planned = steps.iter().find_map(|step| match step {
        Step::UpdateService {
            deployment_configuration: Some(configuration),
            ..
        } => Some(configuration),
        _ => None,
    });
    let Some(configuration) = planned.or(service.deployment_configuration.as_ref()) else {
        return false;
    };
    let strategy_rolls_back = matches!(
        configuration.strategy(),
        Some(DeploymentStrategy::BlueGreen | DeploymentStrategy::Linear | DeploymentStrategy::Canary)
    );
    let breaker = configuration
        .deployment_circuit_breaker()
        .is_some_and(|b| b.enable() && b.rollback());
    let alarms = configuration.alarms().is_some_and(|a| a.enable() && a.rollback());
    strategy_rolls_back || breaker || alarms
}

impl Plan {
    /// A plan without steps that reports `report`.
    pub fn nothing(report: Report) -> Self {
        Self {
            report,
            steps: Vec::new(),
            observed_task_definition: None,
            observed_deployment: None,
            rolls_back_on_failure: false,
            gate: None,
        }
    }
}

/// The revision a deploy registers: `source` with every container that follows the pushed
/// repository on `image`, and those that follow another one on what `current` runs (a newer
/// template names them by tag, or by another digest: the deploy of one repository moves no
/// other).
fn desired_revision(app: &AppConfig, source: &Revision, current: &Revision, image: &str) -> Revision {
    let mut desired = source.clone();
    for name in app.deployed_containers() {
        desired = copy_with_image(&desired, name, image);
    }
    for name in app.kept_containers() {
        if let Some(running) = current.container_image(name) {
            desired = copy_with_image(&desired, name, running);
        }
    }
    desired
}

/// Each listed container's image in `revision`, for an application with `containers` (empty
/// otherwise: its one image is the report's `image`).
pub(super) fn images_of(app: &AppConfig, revision: &Revision) -> std::collections::BTreeMap<String, String> {
    if app.containers.is_empty() {
        return Default::default();
    }
    app.listed_containers()
        .into_iter()
        .filter_map(|name| Some((name.to_owned(), revision.container_image(name)?.to_owned())))
        .collect()
}

pub(super) fn plan_deploy(app: &AppConfig, goal: &Goal, obs: &Observation, region: &str) -> Plan {
    let (service, current) = match service_and_current(app, obs) {
        Ok(found) => found,
        Err(reason) => return Plan::nothing(Report::skipped(app, Outcome::Failed, reason)),
    };
    let old = Some(current.arn().to_owned());
    let with_old = |outcome, reason: String| Report {
        old_task_definition: old.clone(),
        ..Report::skipped(app, outcome, reason)
    };
    // The shape to copy and the plan's lines about it (a named revision, a newer template).
    let (source, shape_actions) = match template::source_of(app, goal, obs, current) {
        Ok(found) => found,
        Err(reason) => return Plan::nothing(with_old(Outcome::Failed, reason)),
    };
    if let Some(missing) = app
        .listed_containers()
        .into_iter()
        .find(|name| current.container_image(name).is_none())
    {
        return Plan::nothing(with_old(
            Outcome::Failed,
            format!(
                "container `{missing}` is not in {} (containers: {})",
                current.label(),
                current.container_names().join(", ")
            ),
        ));
    }
    let target = match (&obs.target_image, goal) {
        (Some(image), _) => image,
        // A replica in another region may not hold the pushed image yet (ECR says most
        // replications take under 30 minutes, Lambda's retries come after 1 and 2): waiting,
        // not a failure; the replica's own event, or the settle run, deploys it.
        (None, Goal::Push { tag, digest, .. }) if app.registry_region.is_some() => {
            return Plan::nothing(with_old(
                Outcome::Waiting,
                format!(
                    "tag `{tag}` ({digest}) is not yet in `{}` of region {}: not replicated yet; the ECR Replication Action event of the replica, or the settle run, deploys it",
                    app.repository,
                    app.registry_region.as_deref().unwrap_or_default()
                ),
            ))
        }
        (None, Goal::Push { tag, .. }) => {
            return Plan::nothing(with_old(
                Outcome::Stale,
                format!("tag `{tag}` no longer exists in `{}`", app.repository),
            ))
        }
        (None, _) => {
            let what = match goal {
                Goal::Manual(DeployTarget::Tag(tag)) => format!("tag `{tag}`"),
                Goal::Manual(DeployTarget::Digest(digest))
                | Goal::Manual(DeployTarget::Revision {
                    digest: Some(digest), ..
                }) => format!("image {digest}"),
                Goal::Manual(DeployTarget::Revision { digest: None, .. }) => {
                    return Plan::nothing(with_old(
                        Outcome::Failed,
                        format!(
                            "no digest to pin: the service runs {}, not a digest of `{}`; name the image to deploy (`digest`)",
                            current.container_image(&app.container).unwrap_or_default(),
                            app.repository
                        ),
                    ))
                }
                _ => "image".into(),
            };
            return Plan::nothing(with_old(
                Outcome::Failed,
                format!("{what} not found in repository `{}`", app.repository),
            ));
        }
    };
    if let Goal::Push {
        tag,
        digest,
        happened_at,
    } = goal
    {
        if &target.digest != digest {
            return Plan::nothing(with_old(
                Outcome::Stale,
                format!(
                    "tag `{tag}` now points to {}, not to this event's {digest}",
                    target.digest
                ),
            ));
        }
        // A push event that happened before the running image was pushed is a late one (of
        // another tag, say `release-1` delivered after `release-2` deployed): it never rolls a
        // service back. A tag moved back to an older image is a new event, later than the
        // running image's push, so it deploys. Event times are whole seconds: within one second
        // the event is taken as not late.
        if let (Some(happened), Some(running)) = (happened_at, &obs.running_image) {
            const SECOND: i128 = 1_000_000_000;
            let later = |running_at: i128| running_at.div_euclid(SECOND) > happened.div_euclid(SECOND);
            if running.pushed_at.is_some_and(later) && running.digest != target.digest {
                return Plan::nothing(with_old(
                    Outcome::Stale,
                    format!(
                        "the service runs {}, pushed after this event happened (a late event never rolls a service back)",
                        running.digest
                    ),
                ));
            }
        }
    }
    let image = ecr::pinned_image(
        &ecr::registry_host(&target.registry_id, region),
        &app.repository,
        &target.digest,
    );
    // A deploy of a named revision is unchanged only when the service runs a copy of it.
    let named = matches!(goal, Goal::Manual(DeployTarget::Revision { .. }));
    let same_shape = !named || template::built_from(current).as_deref() == Some(source.arn());
    let runs_target = app.deployed_containers().into_iter().all(|name| {
        current
            .container_image(name)
            .is_some_and(|running| ImageRef::parse(running).is_digest_of(&app.repository, &target.digest))
    });
    if runs_target && same_shape {
        let mut reason = format!("{} already runs {}", current.label(), target.digest);
        if let Some(template) = obs.template.as_ref().filter(|_| !named) {
            reason.push_str(&format!(
                "; the template {} is newer than the one it was built from: the scheduled run reports it, and the next deploy takes it",
                template.label()
            ));
        }
        return Plan::nothing(Report {
            image: Some(image),
            new_task_definition: old.clone(),
            ..with_old(Outcome::Unchanged, reason)
        });
    }
    let desired = desired_revision(app, source, current, &image);
    let template = template::built_from(&desired);
    let images = images_of(app, &desired);
    let deployment_configuration = circuit_breaker_change(app, service);
    let mut actions = shape_actions;
    let mut steps = Vec::new();
    let choice = match obs.latest.as_ref().filter(|latest| same_content(latest, &desired)) {
        Some(latest) => {
            actions.push(format!(
                "= reuse {} (already registered with this image)",
                latest.label()
            ));
            TaskDefinitionChoice::Existing(latest.arn().to_owned())
        }
        None if desired.tags.len() > TASK_DEFINITION_MAX_TAGS => {
            return Plan::nothing(with_old(
                Outcome::Failed,
                format!(
                    "{} has {} tags; its copy needs the deployer's `{MANAGED_TAG_KEY}` tag too, and ECS allows {TASK_DEFINITION_MAX_TAGS}: remove a tag from the task definition",
                    current.label(),
                    current.tags.len()
                ),
            ))
        }
        None => {
            let moves: Vec<String> = app
                .deployed_containers()
                .into_iter()
                .map(|name| format!("{name} {} -> {image}", current.container_image(name).unwrap_or_default()))
                .collect();
            actions.push(format!(
                "+ register {} revision: {}",
                desired.definition.family().unwrap_or_default(),
                moves.join(", ")
            ));
            actions.extend(app.kept_containers().into_iter().map(|name| {
                format!(
                    "= {name} keeps {} (it follows another repository)",
                    current.container_image(name).unwrap_or_default()
                )
            }));
            steps.push(Step::Register(desired));
            TaskDefinitionChoice::JustRegistered
        }
    };
    actions.push(update_action_text(
        app,
        current,
        &choice,
        deployment_configuration.is_some(),
    ));
    let new_task_definition = match &choice {
        TaskDefinitionChoice::Existing(arn) => Some(arn.clone()),
        TaskDefinitionChoice::JustRegistered => None,
    };
    steps.push(update_step(app, choice, deployment_configuration));
    Plan {
        report: Report {
            app: Some(app.name.clone()),
            service: Some(app.service_label()),
            outcome: Outcome::Planned,
            old_task_definition: old,
            new_task_definition,
            images,
            image: Some(image),
            template,
            reason: None,
            actions,
            ..Report::skipped(app, Outcome::Planned, "")
        },
        steps,
        observed_task_definition: None,
        observed_deployment: None,
        rolls_back_on_failure: false,
        gate: None,
    }
}

/// The service and the revision it runs; `Err` says why the application cannot be deployed.
pub(super) fn service_and_current<'a>(
    app: &AppConfig,
    obs: &'a Observation,
) -> Result<(&'a ServiceState, &'a Revision), String> {
    let Some(service) = obs.service.as_ref() else {
        return Err(format!(
            "service `{}` not found in cluster `{}`",
            app.service, app.cluster
        ));
    };
    if let Some(controller) = service.controller.as_deref().filter(|c| *c != "ECS") {
        return Err(format!(
            "service `{}` uses the {controller} deployment controller: ECS does not take a new revision through UpdateService there, so nothing was changed. Deploy it with {} (a deployment naming the new revision), or move the service to the ECS controller, whose rolling, blue/green, linear and canary strategies the deployer follows",
            app.service_label(),
            if controller == "CODE_DEPLOY" { "CodeDeploy" } else { "the controller that owns it" },
        ));
    }
    if service.status != "ACTIVE" {
        return Err(format!(
            "service `{}` is {}, not ACTIVE",
            app.service_label(),
            service.status
        ));
    }
    let Some(current) = obs.current.as_ref() else {
        return Err(format!(
            "task definition `{}` could not be read",
            service.task_definition
        ));
    };
    Ok((service, current))
}

/// The step that moves what runs to `choice`: the service's update or, for an application
/// that is only scheduled tasks, its schedules' move (see [`super::schedule_only`]).
pub(super) fn update_step(
    app: &AppConfig,
    choice: TaskDefinitionChoice,
    deployment_configuration: Option<DeploymentConfiguration>,
) -> Step {
    if app.is_schedule_only() {
        return Step::PointSchedules(choice);
    }
    Step::UpdateService {
        cluster: app.cluster.clone(),
        service: app.service.clone(),
        task_definition: choice,
        deployment_configuration,
    }
}

/// The plan's line of [`update_step`].
pub(super) fn update_action_text(
    app: &AppConfig,
    current: &Revision,
    choice: &TaskDefinitionChoice,
    breaker: bool,
) -> String {
    let to = match choice {
        TaskDefinitionChoice::JustRegistered => "the new revision".to_owned(),
        TaskDefinitionChoice::Existing(arn) => arn.clone(),
    };
    let what = match app.is_schedule_only() {
        true => format!("scheduled tasks {}:", app.schedules.join(", ")),
        false => format!("service {}: task definition", app.service_label()),
    };
    let mut text = format!("~ {what} {} -> {to}", current.label());
    if breaker {
        text.push_str(", circuit breaker on with rollback");
    }
    text
}

/// Tags ECS allows on a task definition revision.
pub const TASK_DEFINITION_MAX_TAGS: usize = 50;

/// The deployment configuration to set when the app asks for the circuit breaker and the
/// service does not have it (enabled, with rollback) yet; the rest of it is kept. Only rolling
/// updates have a circuit breaker: a blue/green, linear or canary strategy rolls back by its
/// own rules, and is left alone.
pub fn circuit_breaker_change(app: &AppConfig, service: &ServiceState) -> Option<DeploymentConfiguration> {
    if !app.circuit_breaker {
        return None;
    }
    let current = service
        .deployment_configuration
        .clone()
        .unwrap_or_else(|| DeploymentConfiguration::builder().build());
    if current
        .strategy()
        .is_some_and(|strategy| *strategy != DeploymentStrategy::Rolling)
    {
        return None;
    }
    let on = current
        .deployment_circuit_breaker()
        .is_some_and(|b| b.enable() && b.rollback());
    if on {
        return None;
    }
    // Only `enable` and `rollback` change: the breaker's other members (its threshold, its
    // reset on a healthy task) are the service's own.
    let mut wanted = current;
    let mut breaker = wanted.deployment_circuit_breaker.take().unwrap_or_else(|| {
        DeploymentCircuitBreaker::builder()
            .enable(false)
            .rollback(false)
            .build()
    });
    breaker.enable = true;
    breaker.rollback = true;
    wanted.deployment_circuit_breaker = Some(breaker);
    Some(wanted)
}
