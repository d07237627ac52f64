//! Carrying out a service-sync plan in order, resolving what earlier steps created.

use aws_sdk_ecs::types::ServiceRegistry;

use super::{Clients, CloudMapRef, IntegrationRef, Plan, Step};
use crate::aws::apigw::{self, DesiredIntegration, RouteSettings};
use crate::aws::{cloudmap, ecs, AwsError};

/// Carries out one application's plan in order, resolving what earlier steps created.
pub async fn apply(clients: &Clients, plan: &Plan) -> Result<(), AwsError> {
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
            Step::CreateCloudMapService(desired) => {
                cloud_map_arn = Some(cloudmap::create_service(&clients.cloud_map, desired).await?.arn);
            }
            Step::UpdateTtl {
                service_id,
                record_type,
                ttl,
            } => cloudmap::update_ttl(&clients.cloud_map, service_id, record_type, *ttl).await?,
            Step::SetServiceRegistry {
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
            Step::CreateIntegration { api_id, desired, uri } => {
                let desired = DesiredIntegration {
                    uri: resolve_cm(uri, &cloud_map_arn),
                    ..desired.clone()
                };
                integration_id = Some(apigw::create_integration(&clients.apigw, api_id, &desired).await?);
            }
            Step::UpdateIntegration {
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
            Step::CreateRoute {
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
            Step::UpdateRoute {
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
            Step::DeleteRoute { api_id, route_id } => apigw::delete_route(&clients.apigw, api_id, route_id).await?,
            Step::DeregisterRevision(arn) => ecs::deregister_task_definition(&clients.ecs, arn).await?,
        }
    }
    Ok(())
}
