//! What service-sync reads before it plans, each shared resource once per run.

use std::collections::{BTreeMap, BTreeSet};

use futures::stream::{self, StreamExt};

use super::Clients;
use crate::aws::apigw::{self, Integration, Route};
use crate::aws::arn::family_and_revision;
use crate::aws::cloudmap::{self, CloudMapService, Namespace};
use crate::aws::ecs::{self, ServiceState};
use crate::aws::schedules;
use crate::aws::AwsError;
use crate::input::config::AppConfig;
use crate::ownership::{is_managed, ApiRecord, ApiRecordStore};
use crate::records::RecordStore;

/// What was read for one application.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    /// The ECS service; none when it does not exist.
    pub service: Option<ServiceState>,
    /// Every Cloud Map namespace.
    pub namespaces: Vec<Namespace>,
    /// The Cloud Map services named like the application's (in any namespace in use).
    pub cloud_map_services: Vec<CloudMapService>,
    /// The application's API's integrations.
    pub integrations: Vec<Integration>,
    /// The application's API's routes.
    pub routes: Vec<Route>,
    /// What the deployer recorded as created in the application's API (empty without a state
    /// bucket: then only integrations marked by their description are the deployer's).
    pub api_record: ApiRecord,
    /// True when a state bucket keeps the record: only then is what is found recorded.
    pub recording: bool,
    /// After a completed deploy: ACTIVE revisions of the running family, newest first, with
    /// whether the deployer registered them.
    pub revisions: Option<Vec<RevisionInfo>>,
    /// Revisions some service of the configured clusters runs or is deploying (read only when
    /// the clean-up has something to consider): never deregistered.
    pub revisions_in_use: BTreeSet<String>,
    /// The revision of the application's last completed deploy before the running one (from
    /// the deploy records): never deregistered, it is where a rollback goes.
    pub last_good: Option<String>,
    /// Revisions of the application's completed deploys, newest first (from the records).
    pub completed_revisions: Vec<String>,
}

/// One ACTIVE revision of a family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionInfo {
    /// Revision number.
    pub revision: i32,
    /// ARN.
    pub arn: String,
    /// Registered by the deployer (tagged `ecs-deployer:managed`).
    pub managed: bool,
}

/// An API's integrations, routes and the record of what the deployer created there.
type ApiState = (Vec<Integration>, Vec<Route>, ApiRecord);

/// What a run reads besides the applications' own resources.
#[derive(Debug, Clone, Copy)]
pub struct Reads<'a> {
    /// After a completed deploy: the revision clean-up's inputs too.
    pub completed: bool,
    /// Calls at once.
    pub concurrency: usize,
    /// The record of the routes and integrations the deployer created.
    pub owned: Option<&'a ApiRecordStore>,
    /// The deploy records (the last good revision).
    pub records: Option<&'a RecordStore>,
    /// Every configured cluster: a revision any of their services runs is in use.
    pub clusters: &'a [&'a str],
}

/// Reads what the plans need, each shared resource once.
pub async fn observe(clients: &Clients, apps: &[&AppConfig], reads: Reads<'_>) -> Vec<Result<Observation, AwsError>> {
    let Reads {
        completed,
        concurrency,
        owned,
        ..
    } = reads;
    let wants_cloud_map = apps.iter().any(|a| a.cloud_map.is_some());
    let namespaces = if wants_cloud_map {
        cloudmap::list_namespaces(&clients.cloud_map).await
    } else {
        Ok(Vec::new())
    };
    // One ListServices per namespace in use, shared by every application in it.
    let cm_services = match &namespaces {
        Ok(namespaces) => {
            let used: BTreeSet<&str> = apps
                .iter()
                .filter_map(|a| a.cloud_map.as_ref())
                .filter_map(|cm| cloudmap::find_namespace(namespaces, &cm.namespace))
                .map(|ns| ns.id.as_str())
                .collect();
            let mut all = Ok(Vec::new());
            for namespace_id in used {
                match (
                    &mut all,
                    cloudmap::list_services(&clients.cloud_map, namespace_id).await,
                ) {
                    (Ok(all), Ok(found)) => all.extend(found.into_iter().filter(|s| s.namespace_id == namespace_id)),
                    (all, Err(err)) => *all = Err(err),
                    (Err(_), Ok(_)) => {}
                }
            }
            all
        }
        Err(err) => Err(err.clone()),
    };
    let services = ecs::describe_services_in_clusters(
        &clients.ecs,
        apps.iter()
            .filter(|a| !a.is_schedule_only() && (a.cloud_map.is_some() || completed))
            .map(|a| (a.cluster.as_str(), a.service.as_str())),
        concurrency,
    )
    .await;
    let api_ids: BTreeSet<&str> = apps
        .iter()
        .filter_map(|a| a.api.as_ref().map(|api| api.api_id.as_str()))
        .collect();
    let mut apis: BTreeMap<&str, Result<ApiState, AwsError>> = BTreeMap::new();
    for api_id in api_ids {
        let read = async {
            let integrations = apigw::get_integrations(&clients.apigw, api_id).await?;
            let routes = apigw::get_routes(&clients.apigw, api_id).await?;
            let record = match owned {
                Some(store) => store.read(&clients.s3, api_id).await?.record,
                None => ApiRecord::default(),
            };
            Ok((integrations, routes, record))
        };
        apis.insert(api_id, read.await);
    }

    let mut observations = stream::iter(apps.iter().map(|app| {
        let (namespaces, cm_services, services, apis) = (&namespaces, &cm_services, &services, &apis);
        async move {
            let mut obs = Observation {
                namespaces: namespaces.clone()?,
                // Only the services named like this application's: 200 applications need not
                // each carry a copy of every service.
                cloud_map_services: cm_services
                    .as_ref()
                    .map_err(Clone::clone)?
                    .iter()
                    .filter(|s| app.cloud_map.as_ref().is_some_and(|cm| cm.service == s.name))
                    .cloned()
                    .collect(),
                ..Observation::default()
            };
            if let Some(found) = services.get(app.cluster.as_str()) {
                obs.service = found
                    .as_ref()
                    .map_err(Clone::clone)?
                    .iter()
                    .find(|s| s.is(&app.service))
                    .cloned();
            }
            if let Some(api) = &app.api {
                let (integrations, routes, record) = apis[api.api_id.as_str()].clone()?;
                obs.integrations = integrations;
                obs.routes = routes;
                obs.api_record = record;
                obs.recording = owned.is_some();
            }
            if completed {
                obs.revisions = match &obs.service {
                    Some(service) => Some(observe_revisions(clients, service).await?),
                    None => None,
                };
            }
            Ok(obs)
        }
    }))
    .buffered(concurrency.max(1))
    .collect::<Vec<_>>()
    .await;
    if completed {
        observe_protected(clients, apps, reads, &mut observations).await;
    }
    observations
}

