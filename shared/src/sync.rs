//! `service-sync`: make Cloud Map, the ECS service registry and the HTTP API routes match the
//! configuration, and clean up old task definition revisions after a completed deploy.
//!
//! [`observe`] reads each shared resource once per run (namespaces, Cloud Map services, each
//! API's integrations and routes, services in batches of 10); [`plan_app`] is pure; [`apply`]
//! carries the steps out in order.

// Planning returns the report itself when it cannot go on; a few hundred bytes, not worth boxing.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ecs::types::ServiceRegistry;
use futures::stream::{self, StreamExt};
use serde::Serialize;

use crate::apigw::{self, DesiredIntegration, Integration, Route, RouteSettings};
use crate::aws::AwsClients;
use crate::cloudmap::{self, CloudMapService, DesiredService, Namespace};
use crate::config::{short_name, AppConfig, Config, ConfigSource, LoadConfigError};
use crate::deploy::MANAGED_TAG_KEY;
use crate::ecs::{self, ServiceState};
use crate::error::{AwsError, InputError};
use crate::events::ServiceSyncRequest;

/// How one application's sync ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncOutcome {
    /// Changes were applied.
    Synced,
    /// Everything already matched: nothing was written.
    Unchanged,
    /// Dry run: the actions listed would have been taken.
    Planned,
    /// Something failed; `reason` says what.
    Failed,
    /// The event concerns nothing to sync.
    Ignored,
    /// A deployment failed: reported, nothing synced.
    DeploymentFailed,
}

/// One entry of the response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncResult {
    /// Application name (absent when the event matches none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// How it ended.
    pub outcome: SyncOutcome,
    /// The changes, readable (`+ route GET /{proxy+} -> integration abc (JWT xyz)`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    /// Differences that cannot be repaired in place, with what to do.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<String>,
    /// The failed deployment's task definition (deployment events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<String>,
    /// Why nothing was done, or what failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl SyncResult {
    fn new(app: Option<&str>, outcome: SyncOutcome, reason: Option<String>) -> Self {
        SyncResult {
            app: app.map(str::to_owned),
            outcome,
            actions: Vec::new(),
            drift: Vec::new(),
            task_definition: None,
            reason,
        }
    }
}

/// The function's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncResponse {
    /// One entry per application.
    pub results: Vec<SyncResult>,
    /// True when nothing was written.
    pub dry_run: bool,
}

/// What was read for one application.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncObservation {
    /// The ECS service; none when it does not exist.
    pub service: Option<ServiceState>,
    /// Every Cloud Map namespace.
    pub namespaces: Vec<Namespace>,
    /// Every Cloud Map service.
    pub cloud_map_services: Vec<CloudMapService>,
    /// The application's API's integrations.
    pub integrations: Vec<Integration>,
    /// The application's API's routes.
    pub routes: Vec<Route>,
    /// After a completed deploy: ACTIVE revisions of the running family, newest first, with
    /// whether the deployer registered them.
    pub revisions: Option<Vec<RevisionInfo>>,
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

/// The Cloud Map service an earlier step creates, or one that exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloudMapRef {
    /// An existing service's ARN.
    Existing(String),
    /// The one [`SyncStep::CreateCloudMapService`] creates in this run.
    Created,
}

/// The integration an earlier step creates, or one that exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntegrationRef {
    /// An existing integration's ID.
    Existing(String),
    /// The one [`SyncStep::CreateIntegration`] creates in this run.
    Created,
}

