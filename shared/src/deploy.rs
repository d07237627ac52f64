//! `image-push`: deploy an image to the services that follow it, or roll a service back.
//!
//! [`observe`] reads ECS and ECR with as few calls as the APIs allow, [`plan_app`] and
//! [`plan_rollback`] decide (pure, no I/O), and [`apply`] carries the plan out.

// The planning functions return the report itself when there is nothing to do; a few hundred
// bytes per application are not worth boxing.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ecs::types::{DeploymentCircuitBreaker, DeploymentConfiguration, Tag};
use futures::stream::{self, StreamExt};
use serde::Serialize;

use crate::aws::AwsClients;
use crate::config::{AppConfig, Config, ConfigSource};
use crate::ecr::{self, ImageDetail, ImageQuery, ImageRef};
use crate::ecs::{self, Revision, ServiceState};
use crate::error::{AwsError, InputError, InvokeError};
use crate::events::{DeployTarget, EcrImageAction, ImagePushRequest};
use crate::lease::{self, LeaseConfig};

/// Tag put on every revision the deployer registers, so that later clean-ups touch only those.
pub const MANAGED_TAG_KEY: &str = "ecs-deployer:managed";
/// Value of [`MANAGED_TAG_KEY`].
pub const MANAGED_TAG_VALUE: &str = "true";
/// Default bound on applications handled at once.
pub const DEFAULT_CONCURRENCY: usize = 10;

/// How one application ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The service now runs the new (or rolled-back) revision.
    Deployed,
    /// Dry run: the actions listed would have been taken.
    Planned,
    /// The service already runs the image (or revision): nothing to do.
    Unchanged,
    /// The event is older than what ECR or the service hold now: skipped.
    Stale,
    /// Nothing follows this image, or the event is not a successful push.
    Ignored,
    /// Something went wrong; `reason` says what, and the service is left on a working revision.
    Failed,
}

/// One entry of the response: one application (or the event, when ignored as a whole).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeployResult {
    /// Application name; absent when the event as a whole was ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// `cluster/service`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// The task definition the service ran before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_task_definition: Option<String>,
    /// The task definition the service runs now (or would run, in a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_task_definition: Option<String>,
    /// The image deployed (digest-pinned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Why nothing was done, or what failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The planned actions, readable (`+ register ...`, `~ service ...`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
}

impl DeployResult {
    fn skipped(app: &AppConfig, outcome: Outcome, reason: impl Into<String>) -> Self {
        DeployResult {
            app: Some(app.name.clone()),
            service: Some(app.service_label()),
            outcome,
            old_task_definition: None,
            new_task_definition: None,
            image: None,
            reason: Some(reason.into()),
            actions: Vec::new(),
        }
    }

    fn ignored(reason: impl Into<String>) -> Self {
        DeployResult {
            app: None,
            service: None,
            outcome: Outcome::Ignored,
            old_task_definition: None,
            new_task_definition: None,
            image: None,
            reason: Some(reason.into()),
            actions: Vec::new(),
        }
    }
}

/// The function's answer: `{"results": [...], "dry_run": bool}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Response {
    /// One entry per application.
    pub results: Vec<DeployResult>,
    /// True when nothing was written.
    pub dry_run: bool,
}

/// Knobs of a run.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// Applications handled at once.
    pub concurrency: usize,
    /// Per-service leases that keep overlapping deploys of one service apart; none: unguarded.
    pub lease: Option<LeaseConfig>,
}

impl Default for DeployOptions {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            lease: None,
        }
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
    },
    /// A manual deploy of a tag's or digest's image.
    Manual(DeployTarget),
    /// A manual rollback to a revision (none: the one before the current).
    Rollback(Option<i32>),
}

impl Goal {
    /// The ECR query that finds the image to deploy (none for a rollback).
    pub fn image_query(&self) -> Option<ImageQuery> {
        match self {
            Goal::Push { tag, .. } | Goal::Manual(DeployTarget::Tag(tag)) => Some(ImageQuery::Tag(tag.clone())),
            Goal::Manual(DeployTarget::Digest(digest)) => Some(ImageQuery::Digest(digest.clone())),
            Goal::Rollback(_) => None,
        }
    }
}

