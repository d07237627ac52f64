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
use crate::config::{short_name, AppConfig, Config, ConfigSource};
use crate::deploy::MANAGED_TAG_KEY;
use crate::ecs::{self, ServiceState};
use crate::error::{AwsError, InputError, InvokeError};
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
    /// The Cloud Map services named like the application's (in any namespace in use).
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
        let namespace = cloudmap::find_namespace(&obs.namespaces, &cm.namespace)
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
                registry = Some((CloudMapRef::Created, format!("new cloud map service {label}")));
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
                registry = Some((CloudMapRef::Existing(existing.arn.clone()), existing.arn.clone()));
            }
        }
        let service = obs
            .service
            .as_ref()
            .ok_or_else(|| format!("ECS service `{}` not found in cluster `{}`", app.service, app.cluster))?;
        let container =
            (cm.record_type == "SRV").then(|| (cm.container.clone().unwrap_or_else(|| app.container.clone()), cm.port));
        let (cm_ref, cm_label) = registry.clone().expect("set above");
        let in_place = match &cm_ref {
            CloudMapRef::Existing(arn) => {
                service.registries.len() == 1
                    && service.registries[0].registry_arn() == Some(arn.as_str())
                    && service.registries[0].container_name() == container.as_ref().map(|c| c.0.as_str())
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
                format!("~ ecs service {}: service registry -> {target}", app.service_label()),
            );
        }
    }
    if let Some(api) = &app.api {
        let (cm_ref, cm_label) =
            registry.ok_or_else(|| "an `api` needs a `cloud_map` service for its integration to target".to_string())?;
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
    let ours =
        |r: &Route| matches!(integration, IntegrationRef::Existing(_)) && r.target.as_deref() == Some(target.as_str());
    let wanted: BTreeSet<String> = api.methods.iter().map(|m| format!("{m} {}", api.path)).collect();
    for key in &wanted {
        let same_key: Vec<&Route> = routes.iter().filter(|r| &r.key == key).collect();
        // Prefer a route that is already ours; AWS allows one route per key, the emulator more.
        let keep = same_key.iter().find(|r| ours(r)).or(same_key.first()).copied();
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
    for stale in routes.iter().filter(|r| ours(r) && !wanted.contains(&r.key)) {
        plan.push(
            SyncStep::DeleteRoute {
                api_id: api.api_id.clone(),
                route_id: stale.id.clone(),
            },
            format!("- route {} (no longer configured for {})", stale.key, app.name),
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
    for info in revisions.iter().filter(|r| r.revision < running.1 && r.managed) {
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
pub fn select<'a>(config: &'a Config, request: &ServiceSyncRequest) -> Result<Selection<'a>, InputError> {
    match request {
        ServiceSyncRequest::Scheduled | ServiceSyncRequest::Manual { apps: None, .. } => Ok(Selection::Sync {
            apps: config.apps.iter().collect(),
            completed: false,
        }),
        ServiceSyncRequest::Manual { apps: Some(names), .. } => {
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
            Ok(Selection::Sync { apps, completed: false })
        }
        ServiceSyncRequest::Deployment { service_arn, detail } => {
            // arn:aws:ecs:region:account:service/cluster/name
            let mut parts = service_arn.rsplit('/');
            let (service, cluster) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
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
                other => Selection::Ignored(format!("{other} of {}: nothing to sync until it completes", app.name)),
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
    let mut by_cluster: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for app in apps.iter().filter(|a| a.cloud_map.is_some() || completed) {
        by_cluster
            .entry(app.cluster.as_str())
            .or_default()
            .push(app.service.clone());
    }
    let mut services: BTreeMap<&str, Result<Vec<ServiceState>, AwsError>> = BTreeMap::new();
    for (cluster, names) in &by_cluster {
        services.insert(cluster, ecs::describe_services(&clients.ecs, cluster, names).await);
    }
    let api_ids: BTreeSet<&str> = apps
        .iter()
        .filter_map(|a| a.api.as_ref().map(|api| api.api_id.as_str()))
        .collect();
    let mut apis: BTreeMap<&str, Result<ApiState, AwsError>> = BTreeMap::new();
    for api_id in api_ids {
        let read = async {
            let integrations = apigw::get_integrations(&clients.apigw, api_id).await?;
            Ok((integrations, apigw::get_routes(&clients.apigw, api_id).await?))
        };
        apis.insert(api_id, read.await);
    }

    stream::iter(apps.iter().map(|app| {
        let (namespaces, cm_services, services, apis) = (&namespaces, &cm_services, &services, &apis);
        async move {
            let mut obs = SyncObservation {
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
                ..SyncObservation::default()
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
async fn observe_revisions(clients: &AwsClients, service: &ServiceState) -> Result<Vec<RevisionInfo>, AwsError> {
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
        infos.push(RevisionInfo { revision, arn, managed });
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
                cloud_map_arn = Some(cloudmap::create_service(&clients.cloud_map, desired).await?.arn);
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
                let mut entry = ServiceRegistry::builder().registry_arn(resolve_cm(registry, &cloud_map_arn));
                if let Some((name, port)) = container {
                    entry = entry.container_name(name).container_port(*port);
                }
                ecs::update_service_registries(&clients.ecs, cluster, service, vec![entry.build()]).await?;
            }
            SyncStep::CreateIntegration { api_id, desired, uri } => {
                let desired = DesiredIntegration {
                    uri: resolve_cm(uri, &cloud_map_arn),
                    ..desired.clone()
                };
                integration_id = Some(apigw::create_integration(&clients.apigw, api_id, &desired).await?);
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
            SyncStep::DeleteRoute { api_id, route_id } => apigw::delete_route(&clients.apigw, api_id, route_id).await?,
            SyncStep::DeregisterRevision(arn) => ecs::deregister_task_definition(&clients.ecs, arn).await?,
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
            let services = ecs::describe_services(&clients.ecs, &app.cluster, std::slice::from_ref(&app.service)).await;
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
        let plan = match obs.map_err(|e| e.to_string()).and_then(|obs| plan_app(app, &obs)) {
            Ok(plan) => plan,
            Err(reason) => return SyncResult::new(Some(&app.name), SyncOutcome::Failed, Some(reason)),
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

/// One `service-sync` invocation as the Lambda runs it.
pub async fn invoke(
    clients: &AwsClients,
    source: &ConfigSource,
    payload: &serde_json::Value,
    concurrency: usize,
) -> Result<SyncResponse, InvokeError> {
    let request = crate::events::parse_service_sync(payload)?;
    let config = source.load(&clients.s3).await?;
    Ok(handle(clients, &config, &request, concurrency).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{app, service};

    const CM_ARN: &str = "arn:aws:servicediscovery:ap-northeast-1:123456789012:service/srv-1";

    fn synced_app() -> AppConfig {
        let mut app = app();
        app.cloud_map =
            serde_json::from_value(serde_json::json!({"namespace": "sss.internal", "service": "orders", "port": 8080}))
                .unwrap();
        app.api = serde_json::from_value(serde_json::json!({
            "api_id": "api1", "vpc_link_id": "vl1", "authorizer_id": "au1", "methods": ["GET", "POST"]
        }))
        .unwrap();
        app
    }

    fn route(id: &str, key: &str, target: &str, authorizer: Option<&str>) -> Route {
        Route {
            id: id.into(),
            key: key.into(),
            target: Some(target.into()),
            authorization_type: if authorizer.is_some() { "JWT" } else { "NONE" }.into(),
            authorizer_id: authorizer.map(str::to_owned),
        }
    }

    /// A world where everything is as configured.
    fn in_step() -> SyncObservation {
        let mut svc = service("arn:td/orders:3");
        svc.registries = vec![ServiceRegistry::builder()
            .registry_arn(CM_ARN)
            .container_name("app")
            .container_port(8080)
            .build()];
        SyncObservation {
            service: Some(svc),
            namespaces: vec![Namespace {
                id: "ns-1".into(),
                name: "sss.internal".into(),
            }],
            cloud_map_services: vec![CloudMapService {
                id: "srv-1".into(),
                arn: CM_ARN.into(),
                name: "orders".into(),
                namespace_id: "ns-1".into(),
                record_type: Some("SRV".into()),
                ttl: Some(300),
                failure_threshold: Some(1),
            }],
            integrations: vec![Integration {
                id: "int1".into(),
                integration_type: "HTTP_PROXY".into(),
                connection_type: "VPC_LINK".into(),
                connection_id: Some("vl1".into()),
                uri: Some(CM_ARN.into()),
                method: Some("ANY".into()),
                payload_format_version: Some("1.0".into()),
                description: Some(integration_marker("orders")),
            }],
            routes: vec![
                route("r1", "GET /{proxy+}", "integrations/int1", Some("au1")),
                route("r2", "POST /{proxy+}", "integrations/int1", Some("au1")),
            ],
            revisions: None,
        }
    }

    #[test]
    fn a_world_in_step_plans_nothing() {
        let plan = plan_app(&synced_app(), &in_step()).unwrap();
        assert_eq!(plan, SyncPlan::default());
    }

    #[test]
    fn an_empty_world_plans_everything_in_order() {
        let mut obs = in_step();
        obs.cloud_map_services.clear();
        obs.integrations.clear();
        obs.routes.clear();
        obs.service.as_mut().unwrap().registries.clear();
        let plan = plan_app(&synced_app(), &obs).unwrap();
        let kinds: Vec<&str> = plan
            .steps
            .iter()
            .map(|s| match s {
                SyncStep::CreateCloudMapService(_) => "cloud map",
                SyncStep::SetServiceRegistry {
                    registry: CloudMapRef::Created,
                    ..
                } => "registry",
                SyncStep::CreateIntegration {
                    uri: CloudMapRef::Created,
                    ..
                } => "integration",
                SyncStep::CreateRoute {
                    integration: IntegrationRef::Created,
                    ..
                } => "route",
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(kinds, vec!["cloud map", "registry", "integration", "route", "route"]);
        assert_eq!(
            plan.actions[3],
            "+ route GET /{proxy+} -> the new integration (JWT au1)"
        );
    }

    #[test]
    fn routes_are_corrected_and_only_this_applications_extras_deleted() {
        let mut obs = in_step();
        obs.routes = vec![
            route("r1", "GET /{proxy+}", "integrations/other", Some("au1")),
            route("r2", "POST /{proxy+}", "integrations/int1", None),
            route("r3", "POST /{proxy+}", "integrations/int1", Some("au1")),
            route("r4", "DELETE /{proxy+}", "integrations/int1", Some("au1")),
            route("r5", "PUT /payments", "integrations/other", None),
        ];
        let plan = plan_app(&synced_app(), &obs).unwrap();
        let touched: Vec<String> = plan
            .steps
            .iter()
            .map(|s| match s {
                SyncStep::UpdateRoute { route_id, .. } => format!("~{route_id}"),
                SyncStep::DeleteRoute { route_id, .. } => format!("-{route_id}"),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        // r1 is pointed back, r2 kept (ours) and corrected, r3 its duplicate deleted, r4 stale.
        assert_eq!(touched, vec!["~r1", "~r2", "-r3", "-r4"]);
    }

    #[test]
    fn what_cloud_map_cannot_change_is_reported_as_drift() {
        let mut obs = in_step();
        obs.cloud_map_services[0].record_type = Some("A".into());
        obs.cloud_map_services[0].failure_threshold = Some(2);
        let plan = plan_app(&synced_app(), &obs).unwrap();
        assert!(plan.steps.is_empty());
        assert_eq!(plan.drift.len(), 2, "{:?}", plan.drift);
        assert!(plan.drift[0].contains("cannot change the record type"));
        obs.cloud_map_services[0].record_type = Some("SRV".into());
        obs.cloud_map_services[0].ttl = Some(60);
        let plan = plan_app(&synced_app(), &obs).unwrap();
        assert!(matches!(plan.steps[..], [SyncStep::UpdateTtl { ttl: 300, .. }]));
    }

    #[test]
    fn missing_namespace_or_service_is_a_failure() {
        let mut obs = in_step();
        obs.namespaces.clear();
        assert!(plan_app(&synced_app(), &obs)
            .unwrap_err()
            .contains("namespace `sss.internal` not found"));
        let mut obs = in_step();
        obs.service = None;
        assert!(plan_app(&synced_app(), &obs)
            .unwrap_err()
            .contains("ECS service `orders` not found"));
    }

    #[test]
    fn the_clean_up_keeps_the_running_newer_and_foreign_revisions() {
        let mut app = synced_app();
        app.keep_revisions = 2;
        let mut obs = in_step();
        let info = |revision, managed| RevisionInfo {
            revision,
            arn: format!("arn:td/orders:{revision}"),
            managed,
        };
        // Running: 3 (from `service("arn:td/orders:3")`); observe lists only older ones.
        obs.revisions = Some(vec![info(2, true), info(1, false)]);
        assert!(plan_app(&app, &obs).unwrap().steps.is_empty());
        obs.service.as_mut().unwrap().task_definition = "arn:td/orders:6".into();
        obs.revisions = Some(vec![
            info(5, true),
            info(4, false),
            info(3, true),
            info(2, true),
            info(1, false),
        ]);
        let plan = plan_app(&app, &obs).unwrap();
        assert_eq!(
            plan.steps,
            vec![
                SyncStep::DeregisterRevision("arn:td/orders:3".into()),
                SyncStep::DeregisterRevision("arn:td/orders:2".into())
            ]
        );
    }

    #[test]
    fn deployment_events_select_by_service_arn() {
        let config = Config::parse(
            &serde_json::json!({"apps": [serde_json::to_value(synced_app()).unwrap()]}).to_string(),
            "t",
        )
        .unwrap();
        let event = |name: &str, arn: &str| ServiceSyncRequest::Deployment {
            service_arn: arn.into(),
            detail: crate::events::EcsDeploymentDetail {
                event_type: None,
                event_name: name.into(),
                deployment_id: "ecs-svc/1".into(),
                updated_at: None,
                reason: Some("boom".into()),
            },
        };
        let arn = "arn:aws:ecs:ap-northeast-1:1:service/sss/orders";
        assert!(matches!(
            select(&config, &event("SERVICE_DEPLOYMENT_COMPLETED", arn)),
            Ok(Selection::Sync { completed: true, .. })
        ));
        assert!(matches!(
            select(&config, &event("SERVICE_DEPLOYMENT_FAILED", arn)),
            Ok(Selection::DeploymentFailed { .. })
        ));
        assert!(matches!(
            select(&config, &event("SERVICE_DEPLOYMENT_IN_PROGRESS", arn)),
            Ok(Selection::Ignored(_))
        ));
        let other = "arn:aws:ecs:ap-northeast-1:1:service/other/orders";
        assert!(matches!(
            select(&config, &event("SERVICE_DEPLOYMENT_COMPLETED", other)),
            Ok(Selection::Ignored(_))
        ));
    }
}