/// One write of a sync plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncStep {
    /// Create the Cloud Map service.
    CreateCloudMapService(DesiredService),
    /// Change the Cloud Map service's TTL.
    UpdateTtl {
        /// Service ID.
        service_id: String,
        /// Record type (unchanged).
        record_type: String,
        /// New TTL.
        ttl: i64,
    },
    /// Point the ECS service's registry at the Cloud Map service.
    SetServiceRegistry {
        /// Cluster.
        cluster: String,
        /// Service.
        service: String,
        /// Cloud Map service.
        registry: CloudMapRef,
        /// Container and port (SRV records).
        container: Option<(String, i32)>,
    },
    /// Create the application's integration.
    CreateIntegration {
        /// API ID.
        api_id: String,
        /// Settings (the URI is taken from `uri`).
        desired: DesiredIntegration,
        /// Cloud Map service it targets.
        uri: CloudMapRef,
    },
    /// Correct the application's integration.
    UpdateIntegration {
        /// API ID.
        api_id: String,
        /// Integration ID.
        id: String,
        /// Settings (the URI is taken from `uri`).
        desired: DesiredIntegration,
        /// Cloud Map service it targets.
        uri: CloudMapRef,
    },
    /// Create a route.
    CreateRoute {
        /// API ID.
        api_id: String,
        /// `METHOD /path`.
        key: String,
        /// Integration it targets.
        integration: IntegrationRef,
        /// JWT authorizer.
        authorizer_id: Option<String>,
    },
    /// Correct a route's target or authorization.
    UpdateRoute {
        /// API ID.
        api_id: String,
        /// Route ID.
        route_id: String,
        /// Integration it targets.
        integration: IntegrationRef,
        /// JWT authorizer.
        authorizer_id: Option<String>,
    },
    /// Delete a route of the application's integration that the configuration no longer lists.
    DeleteRoute {
        /// API ID.
        api_id: String,
        /// Route ID.
        route_id: String,
    },
    /// Deregister an old revision the deployer registered.
    DeregisterRevision(String),
}

/// The plan for one application.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncPlan {
    /// The writes, in order.
    pub steps: Vec<SyncStep>,
    /// One readable line per step.
    pub actions: Vec<String>,
    /// Differences the plan cannot repair, with what to do.
    pub drift: Vec<String>,
}

impl SyncPlan {
    fn push(&mut self, step: SyncStep, action: String) {
        self.steps.push(step);
        self.actions.push(action);
    }
}

/// Description that marks an integration as the application's.
pub fn integration_marker(app: &str) -> String {
    format!("ecs-deployer:app={app}")
}