/// Picks the applications a push event concerns, or says why the event is ignored.
pub fn select_for_push<'a>(config: &'a Config, detail: &EcrImageAction) -> Result<(Vec<&'a AppConfig>, Goal), String> {
    if detail.action_type != "PUSH" {
        return Err(format!("action `{}` is not a push", detail.action_type));
    }
    if detail.result != "SUCCESS" {
        return Err(format!("push result is `{}`, not SUCCESS", detail.result));
    }
    let Some(digest) = detail.image_digest.clone() else {
        return Err("the event names no image digest".into());
    };
    let Some(tag) = detail.image_tag.clone().filter(|t| !t.is_empty()) else {
        return Err(format!("push of {digest} without a tag: applications follow tags"));
    };
    let following_repo: Vec<&AppConfig> = config
        .apps
        .iter()
        .filter(|app| app.repository == detail.repository_name)
        .collect();
    if following_repo.is_empty() {
        return Err(format!(
            "no application follows repository `{}`",
            detail.repository_name
        ));
    }
    let apps: Vec<&AppConfig> = following_repo
        .iter()
        .copied()
        .filter(|app| app.follows_tag(&tag))
        .collect();
    if apps.is_empty() {
        let followed: BTreeSet<&str> = following_repo
            .iter()
            .flat_map(|a| a.tags.iter().map(String::as_str))
            .collect();
        return Err(format!(
            "no application follows tag `{tag}` of `{}` (followed: {})",
            detail.repository_name,
            followed.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok((apps, Goal::Push { tag, digest }))
}

/// What was read for one application.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    /// The service; none when it does not exist.
    pub service: Option<ServiceState>,
    /// The revision the service runs.
    pub current: Option<Revision>,
    /// The family's latest ACTIVE revision, when it is not the current one.
    pub latest: Option<Revision>,
    /// The image to deploy; none when the tag or digest is not in ECR.
    pub target_image: Option<ImageDetail>,
    /// The image the service runs, when it is a digest of the same repository.
    pub running_image: Option<ImageDetail>,
    /// Rollback: the revision to return to; none when it does not exist.
    pub rollback_to: Option<Revision>,
    /// Rollback: ACTIVE revisions of the family, newest first (when no revision was named).
    pub family_revisions: Vec<(i32, String)>,
}

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
}

/// The task definition an [`Step::UpdateService`] points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskDefinitionChoice {
    /// The one registered by the preceding [`Step::Register`].
    JustRegistered,
    /// An existing revision, by ARN.
    Existing(String),
}

/// The plan for one application: steps to take, or why there are none.
#[derive(Debug, Clone, PartialEq)]
pub struct AppPlan {
    /// The result to report if nothing is done (outcome and reason), or the base of the report.
    pub result: DeployResult,
    /// The writes, in order; empty means nothing to do.
    pub steps: Vec<Step>,
    /// The task definition the service ran when observed (none: no service).
    pub observed_task_definition: Option<String>,
}

/// Plans a deploy of one application (pure).
pub fn plan_app(app: &AppConfig, goal: &Goal, obs: &Observation, region: &str) -> AppPlan {
    let mut plan = match plan_app_inner(app, goal, obs, region) {
        Ok(plan) => plan,
        Err(result) => AppPlan::nothing(result),
    };
    plan.observed_task_definition = obs.service.as_ref().map(|s| s.task_definition.clone());
    plan
}

impl AppPlan {
    /// A plan without steps that reports `result`.
    pub fn nothing(result: DeployResult) -> Self {
        Self {
            result,
            steps: Vec::new(),
            observed_task_definition: None,
        }
    }
}

