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
    /// Delete an integration the deployer made for the application that no route uses.
    DeleteIntegration {
        /// API ID.
        api_id: String,
        /// Integration ID.
        id: String,
    },
    /// Write into the API's record routes and integrations that are the application's but not
    /// recorded yet (made by an earlier version, or a run cut off between create and record).
    Record {
        /// API ID.
        api_id: String,
        /// Route IDs and keys.
        routes: Vec<(String, String)>,
        /// Integration IDs.
        integrations: Vec<String>,
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
    /// Resources the configuration asks for that someone else owns: left alone, and the sync
    /// fails so that a person looks.
    pub conflicts: Vec<String>,
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
        if namespace.kind == "HTTP" {
            return Err(format!(
                "Cloud Map namespace {} is an HTTP namespace (Service Connect's): ECS service discovery and API Gateway need a DNS namespace (private or public). Nothing was changed. Name a DNS namespace in cloud_map.namespace",
                namespace.name
            ));
        }
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
                // What Cloud Map fixes at creation is compared first: a service that differs is
                // refused before any write, so the ECS registry never points at a service whose
                // records disagree with it. (Replacing it in place is not possible: a namespace
                // holds one service per name, and the old one must keep answering until the ECS
                // service has moved.)
                let record_type = existing.record_type.as_deref().unwrap_or("(none)");
                if record_type != cm.record_type {
                    return Err(format!(
                        "cloud map service {label} has {record_type} records, configured {}: Cloud Map fixes the record type when a service is created. Nothing was changed. Set record_type to {record_type}, or move the application to a new service name (the next sync creates it and points the ECS service at it), then delete the old service",
                        cm.record_type
                    ));
                }
                if !existing.custom_health_check {
                    return Err(format!(
                        "cloud map service {label} has no custom health check, which ECS service discovery needs and Cloud Map only sets when a service is created. Nothing was changed. Move the application to a new service name (the next sync creates it with one), then delete the old service"
                    ));
                }
                if existing.ttl != Some(cm.ttl) {
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
        // The application's integrations: recorded as created for it, or marked with its
        // description. An integration someone else made is never taken over, even when it
        // points at the same Cloud Map service.
        let mine: Vec<&Integration> = obs
            .integrations
            .iter()
            .filter(|i| {
                obs.api_record.integration_owner(&i.id) == Some(app.name.as_str())
                    || i.description.as_deref() == Some(desired.description.as_str())
            })
            .collect();
        let existing = mine
            .iter()
            .find(|i| matches!(cm_ref, CloudMapRef::Existing(_)) && desired.differences(i).is_empty())
            .or(mine.first())
            .copied();
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
        let mine_ids: Vec<String> = mine.iter().map(|i| i.id.clone()).collect();
        let adopted_routes = plan_routes(
            app,
            api,
            &integration,
            &mine_ids,
            &obs.api_record,
            &obs.routes,
            &mut plan,
        );
        // Integrations of the application that no route uses (left by an overlapping run or a
        // replaced integration): removed. One a route still targets waits for a later run.
        let unused: Vec<&&Integration> = mine
            .iter()
            .filter(|i| IntegrationRef::Existing(i.id.clone()) != integration)
            .filter(|i| {
                let target = format!("integrations/{}", i.id);
                !obs.routes.iter().any(|r| r.target.as_deref() == Some(target.as_str()))
            })
            .collect();
        let adopted_integrations: Vec<String> = mine
            .iter()
            .filter(|i| obs.api_record.integration_owner(&i.id).is_none() && !unused.iter().any(|u| u.id == i.id))
            .map(|i| i.id.clone())
            .collect();
        if obs.recording && (!adopted_routes.is_empty() || !adopted_integrations.is_empty()) {
            let listed: Vec<String> = adopted_routes
                .iter()
                .map(|(id, key)| format!("route {key} ({id})"))
                .chain(adopted_integrations.iter().map(|id| format!("integration {id}")))
                .collect();
            plan.push(
                Step::Record {
                    api_id: api.api_id.clone(),
                    routes: adopted_routes,
                    integrations: adopted_integrations,
                },
                format!("= record as {}'s: {}", app.name, listed.join(", ")),
            );
        }
        for unused in unused {
            plan.push(
                Step::DeleteIntegration {
                    api_id: api.api_id.clone(),
                    id: unused.id.clone(),
                },
                format!("- integration {} (no route uses it)", unused.id),
            );
        }
    }
    plan_revision_cleanup(app, obs, &mut plan);
    Ok(plan)
}
