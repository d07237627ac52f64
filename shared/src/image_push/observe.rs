//! What image-push reads before it plans: services in batches per cluster, their task
//! definitions, and one ECR look-up per repository for the target and running images.

use std::collections::{BTreeMap, BTreeSet};

use futures::stream::{self, StreamExt};

use super::{template, Clients, Goal};
use crate::aws::arn::family_and_revision;
use crate::aws::ecr::{self, ImageDetail, ImageQuery, ImageRef};
use crate::aws::ecs::{self, ServiceState};
use crate::aws::revision::Revision;
use crate::aws::AwsError;
use crate::input::config::{AppConfig, Base};
use crate::input::events::DeployTarget;
use crate::records::{DeployIndex, DeployRecord, RecordStore};

/// What was read for one application.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    /// The service; none when it does not exist.
    pub service: Option<ServiceState>,
    /// The revision the service runs.
    pub current: Option<Revision>,
    /// The family's latest ACTIVE revision, when it is not the current one.
    pub latest: Option<Revision>,
    /// The shape to copy when it is not the running revision: the revision a deploy names, or
    /// the application's template (see [`super::template`]) when it is newer than the one the
    /// current revision was built from and the application copies templates.
    pub template: Option<Revision>,
    /// The image to deploy; none when the tag or digest is not in ECR.
    pub target_image: Option<ImageDetail>,
    /// The image the service runs, when it is a digest of the same repository.
    pub running_image: Option<ImageDetail>,
    /// Rollback: the revision named, or (none named) the ACTIVE one before the current; none
    /// when it does not exist.
    pub rollback_to: Option<Revision>,
    /// Rollback: ACTIVE revisions of the family, newest first (when no revision was named).
    pub family_revisions: Vec<(i32, String)>,
    /// Rollback: the newest completed deploy of a revision other than the running one, from
    /// the deploy records (when they are kept and no revision was named).
    pub last_good: Option<DeployRecord>,
}

/// Reads what the plan needs for these applications: services in batches per cluster, their
/// task definitions, then one ECR look-up per repository for the target and running images.
pub async fn observe(
    clients: &Clients,
    apps: &[&AppConfig],
    goal: &Goal,
    concurrency: usize,
) -> Vec<Result<Observation, AwsError>> {
    let services = observe_services(clients, apps, concurrency).await;
    observe_from_services(clients, apps, goal, services, &[], concurrency).await
}

/// The first of [`observe`]'s reads: each application's service (none: it does not exist), 10
/// a `DescribeServices` call, the calls at once (within the bound), in the order of `apps`. An
/// application without a service has its scheduled tasks read as one (see
/// [`super::schedule_only`]), beside those calls.
pub async fn observe_services(
    clients: &Clients,
    apps: &[&AppConfig],
    concurrency: usize,
) -> Vec<Result<Option<ServiceState>, AwsError>> {
    let with_service = apps.iter().filter(|app| !app.is_schedule_only());
    let scheduled = apps.iter().filter(|app| app.is_schedule_only());
    let (services, scheduled) = tokio::join!(
        ecs::describe_services_in_clusters(
            &clients.ecs,
            with_service.map(|app| (app.cluster.as_str(), app.service.as_str())),
            concurrency,
        ),
        futures::future::join_all(scheduled.map(|app| super::schedule_only::observe_as_service(clients, app)))
    );
    let mut scheduled = scheduled.into_iter();
    apps.iter()
        .map(|app| match &services.get(app.cluster.as_str()) {
            _ if app.is_schedule_only() => scheduled.next().expect("one read per application without a service"),
            Some(Ok(found)) => Ok(found.iter().find(|s| s.is(&app.service)).cloned()),
            Some(Err(e)) => Err(e.clone()),
            None => unreachable!("every cluster of a service is described"),
        })
        .collect()
}

/// (registry account, repository name): one repository of one registry.
type Repository<'r> = (Option<&'r str>, &'r str);

/// Image look-ups, per repository.
type Queries<'r> = BTreeMap<Repository<'r>, BTreeSet<ImageQuery>>;

