//! Carrying out a service-sync plan in order, resolving what earlier steps created.

use aws_sdk_ecs::types::ServiceRegistry;

use super::{Clients, CloudMapRef, IntegrationRef, Plan, Step};
use crate::aws::apigw::{self, DesiredIntegration, RouteSettings};
use crate::aws::{cloudmap, ecs, AwsError};
use crate::ownership::{ApiRecordStore, Owner};

/// Carries out one application's plan in order, resolving what earlier steps created. Each
/// route and integration it creates is written into the API's record (`owned`) right after it
/// is created, and each it deletes is taken out after it is gone.
pub async fn apply(clients: &Clients, owned: Option<&ApiRecordStore>, app: &str, plan: &Plan) -> Result<(), AwsError> {
    let record = |api_id: &str, change: Box<dyn Fn(&mut crate::ownership::ApiRecord) -> bool + Send + Sync>| {
        let api_id = api_id.to_owned();
        async move {
            match owned {
                Some(store) => store.update(&clients.s3, &api_id, change).await,
                None => Ok(()),
            }
        }
    };
    let owner = |key: Option<&str>| Owner {
        app: app.to_owned(),
        key: key.map(str::to_owned),
    };
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
                let id = apigw::create_integration(&clients.apigw, api_id, &desired).await?;
                let entry = owner(None);
                let recorded = id.clone();
                record(
                    api_id,
                    Box::new(move |r| r.integrations.insert(recorded.clone(), entry.clone()).as_ref() != Some(&entry)),
                )
                .await?;
                integration_id = Some(id);
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
                let id = apigw::create_route(&clients.apigw, api_id, key, &settings).await?;
                let entry = owner(Some(key));
                record(
                    api_id,
                    Box::new(move |r| r.routes.insert(id.clone(), entry.clone()).as_ref() != Some(&entry)),
                )
                .await?;
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
            Step::DeleteRoute { api_id, route_id } => {
                apigw::delete_route(&clients.apigw, api_id, route_id).await?;
                let gone = route_id.clone();
                record(api_id, Box::new(move |r| r.routes.remove(&gone).is_some())).await?;
            }
            Step::DeleteIntegration { api_id, id } => {
                apigw::delete_integration(&clients.apigw, api_id, id).await?;
                let gone = id.clone();
                record(api_id, Box::new(move |r| r.integrations.remove(&gone).is_some())).await?;
            }
            Step::Record {
                api_id,
                routes,
                integrations,
            } => {
                let (routes, integrations) = (routes.clone(), integrations.clone());
                let entry = owner(None);
                record(
                    api_id,
                    Box::new(move |r| {
                        let mut changed = false;
                        for (id, key) in &routes {
                            let entry = Owner {
                                key: Some(key.clone()),
                                ..entry.clone()
                            };
                            changed |= r.routes.insert(id.clone(), entry.clone()).as_ref() != Some(&entry);
                        }
                        for id in &integrations {
                            changed |= r.integrations.insert(id.clone(), entry.clone()).as_ref() != Some(&entry);
                        }
                        changed
                    }),
                )
                .await?;
            }
            Step::DeregisterRevision(arn) => ecs::deregister_task_definition(&clients.ecs, arn).await?,
        }
    }
    Ok(())
}