fn plan_app_inner(app: &AppConfig, goal: &Goal, obs: &Observation, region: &str) -> Result<AppPlan, DeployResult> {
    if let Goal::Rollback(revision) = goal {
        return plan_rollback(app, *revision, obs);
    }
    let (service, current) = service_and_current(app, obs)?;
    let old = Some(current.arn().to_owned());
    let with_old = |outcome, reason: String| DeployResult {
        old_task_definition: old.clone(),
        ..DeployResult::skipped(app, outcome, reason)
    };
    let running = current.container_image(&app.container).ok_or_else(|| {
        with_old(
            Outcome::Failed,
            format!(
                "container `{}` is not in {} (containers: {})",
                app.container,
                current.label(),
                current.container_names().join(", ")
            ),
        )
    })?;
    let running = ImageRef::parse(running);
    let target = match (&obs.target_image, goal) {
        (Some(image), _) => image,
        (None, Goal::Push { tag, .. }) => {
            return Err(with_old(
                Outcome::Stale,
                format!("tag `{tag}` no longer exists in `{}`", app.repository),
            ))
        }
        (None, _) => {
            let what = match goal {
                Goal::Manual(DeployTarget::Tag(tag)) => format!("tag `{tag}`"),
                Goal::Manual(DeployTarget::Digest(digest)) => format!("image {digest}"),
                _ => "image".into(),
            };
            return Err(with_old(
                Outcome::Failed,
                format!("{what} not found in repository `{}`", app.repository),
            ));
        }
    };
    if let Goal::Push { tag, digest } = goal {
        if &target.digest != digest {
            return Err(with_old(
                Outcome::Stale,
                format!(
                    "tag `{tag}` now points to {}, not to this event's {digest}",
                    target.digest
                ),
            ));
        }
    }
    let image = ecr::pinned_image(
        &ecr::registry_host(&target.registry_id, region),
        &app.repository,
        &target.digest,
    );
    if running.is_digest_of(&app.repository, &target.digest) {
        return Err(DeployResult {
            image: Some(image),
            new_task_definition: old.clone(),
            ..with_old(
                Outcome::Unchanged,
                format!("{} already runs {}", current.label(), target.digest),
            )
        });
    }
    if let (Goal::Push { .. }, Some(running_image)) = (goal, &obs.running_image) {
        if let (Some(running_at), Some(target_at)) = (running_image.pushed_at, target.pushed_at) {
            if running_at > target_at {
                return Err(with_old(
                    Outcome::Stale,
                    format!(
                        "the service runs {}, pushed after {} (a late event never rolls a service back)",
                        running_image.digest, target.digest
                    ),
                ));
            }
        }
    }

    let desired = copy_with_image(current, &app.container, &image);
    let deployment_configuration = circuit_breaker_change(app, service);
    let mut actions = Vec::new();
    let mut steps = Vec::new();
    let choice = match obs.latest.as_ref().filter(|latest| same_content(latest, &desired)) {
        Some(latest) => {
            actions.push(format!(
                "= reuse {} (already registered with this image)",
                latest.label()
            ));
            TaskDefinitionChoice::Existing(latest.arn().to_owned())
        }
        None => {
            actions.push(format!(
                "+ register {} revision: {} {} -> {}",
                desired.definition.family().unwrap_or_default(),
                app.container,
                current.container_image(&app.container).unwrap_or_default(),
                image
            ));
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
    steps.push(Step::UpdateService {
        cluster: app.cluster.clone(),
        service: app.service.clone(),
        task_definition: choice,
        deployment_configuration,
    });
    Ok(AppPlan {
        result: DeployResult {
            app: Some(app.name.clone()),
            service: Some(app.service_label()),
            outcome: Outcome::Planned,
            old_task_definition: old,
            new_task_definition,
            image: Some(image),
            reason: None,
            actions,
        },
        steps,
        observed_task_definition: None,
    })
}

/// Plans a rollback of one application (pure).
pub fn plan_rollback(app: &AppConfig, revision: Option<i32>, obs: &Observation) -> Result<AppPlan, DeployResult> {
    let (service, current) = service_and_current(app, obs)?;
    let old = Some(current.arn().to_owned());
    let fail = |reason: String| DeployResult {
        old_task_definition: old.clone(),
        ..DeployResult::skipped(app, Outcome::Failed, reason)
    };
    let family = current.definition.family().unwrap_or_default();
    let current_revision = current.definition.revision();
    let (target_arn, target_label, target_image) = match (revision, &obs.rollback_to) {
        (Some(_), Some(target)) => (
            target.arn().to_owned(),
            target.label(),
            target.container_image(&app.container).map(str::to_owned),
        ),
        (Some(n), None) => return Err(fail(format!("revision {family}:{n} does not exist or is not ACTIVE"))),
        (None, _) => match obs.family_revisions.iter().find(|(n, _)| *n < current_revision) {
            Some((n, arn)) => (arn.clone(), format!("{family}:{n}"), None),
            None => {
                return Err(fail(format!(
                    "no ACTIVE revision of `{family}` older than the current {family}:{current_revision}"
                )))
            }
        },
    };
    if target_arn == current.arn() {
        return Err(DeployResult {
            new_task_definition: old.clone(),
            ..DeployResult::skipped(
                app,
                Outcome::Unchanged,
                format!("the service already runs {target_label}"),
            )
        });
    }
    let deployment_configuration = circuit_breaker_change(app, service);
    let choice = TaskDefinitionChoice::Existing(target_arn.clone());
    let actions = vec![
        update_action_text(app, current, &choice, deployment_configuration.is_some())
            .replace(&target_arn, &target_label),
    ];
    Ok(AppPlan {
        result: DeployResult {
            app: Some(app.name.clone()),
            service: Some(app.service_label()),
            outcome: Outcome::Planned,
            old_task_definition: old,
            new_task_definition: Some(target_arn),
            image: target_image,
            reason: None,
            actions,
        },
        steps: vec![Step::UpdateService {
            cluster: app.cluster.clone(),
            service: app.service.clone(),
            task_definition: choice,
            deployment_configuration,
        }],
        observed_task_definition: None,
    })
}

fn service_and_current<'a>(
    app: &AppConfig,
    obs: &'a Observation,
) -> Result<(&'a ServiceState, &'a Revision), DeployResult> {
    let service = obs.service.as_ref().ok_or_else(|| {
        DeployResult::skipped(
            app,
            Outcome::Failed,
            format!("service `{}` not found in cluster `{}`", app.service, app.cluster),
        )
    })?;
    if service.status != "ACTIVE" {
        return Err(DeployResult::skipped(
            app,
            Outcome::Failed,
            format!("service `{}` is {}, not ACTIVE", app.service_label(), service.status),
        ));
    }
    let current = obs.current.as_ref().ok_or_else(|| {
        DeployResult::skipped(
            app,
            Outcome::Failed,
            format!("task definition `{}` could not be read", service.task_definition),
        )
    })?;
    Ok((service, current))
}

fn update_action_text(app: &AppConfig, current: &Revision, choice: &TaskDefinitionChoice, breaker: bool) -> String {
    let to = match choice {
        TaskDefinitionChoice::JustRegistered => "the new revision".to_owned(),
        TaskDefinitionChoice::Existing(arn) => arn.clone(),
    };
    let mut text = format!(
        "~ service {}: task definition {} -> {to}",
        app.service_label(),
        current.label()
    );
    if breaker {
        text.push_str(", circuit breaker on with rollback");
    }
    text
}

/// A copy of `current` that differs only in the followed container's image, tagged as managed.
pub fn copy_with_image(current: &Revision, container: &str, image: &str) -> Revision {
    let mut copy = current.clone();
    if let Some(containers) = copy.definition.container_definitions.as_mut() {
        for c in containers.iter_mut().filter(|c| c.name.as_deref() == Some(container)) {
            c.image = Some(image.to_owned());
        }
    }
    if !copy.tags.iter().any(|t| t.key() == Some(MANAGED_TAG_KEY)) {
        copy.tags
            .push(Tag::builder().key(MANAGED_TAG_KEY).value(MANAGED_TAG_VALUE).build());
    }
    copy
}

/// True when two revisions have the same writable content (read-only fields and tag order aside).
pub fn same_content(a: &Revision, b: &Revision) -> bool {
    fn writable(r: &Revision) -> (aws_sdk_ecs::types::TaskDefinition, BTreeMap<String, String>) {
        let mut d = r.definition.clone();
        d.task_definition_arn = None;
        d.revision = 0;
        d.status = None;
        d.requires_attributes = None;
        d.compatibilities = None;
        d.registered_at = None;
        d.registered_by = None;
        d.deregistered_at = None;
        d.delete_requested_at = None;
        let tags = r
            .tags
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        (d, tags)
    }
    writable(a) == writable(b)
}

/// The deployment configuration to set when the app asks for the circuit breaker and the
/// service does not have it (enabled, with rollback) yet; the rest of it is kept.
pub fn circuit_breaker_change(app: &AppConfig, service: &ServiceState) -> Option<DeploymentConfiguration> {
    if !app.circuit_breaker {
        return None;
    }
    let current = service
        .deployment_configuration
        .clone()
        .unwrap_or_else(|| DeploymentConfiguration::builder().build());
    let on = current
        .deployment_circuit_breaker()
        .is_some_and(|b| b.enable() && b.rollback());
    if on {
        return None;
    }
    let mut wanted = current;
    wanted.deployment_circuit_breaker = Some(DeploymentCircuitBreaker::builder().enable(true).rollback(true).build());
    Some(wanted)
}

/// Reads what the plan needs for these applications: services in batches per cluster, their
/// task definitions, then one ECR look-up per repository for the target and running images.
pub async fn observe(
    clients: &AwsClients,
    apps: &[&AppConfig],
    goal: &Goal,
    concurrency: usize,
) -> Vec<Result<Observation, AwsError>> {
    // 1. Services, batched per cluster.
    let mut by_cluster: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for app in apps {
        by_cluster
            .entry(app.cluster.as_str())
            .or_default()
            .push(app.service.clone());
    }
    let mut services: BTreeMap<&str, Result<Vec<ServiceState>, AwsError>> = BTreeMap::new();
    for (cluster, names) in &by_cluster {
        services.insert(cluster, ecs::describe_services(&clients.ecs, cluster, names).await);
    }
    let service_of = |app: &AppConfig| -> Result<Option<ServiceState>, AwsError> {
        match &services[app.cluster.as_str()] {
            Ok(found) => Ok(found.iter().find(|s| s.is(&app.service)).cloned()),
            Err(e) => Err(e.clone()),
        }
    };

    // 2. Task definitions, per application, concurrently.
    let observations: Vec<Result<Observation, AwsError>> = stream::iter(apps.iter().map(|app| {
        let service = service_of(app);
        async move {
            let Some(service) = service? else {
                return Ok(Observation::default());
            };
            observe_revisions(clients, goal, service).await
        }
    }))
    .buffered(concurrency.max(1))
    .collect()
    .await;

    // 3. ECR: one call per repository for the target image and the running images.
    let Some(target_query) = goal.image_query() else {
        return observations;
    };
    let mut queries: BTreeMap<&str, BTreeSet<ImageQuery>> = BTreeMap::new();
    for (app, obs) in apps.iter().zip(&observations) {
        let entry = queries.entry(app.repository.as_str()).or_default();
        entry.insert(target_query.clone());
        if let (Goal::Push { .. }, Ok(obs)) = (goal, obs) {
            if let Some(digest) = running_digest(app, obs) {
                entry.insert(ImageQuery::Digest(digest));
            }
        }
    }
    let mut images: BTreeMap<&str, Result<Vec<ImageDetail>, AwsError>> = BTreeMap::new();
    for (repository, queries) in &queries {
        let queries: Vec<ImageQuery> = queries.iter().cloned().collect();
        images.insert(
            repository,
            ecr::describe_images(&clients.ecr, repository, &queries).await,
        );
    }
    apps.iter()
        .zip(observations)
        .map(|(app, obs)| {
            let mut obs = obs?;
            let found = images[app.repository.as_str()].as_ref().map_err(Clone::clone)?;
            obs.target_image = found.iter().find(|i| target_query.answered_by(i)).cloned();
            if let Some(digest) = running_digest(app, &obs) {
                obs.running_image = found.iter().find(|i| i.digest == digest).cloned();
            }
            Ok(obs)
        })
        .collect()
}

fn running_digest(app: &AppConfig, obs: &Observation) -> Option<String> {
    let image = ImageRef::parse(obs.current.as_ref()?.container_image(&app.container)?);
    (image.repository == app.repository).then_some(image.digest).flatten()
}

async fn observe_revisions(clients: &AwsClients, goal: &Goal, service: ServiceState) -> Result<Observation, AwsError> {
    let mut obs = Observation::default();
    let running = ecs::family_and_revision(&service.task_definition);
    if let Goal::Rollback(revision) = goal {
        let current = ecs::describe_task_definition(&clients.ecs, &service.task_definition).await?;
        let family = current.definition.family().unwrap_or_default().to_owned();
        match revision {
            Some(n) => match ecs::describe_task_definition(&clients.ecs, &format!("{family}:{n}")).await {
                Ok(target) if target.definition.status() == Some(&aws_sdk_ecs::types::TaskDefinitionStatus::Active) => {
                    obs.rollback_to = Some(target)
                }
                Ok(_) => {}
                Err(e) if e.code.as_deref() == Some("ClientException") => {}
                Err(e) => return Err(e),
            },
            None => obs.family_revisions = ecs::list_revisions(&clients.ecs, &family).await?,
        }
        obs.current = Some(current);
    } else if let Some((family, revision)) = running {
        // The family's latest revision is usually the running one: one call answers both, and
        // when it is not, it may be a revision an interrupted earlier attempt registered.
        let latest = ecs::describe_task_definition(&clients.ecs, &family).await?;
        if latest.definition.revision() == revision {
            obs.current = Some(latest);
        } else {
            obs.current = Some(ecs::describe_task_definition(&clients.ecs, &service.task_definition).await?);
            obs.latest = Some(latest);
        }
    } else {
        obs.current = Some(ecs::describe_task_definition(&clients.ecs, &service.task_definition).await?);
    }
    obs.service = Some(service);
    Ok(obs)
}

/// Carries out one application's plan and reports how it ended.
pub async fn apply(clients: &AwsClients, plan: AppPlan) -> DeployResult {
    let mut result = plan.result;
    if plan.steps.is_empty() {
        return result;
    }
    let mut registered: Option<String> = None;
    for step in plan.steps {
        match step {
            Step::Register(revision) => match ecs::register_task_definition(&clients.ecs, &revision).await {
                Ok(new) => registered = Some(new.arn().to_owned()),
                Err(err) => {
                    result.outcome = Outcome::Failed;
                    result.reason = Some(format!("{err}; the service still runs its previous revision"));
                    return result;
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
                result.new_task_definition = Some(arn.clone());
                if let Err(err) =
                    ecs::update_service(&clients.ecs, &cluster, &service, &arn, deployment_configuration).await
                {
                    result.outcome = Outcome::Failed;
                    result.reason = Some(format!(
                        "{err}; the service still runs its previous revision, and a retry reuses {arn}"
                    ));
                    return result;
                }
            }
        }
    }
    result.outcome = Outcome::Deployed;
    result
}

/// Handles one `image-push` invocation end to end: select, observe, plan, apply (unless a dry
/// run), and report. Input errors (an unknown application) are returned before any call.
pub async fn handle(
    clients: &AwsClients,
    config: &Config,
    request: &ImagePushRequest,
    options: &DeployOptions,
) -> Result<Response, InputError> {
    let dry_run = request.dry_run();
    let (apps, goal) = match request {
        ImagePushRequest::Push { detail, .. } => match select_for_push(config, detail) {
            Ok(selection) => selection,
            Err(reason) => {
                let result = DeployResult::ignored(reason);
                log_result(&result);
                return Ok(Response {
                    results: vec![result],
                    dry_run,
                });
            }
        },
        ImagePushRequest::Deploy { app, target, .. } => {
            (vec![find_app(config, app, "deploy.app")?], Goal::Manual(target.clone()))
        }
        ImagePushRequest::Rollback { app, revision, .. } => {
            (vec![find_app(config, app, "rollback.app")?], Goal::Rollback(*revision))
        }
    };
    let observations = observe(clients, &apps, &goal, options.concurrency).await;
    let plans: Vec<Result<AppPlan, DeployResult>> = apps
        .iter()
        .zip(observations)
        .map(|(app, obs)| match obs {
            Ok(obs) => Ok(plan_app(app, &goal, &obs, &clients.region)),
            Err(err) => Err(DeployResult::skipped(app, Outcome::Failed, err.to_string())),
        })
        .collect();
    let owner = lease::new_owner();
    let (goal, owner) = (&goal, owner.as_str());
    let results: Vec<DeployResult> = stream::iter(apps.iter().zip(plans).map(|(app, plan)| async move {
        match (plan, &options.lease) {
            (Err(result), _) => result,
            (Ok(plan), _) if dry_run || plan.steps.is_empty() => plan.result,
            (Ok(plan), None) => apply(clients, plan).await,
            (Ok(plan), Some(leases)) => apply_under_lease(clients, leases, owner, app, goal, plan).await,
        }
    }))
    .buffered(options.concurrency.max(1))
    .collect()
    .await;
    results.iter().for_each(log_result);
    Ok(Response { results, dry_run })
}

/// Applies a plan while holding the service's lease. The plan was made from the service as it
/// was before the lease: when another deploy changed the service's task definition meanwhile,
/// the application is observed and planned again, so an older image never replaces a newer one
/// and the last of two overlapping deploys decides.
async fn apply_under_lease(
    clients: &AwsClients,
    leases: &LeaseConfig,
    owner: &str,
    app: &AppConfig,
    goal: &Goal,
    plan: AppPlan,
) -> DeployResult {
    let key = leases.key(&app.cluster, &app.service);
    let purpose = format!("{} {}", app.name, plan.result.image.as_deref().unwrap_or("rollback"));
    let lease = match lease::acquire(&clients.s3, leases, &key, owner, &purpose).await {
        Ok(lease) => lease,
        Err(err) => return DeployResult::skipped(app, Outcome::Failed, err.to_string()),
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
            Some(Ok(obs)) => plan_app(app, goal, &obs, &clients.region),
            Some(Err(err)) => AppPlan::nothing(DeployResult::skipped(app, Outcome::Failed, err.to_string())),
            None => unreachable!("one application observed"),
        }
    };
    let result = if plan.steps.is_empty() {
        plan.result
    } else {
        apply(clients, plan).await
    };
    if let Err(err) = lease::release(&clients.s3, leases, &lease).await {
        tracing::warn!(app = %app.name, error = %err, "lease not given back; it expires by itself");
    }
    result
}

fn find_app<'a>(config: &'a Config, name: &str, field: &str) -> Result<&'a AppConfig, InputError> {
    config.app(name).ok_or_else(|| {
        let names: Vec<&str> = config.apps.iter().map(|a| a.name.as_str()).collect();
        InputError::new(
            field,
            format!(
                "one of the configured applications ({}), got `{name}`",
                names.join(", ")
            ),
        )
    })
}