/// The rest of [`observe`]'s reads, given each application's service (in the order of `apps`)
/// and, where the deploy records say it, the digest it runs (`runs`): the task definitions and,
/// beside them, the image look-ups they do not decide (the target, and for a push the running
/// image the records name); then the look-ups only the task definitions could tell.
pub async fn observe_from_services<'a>(
    clients: &Clients,
    apps: &[&'a AppConfig],
    goal: &Goal,
    services: Vec<Result<Option<ServiceState>, AwsError>>,
    runs: &[Option<String>],
    concurrency: usize,
) -> Vec<Result<Observation, AwsError>> {
    // ECR: one call per repository for the target image and the running images. A deploy of
    // a named revision without a digest keeps the image each application runs.
    let keeps_running = matches!(goal, Goal::Manual(DeployTarget::Revision { digest: None, .. }));
    let wants_images = goal.image_query().is_some() || keeps_running;
    let is_push = matches!(goal, Goal::Push { .. });
    let repository_of =
        |app: &'a AppConfig| -> Repository<'a> { (app.registry_id.as_deref(), app.repository.as_str()) };
    // Early only where no look-up waits for a task definition (one call per repository, not two).
    let mut early: Queries = BTreeMap::new();
    let mut unknown: BTreeSet<Repository> = BTreeSet::new();
    for (i, app) in apps.iter().enumerate().filter(|_| wants_images) {
        let entry = early.entry(repository_of(app)).or_default();
        entry.extend(goal.image_query());
        match runs.get(i).cloned().flatten() {
            Some(digest) if is_push => _ = entry.insert(ImageQuery::Digest(digest)),
            _ if is_push || keeps_running => _ = unknown.insert(repository_of(app)),
            _ => {}
        }
    }
    early.retain(|repository, _| !unknown.contains(repository));
    // Task definitions, per application, concurrently; the early look-ups beside them.
    let revisions = stream::iter(services.into_iter().zip(apps).map(|(service, app)| async move {
        let Some(service) = service? else {
            return Ok(Observation::default());
        };
        observe_revisions(clients, goal, app.base, service).await
    }))
    .buffered(concurrency.max(1))
    .collect::<Vec<Result<Observation, AwsError>>>();
    let (observations, early_found) = tokio::join!(revisions, describe_per_repository(clients, &early));
    if !wants_images {
        return observations;
    }
    let target_of = |app: &AppConfig, obs: &Result<Observation, AwsError>| match (goal.image_query(), obs) {
        (Some(query), _) => Some(query),
        (None, Ok(obs)) if keeps_running => running_digest(app, obs).map(ImageQuery::Digest),
        _ => None,
    };
    let mut late: Queries = BTreeMap::new();
    for (app, obs) in apps.iter().zip(&observations) {
        let running = match (is_push, obs) {
            (true, Ok(obs)) => running_digest(app, obs).map(ImageQuery::Digest),
            _ => None,
        };
        let asked = early.get(&repository_of(app));
        for query in target_of(app, obs).into_iter().chain(running) {
            if !asked.is_some_and(|asked| asked.contains(&query)) {
                late.entry(repository_of(app)).or_default().insert(query);
            }
        }
    }
    let mut images = early_found;
    for (repository, found) in describe_per_repository(clients, &late).await {
        let merged = match (images.remove(&repository), found) {
            (Some(Err(e)), _) | (_, Err(e)) => Err(e),
            (Some(Ok(mut early)), Ok(late)) => {
                early.extend(late);
                Ok(early)
            }
            (None, Ok(late)) => Ok(late),
        };
        images.insert(repository, merged);
    }
    apps.iter()
        .zip(observations)
        .map(|(app, obs)| {
            let target_query = target_of(app, &obs);
            let mut obs = obs?;
            let found = images[&repository_of(app)].as_ref().map_err(Clone::clone)?;
            obs.target_image = target_query.and_then(|query| found.iter().find(|i| query.answered_by(i)).cloned());
            if let Some(digest) = running_digest(app, &obs) {
                obs.running_image = found.iter().find(|i| i.digest == digest).cloned();
            }
            Ok(obs)
        })
        .collect()
}

/// One `DescribeImages` per repository (100 look-ups a call), the repositories at once.
async fn describe_per_repository<'r>(
    clients: &Clients,
    queries: &Queries<'r>,
) -> BTreeMap<Repository<'r>, Result<Vec<ImageDetail>, AwsError>> {
    let lookups = queries.iter().map(|(&(registry_id, repository), queries)| async move {
        let queries: Vec<ImageQuery> = queries.iter().cloned().collect();
        let found = ecr::describe_images(&clients.ecr, registry_id, repository, &queries).await;
        ((registry_id, repository), found)
    });
    futures::future::join_all(lookups).await.into_iter().collect()
}

/// Rollback without a revision: each application's last good deploy from its records (the
/// newest completed deploy of a revision other than the running one), from its index as
/// already read (`known`, in the order of `apps`) or read here.
pub async fn observe_last_good(
    clients: &Clients,
    store: &RecordStore,
    apps: &[&AppConfig],
    known: &[Option<&DeployIndex>],
    observations: &mut [Result<Observation, AwsError>],
) {
    for ((app, obs), known) in apps.iter().zip(observations.iter_mut()).zip(known) {
        let Ok(found) = obs else { continue };
        let Some(running) = found.service.as_ref().map(|s| s.task_definition.clone()) else {
            continue;
        };
        let read;
        let index = match known {
            Some(index) => *index,
            None => match store.read(&clients.s3, &app.name).await {
                Ok(index) => {
                    read = index;
                    &read
                }
                Err(err) => {
                    *obs = Err(err);
                    continue;
                }
            },
        };
        found.last_good = index.last_good_except(&running).cloned();
        // A record is read back from S3: the revision it names is read from ECS (with its tags)
        // so that the plan can check it is the deployer's and runs the recorded image.
        if let Some(arn) = found.last_good.as_ref().and_then(|g| g.new_task_definition.clone()) {
            match ecs::describe_task_definition(&clients.ecs, &arn).await {
                Ok(revision) => found.rollback_to = Some(revision),
                Err(e) if e.code.as_deref() == Some("ClientException") => found.rollback_to = None,
                Err(e) => *obs = Err(e),
            }
        }
    }
}