/// What the revision clean-up must keep, read only when it has something to consider (an
/// application with more of the deployer's revisions than it keeps): every revision the
/// services of the configured clusters run or deploy (several services may share a family),
/// and each application's last good revision.
async fn observe_protected(
    clients: &Clients,
    apps: &[&AppConfig],
    reads: Reads<'_>,
    observations: &mut [Result<Observation, AwsError>],
) {
    let considers = |app: &AppConfig, obs: &Observation| {
        obs.revisions
            .as_ref()
            .is_some_and(|revisions| revisions.iter().filter(|r| r.managed).count() >= app.keep_revisions as usize)
    };
    let wanted: Vec<usize> = apps
        .iter()
        .zip(observations.iter())
        .enumerate()
        .filter(|(_, (app, obs))| obs.as_ref().is_ok_and(|obs| considers(app, obs)))
        .map(|(i, _)| i)
        .collect();
    if wanted.is_empty() {
        return;
    }
    let in_use = revisions_in_use(clients, reads.clusters, apps, reads.concurrency).await;
    for i in wanted {
        let Ok(obs) = &mut observations[i] else { continue };
        let running = obs
            .service
            .as_ref()
            .map(|s| s.task_definition.clone())
            .unwrap_or_default();
        let last_good = match reads.records {
            Some(store) => store.read(&clients.s3, &apps[i].name).await.map(|index| {
                let completed = index.completed_revisions();
                let last_good = index
                    .last_good_except(&running)
                    .and_then(|r| r.new_task_definition.clone());
                (last_good, completed)
            }),
            None => Ok((None, Vec::new())),
        };
        match (&in_use, last_good) {
            (Ok(in_use), Ok((last_good, completed))) => {
                obs.revisions_in_use = in_use.clone();
                obs.last_good = last_good;
                obs.completed_revisions = completed;
            }
            // Without knowing what is in use, nothing is deregistered: the clean-up waits.
            (Err(err), _) => observations[i] = Err(err.clone()),
            (_, Err(err)) => observations[i] = Err(err),
        }
    }
}

/// Every revision in use at one place: what the services of `clusters` run or deploy, and what
/// the ECS targets of `apps`' scheduled tasks run (a rule or schedule that cannot be read is an
/// error: nothing is removed without knowing).
pub(super) async fn revisions_in_use(
    clients: &Clients,
    clusters: &[&str],
    apps: &[&AppConfig],
    concurrency: usize,
) -> Result<BTreeSet<String>, AwsError> {
    let mut in_use = ecs::revisions_in_use(&clients.ecs, clusters, concurrency).await?;
    for schedule in apps.iter().flat_map(|app| app.schedule_refs()) {
        let targets = schedules::read_targets(&clients.schedulers, &schedule).await?;
        in_use.extend(targets.into_iter().map(|t| t.task_definition));
    }
    Ok(in_use)
}

/// ACTIVE revisions of the running family older than the running one, with their managed tag.
async fn observe_revisions(clients: &Clients, service: &ServiceState) -> Result<Vec<RevisionInfo>, AwsError> {
    let Some((family, running)) = family_and_revision(&service.task_definition) else {
        return Ok(Vec::new());
    };
    let mut infos = Vec::new();
    for (revision, arn) in ecs::list_revisions(&clients.ecs, &family).await? {
        if revision >= running {
            continue;
        }
        let managed = is_managed(&ecs::list_tags(&clients.ecs, &arn).await?);
        infos.push(RevisionInfo { revision, arn, managed });
    }
    Ok(infos)
}
