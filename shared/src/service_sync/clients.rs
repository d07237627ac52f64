//! The AWS clients service-sync uses, and how a service in another account or region is
//! reached.

use std::sync::Arc;

use aws_config::SdkConfig;

use super::{NAME, SOURCE_IDENTITY};
use crate::aws;
use crate::input::config::ServicePlace;

/// The AWS clients service-sync uses.
#[derive(Debug, Clone)]
pub struct Clients {
    /// ECS: services, their registries, revisions.
    pub ecs: aws::ecs::Ecs,
    /// Cloud Map: namespaces and services.
    pub cloud_map: aws_sdk_servicediscovery::Client,
    /// API Gateway: integrations and routes.
    pub apigw: aws_sdk_apigatewayv2::Client,
    /// EventBridge rules and Scheduler schedules: the revisions scheduled tasks run are in use.
    pub schedulers: aws::schedules::Schedulers,
    /// S3: the configuration.
    pub s3: aws_sdk_s3::Client,
    /// EventBridge: `Sync Failed` events.
    pub events: aws_sdk_eventbridge::Client,
    /// The region (console links in events).
    pub region: String,
    /// The configuration the clients were built from (clients for other accounts and regions).
    pub sdk_config: SdkConfig,
    /// Where these clients act (the function's own account and region by default).
    pub place: ServicePlace,
    /// ECS, Cloud Map and API Gateway clients of services in another account or region, one
    /// set per [`ServicePlace`] (and whether its sessions carry a source identity), kept for the function's life (each role's credentials cached
    /// and refreshed by the provider).
    pub places: Arc<aws::ClientCache<(ServicePlace, bool), PlaceClients>>,
}

/// The clients of one [`ServicePlace`].
pub type PlaceClients = (
    aws::ecs::Ecs,
    aws_sdk_servicediscovery::Client,
    aws_sdk_apigatewayv2::Client,
    aws::schedules::Schedulers,
);

impl Clients {
    /// These clients with ECS, Cloud Map and API Gateway acting at `place` (through its role,
    /// in its region; the role's session names `app`, the first application that needed them,
    /// and carries the source identity `ecs-deployer.service-sync` when `source_identity`); the
    /// configuration, the records and the events stay the function's own.
    pub async fn at(&self, place: &ServicePlace, app: &str, source_identity: bool) -> Clients {
        if place.is_own() {
            return self.clone();
        }
        let (ecs, cloud_map, apigw, schedulers) = self
            .places
            .get_or_make((place.clone(), source_identity), || async {
                let config = aws::reach_config(
                    &self.sdk_config,
                    place.role_arn.as_deref(),
                    place.external_id.as_deref(),
                    place.region.as_deref(),
                    &format!("{NAME}-{app}"),
                    source_identity.then_some(SOURCE_IDENTITY),
                )
                .await;
                (
                    aws::ecs::Ecs::new(&config, place.role_arn.as_deref()),
                    aws_sdk_servicediscovery::Client::new(&config),
                    aws_sdk_apigatewayv2::Client::new(&config),
                    aws::schedules::Schedulers::new(&config),
                )
            })
            .await;
        Clients {
            ecs,
            cloud_map,
            apigw,
            schedulers,
            region: place.region.clone().unwrap_or_else(|| self.region.clone()),
            place: place.clone(),
            ..self.clone()
        }
    }
}