/// Plans one application's sync (pure). `Err` is a reason the application cannot be synced.
pub fn plan_app(app: &AppConfig, obs: &SyncObservation) -> Result<SyncPlan, String> {
    let mut plan = SyncPlan::default();
    let mut registry: Option<(CloudMapRef, String)> = None; // (ref, label)
    if let Some(cm) = &app.cloud_map {
        let namespace = obs
            .namespaces
            .iter()
            .find(|ns| ns.id == cm.namespace || ns.name == cm.namespace.trim_end_matches('.'))
            .ok_or_else(|| format!("Cloud Map namespace `{}` not found", cm.namespace))?;
        let desired = DesiredService {
            namespace_id: namespace.id.clone(),
            name: cm.service.clone(),
            record_type: cm.record_type.clone(),
            ttl: cm.ttl,
            failure_threshold: cm.failure_threshold,
        };
        let label = format!("{}.{}", cm.service, namespace.name);
        match obs
            .cloud_map_services
            .iter()
            .find(|s| s.namespace_id == namespace.id && s.name == cm.service)
        {
            None => {
                plan.push(
                    SyncStep::CreateCloudMapService(desired),
                    format!(
                        "+ cloud map service {label} ({}, TTL {}, failure threshold {})",
                        cm.record_type, cm.ttl, cm.failure_threshold
                    ),
                );
                registry = Some((
                    CloudMapRef::Created,
                    format!("new cloud map service {label}"),
                ));
            }
            Some(existing) => {
                let record_type = existing.record_type.as_deref().unwrap_or("(none)");
                if record_type != cm.record_type {
                    plan.drift.push(format!(
                        "cloud map service {label} has {record_type} records, configured {}: Cloud Map cannot change the record type in place; delete the service (after its instances are gone) and the next sync creates it",
                        cm.record_type
                    ));
                } else if existing.ttl != Some(cm.ttl) {
                    plan.push(
                        SyncStep::UpdateTtl {
                            service_id: existing.id.clone(),
                            record_type: cm.record_type.clone(),
                            ttl: cm.ttl,
                        },
                        format!(
                            "~ cloud map service {label}: TTL {} -> {}",
                            existing.ttl.unwrap_or_default(),
                            cm.ttl
                        ),
                    );
                }
                if existing.failure_threshold != Some(cm.failure_threshold) {
                    plan.drift.push(format!(
                        "cloud map service {label} has failure threshold {}, configured {}: it cannot be changed in place; recreate the service to apply it",
                        existing.failure_threshold.map_or("(none)".into(), |t| t.to_string()),
                        cm.failure_threshold
                    ));
                }
                registry = Some((
                    CloudMapRef::Existing(existing.arn.clone()),
                    existing.arn.clone(),
                ));
            }
        }
        let service = obs.service.as_ref().ok_or_else(|| {
            format!(
                "ECS service `{}` not found in cluster `{}`",
                app.service, app.cluster
            )
        })?;
        let container = (cm.record_type == "SRV").then(|| {
            (
                cm.container
                    .clone()
                    .unwrap_or_else(|| app.container.clone()),
                cm.port,
            )
        });
        let (cm_ref, cm_label) = registry.clone().expect("set above");
        let in_place = match &cm_ref {
            CloudMapRef::Existing(arn) => {
                service.registries.len() == 1
                    && service.registries[0].registry_arn() == Some(arn.as_str())
                    && service.registries[0].container_name()
                        == container.as_ref().map(|c| c.0.as_str())
                    && service.registries[0].container_port() == container.as_ref().map(|c| c.1)
            }
            CloudMapRef::Created => false,
        };
        if !in_place {
            let target = match &container {
                Some((name, port)) => format!("{cm_label} ({name}:{port})"),
                None => cm_label.clone(),
            };
            plan.push(
                SyncStep::SetServiceRegistry {
                    cluster: app.cluster.clone(),
                    service: app.service.clone(),
                    registry: cm_ref,
                    container,
                },
                format!(
                    "~ ecs service {}: service registry -> {target}",
                    app.service_label()
                ),
            );
        }
    }
    if let Some(api) = &app.api {
        let (cm_ref, cm_label) = registry.ok_or_else(|| {
            "an `api` needs a `cloud_map` service for its integration to target".to_string()
        })?;
        let desired = DesiredIntegration {
            vpc_link_id: api.vpc_link_id.clone(),
            uri: match &cm_ref {
                CloudMapRef::Existing(arn) => arn.clone(),
                CloudMapRef::Created => String::new(),
            },
            description: integration_marker(&app.name),
        };
        let pointing = |i: &&Integration| {
            matches!(cm_ref, CloudMapRef::Existing(_))
                && i.uri.as_deref() == Some(desired.uri.as_str())
                && i.connection_id.as_deref() == Some(api.vpc_link_id.as_str())
        };
        let existing = obs.integrations.iter().find(pointing).or_else(|| {
            obs.integrations
                .iter()
                .find(|i| i.description.as_deref() == Some(desired.description.as_str()))
        });
        let integration = match existing {
            Some(found) => {
                let differences = desired.differences(found);
                if !differences.is_empty() || matches!(cm_ref, CloudMapRef::Created) {
                    let mut text = differences.join(", ");
                    if matches!(cm_ref, CloudMapRef::Created) {
                        text = format!("uri -> {cm_label}");
                    }
                    plan.push(
                        SyncStep::UpdateIntegration {
                            api_id: api.api_id.clone(),
                            id: found.id.clone(),
                            desired: desired.clone(),
                            uri: cm_ref.clone(),
                        },
                        format!("~ integration {}: {text}", found.id),
                    );
                }
                IntegrationRef::Existing(found.id.clone())
            }
            None => {
                plan.push(
                    SyncStep::CreateIntegration {
                        api_id: api.api_id.clone(),
                        desired: desired.clone(),
                        uri: cm_ref.clone(),
                    },
                    format!(
                        "+ integration HTTP_PROXY over VPC link {} -> {cm_label}",
                        api.vpc_link_id
                    ),
                );
                IntegrationRef::Created
            }
        };
        plan_routes(app, api, &integration, &obs.routes, &mut plan);
    }
    if let Some(revisions) = &obs.revisions {
        plan_revision_cleanup(app, obs.service.as_ref(), revisions, &mut plan);
    }
    Ok(plan)
}