/// Revision `n` of `family` when it exists and is ACTIVE (ECS answers `ClientException` for one
/// it does not know).
async fn active_revision(clients: &Clients, family: &str, n: i32) -> Result<Option<Revision>, AwsError> {
    match ecs::describe_task_definition(&clients.ecs, &format!("{family}:{n}")).await {
        Ok(found) => Ok(is_active(&found).then_some(found)),
        Err(e) if e.code.as_deref() == Some("ClientException") => Ok(None),
        Err(e) => Err(e),
    }
}

fn is_active(revision: &Revision) -> bool {
    revision.definition.status() == Some(&aws_sdk_ecs::types::TaskDefinitionStatus::Active)
}

/// The application's template when it is newer than the one `current` was built from (one
/// `DescribeTaskDefinition` of the family's latest revision, see [`template_after`]).
pub async fn template_change(clients: &Clients, current: &Revision) -> Result<Option<Revision>, AwsError> {
    let family = current.definition.family().unwrap_or_default();
    template_after(clients, family, current.arn(), &template::base_of(current)).await
}

/// The newest template of `family` when it is later than `base` (the template `running` was
/// built from): one `DescribeTaskDefinition` of the family's latest revision, none when that is
/// `running` itself (see [`newer_template`]).
pub(crate) async fn template_after(
    clients: &Clients,
    family: &str,
    running: &str,
    base: &str,
) -> Result<Option<Revision>, AwsError> {
    let latest = ecs::describe_task_definition(&clients.ecs, family).await?;
    if latest.arn() == running {
        return Ok(None);
    }
    newer_template(clients, &latest, base).await
}

/// The family's newest template when it is later than `base`: the latest revision itself when
/// the deployer did not register it, otherwise the template the latest was built from (read
/// when it is not the latest; a deregistered one, as Terraform leaves the revision it replaces,
/// is not a template).
async fn newer_template(clients: &Clients, latest: &Revision, base: &str) -> Result<Option<Revision>, AwsError> {
    let Some(newest) = template::built_from(latest) else {
        return Ok(None);
    };
    if !template::is_later(&newest, base) {
        return Ok(None);
    }
    if newest == latest.arn() {
        return Ok(Some(latest.clone()));
    }
    let found = ecs::describe_task_definition(&clients.ecs, &newest).await?;
    Ok(is_active(&found).then_some(found))
}

fn running_digest(app: &AppConfig, obs: &Observation) -> Option<String> {
    let image = ImageRef::parse(obs.current.as_ref()?.container_image(&app.container)?);
    (image.repository == app.repository).then_some(image.digest).flatten()
}

async fn observe_revisions(
    clients: &Clients,
    goal: &Goal,
    base: Base,
    service: ServiceState,
) -> Result<Observation, AwsError> {
    let mut obs = Observation::default();
    let running = family_and_revision(&service.task_definition);
    if let Goal::Rollback { revision, .. } = goal {
        let current = ecs::describe_task_definition(&clients.ecs, &service.task_definition).await?;
        let family = current.definition.family().unwrap_or_default().to_owned();
        match revision {
            Some(n) => obs.rollback_to = active_revision(clients, &family, *n).await?,
            None => {
                obs.family_revisions = ecs::list_revisions(&clients.ecs, &family).await?;
                // The one a rollback goes to when no good deploy is recorded, read for its image.
                let current_revision = current.definition.revision();
                if let Some((n, _)) = obs.family_revisions.iter().find(|(n, _)| *n < current_revision) {
                    obs.rollback_to = active_revision(clients, &family, *n).await?;
                }
            }
        }
        obs.current = Some(current);
    } else if let Goal::Manual(DeployTarget::Revision { revision, .. }) = goal {
        // The named revision's shape; a missing or deregistered one is reported by the plan.
        let current = ecs::describe_task_definition(&clients.ecs, &service.task_definition).await?;
        let family = current.definition.family().unwrap_or_default().to_owned();
        obs.template = active_revision(clients, &family, *revision).await?;
        obs.current = Some(current);
    } else if let Some((family, revision)) = running {
        // The family's latest revision is usually the running one: one call answers both, and
        // when it is not, it may be a revision an interrupted earlier attempt registered.
        let latest = ecs::describe_task_definition(&clients.ecs, &family).await?;
        if latest.definition.revision() == revision {
            obs.current = Some(latest);
        } else {
            let current = ecs::describe_task_definition(&clients.ecs, &service.task_definition).await?;
            if base == Base::Template {
                obs.template = newer_template(clients, &latest, &template::base_of(&current)).await?;
            }
            obs.current = Some(current);
            obs.latest = Some(latest);
        }
    } else {
        obs.current = Some(ecs::describe_task_definition(&clients.ecs, &service.task_definition).await?);
    }
    obs.service = Some(service);
    Ok(obs)
}