/// One `image-push` invocation as the Lambda runs it: parse the payload (a malformed one is
/// refused before any AWS call), load the configuration, then [`handle`].
pub async fn invoke(
    clients: &AwsClients,
    source: &ConfigSource,
    payload: &serde_json::Value,
    options: &DeployOptions,
) -> Result<Response, InvokeError> {
    let request = crate::events::parse_image_push(payload)?;
    let config = source.load(&clients.s3).await?;
    Ok(handle(clients, &config, &request, options).await?)
}

/// One structured summary line per application.
fn log_result(result: &DeployResult) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{app, digest, full_revision, image, service, REGISTRY};

    fn push(tag: &str, n: u8) -> Goal {
        Goal::Push {
            tag: tag.into(),
            digest: digest(n),
        }
    }

    /// The service runs `orders:1`, whose `app` container runs `running`.
    fn observed(running: &str, target: Option<ImageDetail>) -> Observation {
        let current = full_revision("orders", 1, running);
        Observation {
            service: Some(service(current.arn())),
            current: Some(current),
            target_image: target,
            ..Observation::default()
        }
    }

    fn pinned(n: u8) -> String {
        format!("{REGISTRY}/orders@{}", digest(n))
    }

    #[test]
    fn a_current_push_registers_a_pinned_copy_then_updates_the_service() {
        let obs = observed(
            &format!("{REGISTRY}/orders:latest"),
            Some(image(&digest(2), &["latest"], 20)),
        );
        let plan = plan_app(&app(), &push("latest", 2), &obs, "ap-northeast-1");

        assert_eq!(plan.result.outcome, Outcome::Planned);
        assert_eq!(plan.result.image.as_deref(), Some(pinned(2).as_str()));
        let [Step::Register(revision), Step::UpdateService {
            task_definition,
            deployment_configuration,
            ..
        }] = plan.steps.as_slice()
        else {
            panic!("{plan:?}")
        };
        assert_eq!(revision.container_image("app"), Some(pinned(2).as_str()));
        assert_eq!(
            revision.container_image("log-router"),
            Some("fluent-bit:2"),
            "other containers kept"
        );
        assert_eq!(*task_definition, TaskDefinitionChoice::JustRegistered);
        assert_eq!(*deployment_configuration, None, "breaker untouched unless configured");
        // Only the image and the managed tag differ from the current revision.
        let mut back = revision.clone();
        back.definition.container_definitions.as_mut().unwrap()[0].image = Some(format!("{REGISTRY}/orders:latest"));
        back.tags.retain(|t| t.key() != Some(MANAGED_TAG_KEY));
        assert!(same_content(&back, obs.current.as_ref().unwrap()));
        assert!(revision.tags.iter().any(|t| t.key() == Some(MANAGED_TAG_KEY)));
    }

    #[test]
    fn a_push_of_what_already_runs_is_unchanged() {
        let obs = observed(&pinned(2), Some(image(&digest(2), &["latest"], 20)));
        let plan = plan_app(&app(), &push("latest", 2), &obs, "ap-northeast-1");
        assert_eq!(plan.result.outcome, Outcome::Unchanged);
        assert!(plan.steps.is_empty());
    }

    #[test]
    fn a_push_whose_tag_moved_on_is_stale() {
        let obs = observed(&pinned(1), Some(image(&digest(3), &["latest"], 30)));
        let plan = plan_app(&app(), &push("latest", 2), &obs, "ap-northeast-1");
        assert_eq!(plan.result.outcome, Outcome::Stale);
        assert!(plan.result.reason.unwrap().contains(&digest(3)));
        assert!(plan.steps.is_empty());
    }

    #[test]
    fn a_push_whose_tag_is_gone_is_stale() {
        let plan = plan_app(
            &app(),
            &push("latest", 2),
            &observed(&pinned(1), None),
            "ap-northeast-1",
        );
        assert_eq!(plan.result.outcome, Outcome::Stale);
    }

    #[test]
    fn a_push_older_than_the_running_image_is_stale() {
        let mut obs = observed(&pinned(5), Some(image(&digest(4), &["release-4"], 40)));
        obs.running_image = Some(image(&digest(5), &["release-5"], 50));
        let plan = plan_app(&app(), &push("release-4", 4), &obs, "ap-northeast-1");
        assert_eq!(plan.result.outcome, Outcome::Stale);
        // A manual deploy of the same older image is the user's explicit wish.
        let manual = plan_app(
            &app(),
            &Goal::Manual(DeployTarget::Tag("release-4".into())),
            &obs,
            "ap-northeast-1",
        );
        assert_eq!(manual.result.outcome, Outcome::Planned);
    }

    #[test]
    fn a_revision_left_by_an_interrupted_attempt_is_reused() {
        let mut obs = observed(&pinned(1), Some(image(&digest(2), &["latest"], 20)));
        let mut left = copy_with_image(obs.current.as_ref().unwrap(), "app", &pinned(2));
        left.definition.revision = 2;
        left.definition.task_definition_arn =
            Some("arn:aws:ecs:ap-northeast-1:123456789012:task-definition/orders:2".into());
        obs.latest = Some(left.clone());
        let plan = plan_app(&app(), &push("latest", 2), &obs, "ap-northeast-1");
        assert_eq!(
            plan.steps,
            vec![Step::UpdateService {
                cluster: "sss".into(),
                service: "orders".into(),
                task_definition: TaskDefinitionChoice::Existing(left.arn().into()),
                deployment_configuration: None,
            }]
        );
        // A latest revision with other content (say, Terraform's) is not reused.
        left.definition.cpu = Some("1024".into());
        obs.latest = Some(left);
        let plan = plan_app(&app(), &push("latest", 2), &obs, "ap-northeast-1");
        assert!(matches!(plan.steps[0], Step::Register(_)));
    }

    #[test]
    fn missing_service_container_or_image_fail_with_reasons() {
        let goal = push("latest", 2);
        let target = Some(image(&digest(2), &["latest"], 20));
        let plan = plan_app(&app(), &goal, &Observation::default(), "r");
        assert_eq!(plan.result.outcome, Outcome::Failed);
        assert!(plan.result.reason.unwrap().contains("not found in cluster `sss`"));

        let mut draining = observed(&pinned(1), target.clone());
        draining.service.as_mut().unwrap().status = "DRAINING".into();
        assert!(plan_app(&app(), &goal, &draining, "r")
            .result
            .reason
            .unwrap()
            .contains("DRAINING"));

        let mut other = app();
        other.container = "web".into();
        let plan = plan_app(&other, &goal, &observed(&pinned(1), target), "r");
        assert_eq!(plan.result.outcome, Outcome::Failed);
        assert!(plan.result.reason.unwrap().contains("containers: app, log-router"));

        let manual = Goal::Manual(DeployTarget::Digest(digest(9)));
        let plan = plan_app(&app(), &manual, &observed(&pinned(1), None), "r");
        assert_eq!(plan.result.outcome, Outcome::Failed);
    }

    #[test]
    fn the_circuit_breaker_is_turned_on_only_when_asked_and_off() {
        let mut guarded = app();
        guarded.circuit_breaker = true;
        let mut svc = service("x");
        svc.deployment_configuration = Some(
            DeploymentConfiguration::builder()
                .maximum_percent(200)
                .minimum_healthy_percent(100)
                .build(),
        );
        let change = circuit_breaker_change(&guarded, &svc).expect("a change");
        assert_eq!(
            change.maximum_percent(),
            Some(200),
            "the rest of the configuration is kept"
        );
        let breaker = change.deployment_circuit_breaker().unwrap();
        assert!(breaker.enable() && breaker.rollback());
        svc.deployment_configuration = Some(change);
        assert_eq!(circuit_breaker_change(&guarded, &svc), None, "already on");
        assert_eq!(circuit_breaker_change(&app(), &service("x")), None, "not configured");
    }

    #[test]
    fn rollbacks_pick_the_previous_or_named_revision() {
        let mut obs = observed(&pinned(3), None);
        let current = obs.current.as_mut().unwrap();
        current.definition.revision = 3;
        current.definition.task_definition_arn = Some("arn:td/orders:3".into());
        obs.family_revisions = vec![
            (3, "arn:td/orders:3".into()),
            (2, "arn:td/orders:2".into()),
            (1, "arn:td/orders:1".into()),
        ];
        let plan = plan_app(&app(), &Goal::Rollback(None), &obs, "r");
        assert_eq!(plan.result.new_task_definition.as_deref(), Some("arn:td/orders:2"));
        assert!(
            plan.result.actions[0].contains("orders:3 -> orders:2"),
            "{:?}",
            plan.result.actions
        );

        obs.family_revisions = vec![(3, "arn:td/orders:3".into())];
        let plan = plan_app(&app(), &Goal::Rollback(None), &obs, "r");
        assert_eq!(plan.result.outcome, Outcome::Failed);

        let plan = plan_app(&app(), &Goal::Rollback(Some(7)), &obs, "r");
        assert!(plan.result.reason.unwrap().contains("orders:7 does not exist"));

        obs.rollback_to = Some(full_revision("orders", 1, &pinned(1)));
        let plan = plan_app(&app(), &Goal::Rollback(Some(1)), &obs, "r");
        assert_eq!(plan.result.image.as_deref(), Some(pinned(1).as_str()));
        assert_eq!(plan.steps.len(), 1);
    }

    #[test]
    fn push_selection_follows_repositories_and_tag_patterns() {
        let config = Config::parse(
            r#"{"apps": [
                {"name": "a", "cluster": "c", "service": "a", "container": "app", "repository": "orders", "tags": ["latest"]},
                {"name": "b", "cluster": "c", "service": "b", "container": "app", "repository": "orders", "tags": ["release-*"]},
                {"name": "c", "cluster": "c", "service": "c", "container": "app", "repository": "payments", "tags": ["latest"]}
            ]}"#,
            "test",
        )
        .unwrap();
        let detail = |tag: Option<&str>| EcrImageAction {
            action_type: "PUSH".into(),
            result: "SUCCESS".into(),
            repository_name: "orders".into(),
            image_digest: Some(digest(1)),
            image_tag: tag.map(str::to_owned),
            manifest_media_type: None,
            artifact_media_type: None,
        };
        let names = |tag| {
            select_for_push(&config, &detail(Some(tag)))
                .map(|(apps, _)| apps.iter().map(|a| a.name.clone()).collect::<Vec<_>>())
        };
        assert_eq!(names("latest"), Ok(vec!["a".to_string()]));
        assert_eq!(names("release-9"), Ok(vec!["b".to_string()]));
        assert!(names("dev").unwrap_err().contains("followed: latest, release-*"));
        assert!(select_for_push(&config, &detail(None))
            .unwrap_err()
            .contains("without a tag"));
        let mut delete = detail(Some("latest"));
        delete.action_type = "DELETE".into();
        assert!(select_for_push(&config, &delete).is_err());
    }
}
