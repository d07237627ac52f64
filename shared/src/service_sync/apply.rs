//! Carrying out a service-sync plan in order, resolving what earlier steps created.

use std::collections::BTreeMap;

use aws_sdk_ecs::types::ServiceRegistry;

use super::{Clients, CloudMapRef, IntegrationRef, Plan, Step};
use crate::aws::apigw::{self, DesiredIntegration, RouteSettings};
use crate::aws::{cloudmap, ecs, AwsError};
use crate::ownership::{ApiRecord, ApiRecordStore, Owner};

/// What one application's run changes in one API's record.
#[derive(Debug, Default)]
struct RecordChanges {
    routes: BTreeMap<String, Option<Owner>>,
    integrations: BTreeMap<String, Option<Owner>>,
}

impl RecordChanges {
    /// Applies the changes to `record`; true when it changed.
    fn apply_to(&self, record: &mut ApiRecord) -> bool {
        let mut changed = false;
        for (entries, changes) in [
            (&mut record.routes, &self.routes),
            (&mut record.integrations, &self.integrations),
        ] {
            for (id, owner) in changes {
                changed |= match owner {
                    Some(owner) => entries.insert(id.clone(), owner.clone()).as_ref() != Some(owner),
                    None => entries.remove(id).is_some(),
                };
            }
        }
        changed
    }
}

/// Carries out one application's plan in order, resolving what earlier steps created. The
/// routes and integrations it creates, adopts or deletes are written into each API's record
/// (`owned`) once at the end — also when a step failed, so what was made is never forgotten —
/// in one conditional write per API: overlapping applications of one API do not fight over
/// the object write by write. A run cut off before that write leaves nothing unowned: its
/// integration carries the application's mark, and routes that target it are adopted.
pub async fn apply(clients: &Clients, owned: Option<&ApiRecordStore>, app: &str, plan: &Plan) -> Result<(), AwsError> {
    let mut changes: BTreeMap<String, RecordChanges> = BTreeMap::new();
    let carried = carry_out(clients, app, plan, &mut changes).await;
    if let Some(store) = owned {
        for (api_id, change) in &changes {
            store
                .update(&clients.s3, api_id, |record| {
                    let changed = change.apply_to(record);
                    // Where the API is, so the orphan check reaches it when these apps are gone.
                    if changed && record.place != clients.place {
                        record.place = clients.place.clone();
                    }
                    changed
                })
                .await?;
        }
    }
    carried
}

async fn carry_out(
    clients: &Clients,
    app: &str,
    plan: &Plan,
    changes: &mut BTreeMap<String, RecordChanges>,
) -> Result<(), AwsError> {
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
                let change = changes.entry(api_id.clone()).or_default();
                change.integrations.insert(id.clone(), Some(owner(None)));
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
                let change = changes.entry(api_id.clone()).or_default();
                change.routes.insert(id, Some(owner(Some(key))));
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
                changes
                    .entry(api_id.clone())
                    .or_default()
                    .routes
                    .insert(route_id.clone(), None);
            }
            Step::DeleteIntegration { api_id, id } => {
                apigw::delete_integration(&clients.apigw, api_id, id).await?;
                changes
                    .entry(api_id.clone())
                    .or_default()
                    .integrations
                    .insert(id.clone(), None);
            }
            Step::Record {
                api_id,
                routes,
                integrations,
            } => {
                let change = changes.entry(api_id.clone()).or_default();
                for (id, key) in routes {
                    change.routes.insert(id.clone(), Some(owner(Some(key))));
                }
                for id in integrations {
                    change.integrations.insert(id.clone(), Some(owner(None)));
                }
            }
            Step::DeregisterRevision(arn) => ecs::deregister_task_definition(&clients.ecs.background(), arn).await?,
        }
    }
    Ok(())
}