fn plan_routes(
    app: &AppConfig,
    api: &crate::config::ApiConfig,
    integration: &IntegrationRef,
    routes: &[Route],
    plan: &mut SyncPlan,
) {
    let target = match integration {
        IntegrationRef::Existing(id) => format!("integrations/{id}"),
        IntegrationRef::Created => String::new(),
    };
    let integration_label = match integration {
        IntegrationRef::Existing(id) => format!("integration {id}"),
        IntegrationRef::Created => "the new integration".to_string(),
    };
    let settings = RouteSettings {
        target: target.clone(),
        authorizer_id: api.authorizer_id.clone(),
    };
    let auth_label = match &api.authorizer_id {
        Some(id) => format!("JWT {id}"),
        None => "no authorization".into(),
    };
    let ours = |r: &Route| {
        matches!(integration, IntegrationRef::Existing(_))
            && r.target.as_deref() == Some(target.as_str())
    };
    let wanted: BTreeSet<String> = api
        .methods
        .iter()
        .map(|m| format!("{m} {}", api.path))
        .collect();
    for key in &wanted {
        let same_key: Vec<&Route> = routes.iter().filter(|r| &r.key == key).collect();
        // Prefer a route that is already ours; AWS allows one route per key, the emulator more.
        let keep = same_key
            .iter()
            .find(|r| ours(r))
            .or(same_key.first())
            .copied();
        match keep {
            None => plan.push(
                SyncStep::CreateRoute {
                    api_id: api.api_id.clone(),
                    key: key.clone(),
                    integration: integration.clone(),
                    authorizer_id: api.authorizer_id.clone(),
                },
                format!("+ route {key} -> {integration_label} ({auth_label})"),
            ),
            Some(route) => {
                if matches!(integration, IntegrationRef::Created) || !settings.matches(route) {
                    plan.push(
                        SyncStep::UpdateRoute {
                            api_id: api.api_id.clone(),
                            route_id: route.id.clone(),
                            integration: integration.clone(),
                            authorizer_id: api.authorizer_id.clone(),
                        },
                        format!(
                            "~ route {key}: target {} -> {integration_label}, {} {} -> {auth_label}",
                            route.target.as_deref().unwrap_or("(none)"),
                            route.authorization_type,
                            route.authorizer_id.as_deref().unwrap_or("-")
                        ),
                    );
                }
                for duplicate in same_key.iter().filter(|r| r.id != route.id && ours(r)) {
                    plan.push(
                        SyncStep::DeleteRoute {
                            api_id: api.api_id.clone(),
                            route_id: duplicate.id.clone(),
                        },
                        format!("- route {key} (duplicate {})", duplicate.id),
                    );
                }
            }
        }
    }
    for stale in routes
        .iter()
        .filter(|r| ours(r) && !wanted.contains(&r.key))
    {
        plan.push(
            SyncStep::DeleteRoute {
                api_id: api.api_id.clone(),
                route_id: stale.id.clone(),
            },
            format!(
                "- route {} (no longer configured for {})",
                stale.key, app.name
            ),
        );
    }
}

fn plan_revision_cleanup(
    app: &AppConfig,
    service: Option<&ServiceState>,
    revisions: &[RevisionInfo],
    plan: &mut SyncPlan,
) {
    let Some(running) = service.and_then(|s| ecs::family_and_revision(&s.task_definition)) else {
        return;
    };
    // The running revision counts as kept; newer ones (a deploy on its way) are never touched.
    let mut kept = 1u32;
    for info in revisions
        .iter()
        .filter(|r| r.revision < running.1 && r.managed)
    {
        if kept < app.keep_revisions {
            kept += 1;
        } else {
            plan.push(
                SyncStep::DeregisterRevision(info.arn.clone()),
                format!(
                    "- task definition {}:{} (beyond the {} kept)",
                    running.0, info.revision, app.keep_revisions
                ),
            );
        }
    }
}

/// Which applications a request concerns.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection<'a> {
    /// Sync these; `completed` asks for the revision clean-up too.
    Sync {
        /// Applications.
        apps: Vec<&'a AppConfig>,
        /// After a completed deploy.
        completed: bool,
    },
    /// Report a failed deployment of this application.
    DeploymentFailed {
        /// The application.
        app: &'a AppConfig,
        /// Deployment ID.
        deployment_id: String,
        /// Why it failed.
        reason: Option<String>,
    },
    /// Nothing to do, and why.
    Ignored(String),
}

