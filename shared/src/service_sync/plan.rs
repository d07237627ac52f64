//! How service-sync decides for one application (pure): the Cloud Map service, the ECS service
//! registry and the HTTP API integration here; the routes in [`super::routes`] and the revision
//! clean-up in [`super::cleanup`].

use super::cleanup::plan_revision_cleanup;
use super::routes::plan_routes;
use super::Observation;
use crate::aws::apigw::{DesiredIntegration, Integration};
use crate::aws::cloudmap::{self, DesiredService};
use crate::input::config::AppConfig;
use crate::ownership::integration_marker;

/// The Cloud Map service an earlier step creates, or one that exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloudMapRef {
    /// An existing service's ARN.
    Existing(String),
    /// The one [`Step::CreateCloudMapService`] creates in this run.
    Created,
}

/// The integration an earlier step creates, or one that exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntegrationRef {
    /// An existing integration's ID.
    Existing(String),
    /// The one [`Step::CreateIntegration`] creates in this run.
    Created,
}

/// One write of a sync plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
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
pub struct Plan {
    /// The writes, in order.
    pub steps: Vec<Step>,
    /// One readable line per step.
    pub actions: Vec<String>,
    /// Differences the plan cannot repair, with what to do.
    pub drift: Vec<String>,
}

impl Plan {
    /// Adds a step and its readable line.
    pub(crate) fn push(&mut self, step: Step, action: String) {
        self.steps.push(step);
        self.actions.push(action);
    }
}

/// Plans one application's sync (pure). `Err` is a reason the application cannot be synced.
pub fn plan_app(app: &AppConfig, obs: &Observation) -> Result<Plan, String> {
    let mut plan = Plan::default();
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
                    Step::CreateCloudMapService(desired),
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
                        Step::UpdateTtl {
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
                Step::SetServiceRegistry {
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
                        Step::UpdateIntegration {
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
                    Step::CreateIntegration {
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