/// Picks the applications a request concerns; an unknown application in a manual payload is an
/// input error.
pub fn select<'a>(
    config: &'a Config,
    request: &ServiceSyncRequest,
) -> Result<Selection<'a>, InputError> {
    match request {
        ServiceSyncRequest::Scheduled | ServiceSyncRequest::Manual { apps: None, .. } => {
            Ok(Selection::Sync {
                apps: config.apps.iter().collect(),
                completed: false,
            })
        }
        ServiceSyncRequest::Manual {
            apps: Some(names), ..
        } => {
            let mut apps = Vec::new();
            for (i, name) in names.iter().enumerate() {
                let app = config.app(name).ok_or_else(|| {
                    let known: Vec<&str> = config.apps.iter().map(|a| a.name.as_str()).collect();
                    InputError::new(
                        format!("sync.apps[{i}]"),
                        format!(
                            "one of the configured applications ({}), got `{name}`",
                            known.join(", ")
                        ),
                    )
                })?;
                apps.push(app);
            }
            Ok(Selection::Sync {
                apps,
                completed: false,
            })
        }
        ServiceSyncRequest::Deployment {
            service_arn,
            detail,
        } => {
            // arn:aws:ecs:region:account:service/cluster/name
            let mut parts = service_arn.rsplit('/');
            let (service, cluster) = (
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
            );
            let Some(app) = config
                .apps
                .iter()
                .find(|a| short_name(&a.service) == service && short_name(&a.cluster) == cluster)
            else {
                return Ok(Selection::Ignored(format!(
                    "no application is configured for {service_arn}"
                )));
            };
            Ok(match detail.event_name.as_str() {
                "SERVICE_DEPLOYMENT_COMPLETED" => Selection::Sync {
                    apps: vec![app],
                    completed: true,
                },
                "SERVICE_DEPLOYMENT_FAILED" => Selection::DeploymentFailed {
                    app,
                    deployment_id: detail.deployment_id.clone(),
                    reason: detail.reason.clone(),
                },
                other => Selection::Ignored(format!(
                    "{other} of {}: nothing to sync until it completes",
                    app.name
                )),
            })
        }
    }
}

/// An API's integrations and routes.
type ApiState = (Vec<Integration>, Vec<Route>);

/// Reads what the plans need, each shared resource once.
pub async fn observe(
    clients: &AwsClients,
    apps: &[&AppConfig],
    completed: bool,
    concurrency: usize,
) -> Vec<Result<SyncObservation, AwsError>> {
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
                .filter_map(|cm| {
                    namespaces.iter().find(|ns| {
                        ns.id == cm.namespace || ns.name == cm.namespace.trim_end_matches('.')
                    })
                })
                .map(|ns| ns.id.as_str())
                .collect();
            let mut all = Ok(Vec::new());
            for namespace_id in used {
                match (
                    &mut all,
                    cloudmap::list_services(&clients.cloud_map, namespace_id).await,
                ) {
                    (Ok(all), Ok(found)) => {
                        all.extend(found.into_iter().filter(|s| s.namespace_id == namespace_id))
                    }
                    (all, Err(err)) => *all = Err(err),
                    (Err(_), Ok(_)) => {}
                }
            }
            all
        }
        Err(err) => Err(err.clone()),
    };
    let mut by_cluster: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for app in apps.iter().filter(|a| a.cloud_map.is_some() || completed) {
        by_cluster
            .entry(app.cluster.as_str())
            .or_default()
            .push(app.service.clone());
    }
    let mut services: BTreeMap<&str, Result<Vec<ServiceState>, AwsError>> = BTreeMap::new();
    for (cluster, names) in &by_cluster {
        services.insert(
            cluster,
            ecs::describe_services(&clients.ecs, cluster, names).await,
        );
    }
    let api_ids: BTreeSet<&str> = apps
        .iter()
        .filter_map(|a| a.api.as_ref().map(|api| api.api_id.as_str()))
        .collect();
    let mut apis: BTreeMap<&str, Result<ApiState, AwsError>> = BTreeMap::new();
    for api_id in api_ids {
        let read = async {
            let integrations = apigw::get_integrations(&clients.apigw, api_id).await?;
            Ok((
                integrations,
                apigw::get_routes(&clients.apigw, api_id).await?,
            ))
        };
        apis.insert(api_id, read.await);
    }

    stream::iter(apps.iter().map(|app| {
        let (namespaces, cm_services, services, apis) =
            (&namespaces, &cm_services, &services, &apis);
        async move {
            let mut obs = SyncObservation {
                namespaces: namespaces.clone()?,
                cloud_map_services: cm_services.clone()?,
                ..SyncObservation::default()
            };
            if let Some(found) = services.get(app.cluster.as_str()) {
                obs.service = found
                    .as_ref()
                    .map_err(Clone::clone)?
                    .iter()
                    .find(|s| s.name == short_name(&app.service) || s.arn == app.service)
                    .cloned();
            }
            if let Some(api) = &app.api {
                let (integrations, routes) = apis[api.api_id.as_str()].clone()?;
                obs.integrations = integrations;
                obs.routes = routes;
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
    .collect()
    .await
}

/// ACTIVE revisions of the running family older than the running one, with their managed tag.
async fn observe_revisions(
    clients: &AwsClients,
    service: &ServiceState,
) -> Result<Vec<RevisionInfo>, AwsError> {
    let Some((family, running)) = ecs::family_and_revision(&service.task_definition) else {
        return Ok(Vec::new());
    };
    let mut infos = Vec::new();
    for (revision, arn) in ecs::list_revisions(&clients.ecs, &family).await? {
        if revision >= running {
            continue;
        }
        let managed = ecs::list_tags(&clients.ecs, &arn)
            .await?
            .iter()
            .any(|t| t.key() == Some(MANAGED_TAG_KEY));
        infos.push(RevisionInfo {
            revision,
            arn,
            managed,
        });
    }
    Ok(infos)
}

/// Carries out one application's plan in order, resolving what earlier steps created.
pub async fn apply(clients: &AwsClients, plan: &SyncPlan) -> Result<(), AwsError> {
    let mut cloud_map_arn: Option<String> = None;
    let mut integration_id: Option<String> = None;
    let resolve_cm = |r: &CloudMapRef, created: &Option<String>| match r {
        CloudMapRef::Existing(arn) => arn.clone(),
        CloudMapRef::Created => created.clone().unwrap_or_default(),
    };
    let resolve_integration = |r: &IntegrationRef, created: &Option<String>| match r {
        IntegrationRef::Existing(id) => format!("integrations/{id}"),
        IntegrationRef::Created => format!("integrations/{}", created.clone().unwrap_or_default()),
    };
    for step in &plan.steps {
        match step {
            SyncStep::CreateCloudMapService(desired) => {
                cloud_map_arn = Some(
                    cloudmap::create_service(&clients.cloud_map, desired)
                        .await?
                        .arn,
                );
            }
            SyncStep::UpdateTtl {
                service_id,
                record_type,
                ttl,
            } => cloudmap::update_ttl(&clients.cloud_map, service_id, record_type, *ttl).await?,
            SyncStep::SetServiceRegistry {
                cluster,
                service,
                registry,
                container,
            } => {
                let mut entry =
                    ServiceRegistry::builder().registry_arn(resolve_cm(registry, &cloud_map_arn));
                if let Some((name, port)) = container {
                    entry = entry.container_name(name).container_port(*port);
                }
                ecs::update_service_registries(&clients.ecs, cluster, service, vec![entry.build()])
                    .await?;
            }
            SyncStep::CreateIntegration {
                api_id,
                desired,
                uri,
            } => {
                let desired = DesiredIntegration {
                    uri: resolve_cm(uri, &cloud_map_arn),
                    ..desired.clone()
                };
                integration_id =
                    Some(apigw::create_integration(&clients.apigw, api_id, &desired).await?);
            }
            SyncStep::UpdateIntegration {
                api_id,
                id,
                desired,
                uri,
            } => {
                let desired = DesiredIntegration {
                    uri: resolve_cm(uri, &cloud_map_arn),
                    ..desired.clone()
                };
                apigw::update_integration(&clients.apigw, api_id, id, &desired).await?;
            }
            SyncStep::CreateRoute {
                api_id,
                key,
                integration,
                authorizer_id,
            } => {
                let settings = RouteSettings {
                    target: resolve_integration(integration, &integration_id),
                    authorizer_id: authorizer_id.clone(),
                };
                apigw::create_route(&clients.apigw, api_id, key, &settings).await?;
            }
            SyncStep::UpdateRoute {
                api_id,
                route_id,
                integration,
                authorizer_id,
            } => {
                let settings = RouteSettings {
                    target: resolve_integration(integration, &integration_id),
                    authorizer_id: authorizer_id.clone(),
                };
                apigw::update_route(&clients.apigw, api_id, route_id, &settings).await?;
            }
            SyncStep::DeleteRoute { api_id, route_id } => {
                apigw::delete_route(&clients.apigw, api_id, route_id).await?
            }
            SyncStep::DeregisterRevision(arn) => {
                ecs::deregister_task_definition(&clients.ecs, arn).await?
            }
        }
    }
    Ok(())
}

/// Handles one `service-sync` invocation: select, observe, plan, apply (unless a dry run).
pub async fn handle(
    clients: &AwsClients,
    config: &Config,
    request: &ServiceSyncRequest,
    concurrency: usize,
) -> Result<SyncResponse, InputError> {
    let dry_run = request.dry_run();
    let (apps, completed) = match select(config, request)? {
        Selection::Sync { apps, completed } => (apps, completed),
        Selection::Ignored(reason) => {
            return Ok(finish(
                vec![SyncResult::new(None, SyncOutcome::Ignored, Some(reason))],
                dry_run,
            ));
        }
        Selection::DeploymentFailed {
            app,
            deployment_id,
            reason,
        } => {
            let mut result = SyncResult::new(
                Some(&app.name),
                SyncOutcome::DeploymentFailed,
                Some(reason.unwrap_or_else(|| "ECS reported no reason".into())),
            );
            // One read to name the failed deployment's task definition; nothing is written.
            let services = ecs::describe_services(
                &clients.ecs,
                &app.cluster,
                std::slice::from_ref(&app.service),
            )
            .await;
            result.task_definition = services.ok().and_then(|found| {
                let service = found.into_iter().next()?;
                let by_id = service
                    .deployments
                    .iter()
                    .find(|(id, _)| *id == deployment_id)
                    .map(|(_, td)| td.clone());
                Some(by_id.unwrap_or(service.task_definition))
            });
            return Ok(finish(vec![result], dry_run));
        }
    };
    let observations = observe(clients, &apps, completed, concurrency).await;
    let results = stream::iter(apps.iter().zip(observations).map(|(app, obs)| async move {
        let plan = match obs
            .map_err(|e| e.to_string())
            .and_then(|obs| plan_app(app, &obs))
        {
            Ok(plan) => plan,
            Err(reason) => {
                return SyncResult::new(Some(&app.name), SyncOutcome::Failed, Some(reason))
            }
        };
        let mut result = SyncResult::new(Some(&app.name), SyncOutcome::Unchanged, None);
        result.actions = plan.actions.clone();
        result.drift = plan.drift.clone();
        if plan.steps.is_empty() {
            return result;
        }
        if dry_run {
            result.outcome = SyncOutcome::Planned;
            return result;
        }
        match apply(clients, &plan).await {
            Ok(()) => result.outcome = SyncOutcome::Synced,
            Err(err) => {
                result.outcome = SyncOutcome::Failed;
                result.reason = Some(format!("{err}; the next sync resumes from what exists"));
            }
        }
        result
    }))
    .buffered(concurrency.max(1))
    .collect()
    .await;
    Ok(finish(results, dry_run))
}

fn finish(results: Vec<SyncResult>, dry_run: bool) -> SyncResponse {
    for result in &results {
        tracing::info!(
            app = result.app.as_deref().unwrap_or("-"),
            outcome = ?result.outcome,
            actions = result.actions.len(),
            drift = result.drift.len(),
            reason = result.reason.as_deref().unwrap_or("-"),
            "service-sync result"
        );
    }
    SyncResponse { results, dry_run }
}

/// Why a `service-sync` invocation was refused before anything was done.
#[derive(Debug, thiserror::Error)]
pub enum SyncInvokeError {
    /// The event or payload is malformed, or names an unknown application.
    #[error("InvalidInput: {0}")]
    Input(#[from] InputError),
    /// The configuration is missing, unreadable or invalid.
    #[error("InvalidConfiguration: {0}")]
    Config(#[from] LoadConfigError),
}

/// One `service-sync` invocation as the Lambda runs it.
pub async fn invoke(
    clients: &AwsClients,
    source: &ConfigSource,
    payload: &serde_json::Value,
    concurrency: usize,
) -> Result<SyncResponse, SyncInvokeError> {
    let request = crate::events::parse_service_sync(payload)?;
    let config = source.load(&clients.s3).await?;
    Ok(handle(clients, &config, &request, concurrency).await?)
}
