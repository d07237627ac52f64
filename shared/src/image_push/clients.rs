//! The AWS clients image-push (and the deploy worker) use, and how an application in another
//! account or Region is reached.

use std::sync::Arc;

use aws_config::SdkConfig;

use super::NAME;
use crate::aws;
use crate::input::config::{grouped, AppConfig, ServicePlace};

/// The AWS clients image-push uses.
#[derive(Debug, Clone)]
pub struct Clients {
    /// ECS: services and revisions (paced per account and Region).
    pub ecs: aws::ecs::Ecs,
    /// ECR: which digest a tag points to.
    pub ecr: aws_sdk_ecr::Client,
    /// S3: the configuration, the deploy leases and the deploy records.
    pub s3: aws_sdk_s3::Client,
    /// EventBridge: deploy outcomes.
    pub events: aws_sdk_eventbridge::Client,
    /// SQS: the deploy queue of large fan-outs.
    pub sqs: aws_sdk_sqs::Client,
    /// CloudWatch: the alarms that hold a promotion back (the service's account and region).
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// EventBridge rules and Scheduler schedules: the scheduled tasks that follow a deploy (the
    /// service's account and region; not `events`, which publishes on the deployer's bus).
    pub schedulers: aws::schedules::Schedulers,
    /// The region of the services (console links in events).
    pub region: String,
    /// The region of the registry images are read and pulled from (the host of pinned images).
    pub registry_region: String,
    /// The configuration the clients were built from (clients for other accounts and regions).
    pub sdk_config: SdkConfig,
    /// ECS and ECR clients of applications in another account or region, one pair per
    /// [`Reach`], kept for the function's life: each role's credentials are cached and
    /// refreshed by the provider, not asked for per call.
    pub reached: Arc<aws::ClientCache<Reach, ReachedClients>>,
}

/// The clients of one [`Reach`]: ECS, CloudWatch and the scheduled tasks' at the service's
/// place, ECR at the registry's.
pub type ReachedClients = (
    aws::ecs::Ecs,
    aws_sdk_ecr::Client,
    aws_sdk_cloudwatch::Client,
    aws::schedules::Schedulers,
);

/// How an application's service and registry are reached when they are not the function's own
/// account and region: the service's place, and the registry's role and region.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reach {
    /// Where the service is.
    pub service: ServicePlace,
    /// Role for the registry's calls.
    pub registry_role_arn: Option<String>,
    /// Region of the registry.
    pub registry_region: Option<String>,
    /// The source identity its roles' sessions carry (`source_identity` in the configuration):
    /// then each application has clients of its own.
    pub source_identity: Option<String>,
}

impl Reach {
    /// How `app` is reached.
    pub fn of(app: &AppConfig) -> Reach {
        Reach {
            service: app.service_place(),
            registry_role_arn: app.registry_role_arn.clone(),
            registry_region: app.registry_region.clone(),
            source_identity: app.source_identity(),
        }
    }
}

impl Clients {
    /// The clients for `app`: these, with ECS acting through the app's role in its region and
    /// ECR through the registry's role in the registry's region, when the app names them (the
    /// records, the leases and the events stay the function's own).
    pub async fn for_app(&self, app: &AppConfig) -> Clients {
        let reach = Reach::of(app);
        if reach == Reach::default() {
            return self.clone();
        }
        let session = format!("{NAME}-{}", app.name);
        let (ecs, ecr, cloudwatch, schedulers) = self
            .reached
            .get_or_make(reach.clone(), || async {
                let ecs = aws::reach_config(
                    &self.sdk_config,
                    reach.service.role_arn.as_deref(),
                    reach.service.external_id.as_deref(),
                    reach.service.region.as_deref(),
                    &session,
                    reach.source_identity.as_deref(),
                )
                .await;
                let ecr = aws::reach_config(
                    &self.sdk_config,
                    reach.registry_role_arn.as_deref(),
                    None,
                    reach.registry_region.as_deref(),
                    &session,
                    reach.source_identity.as_deref(),
                )
                .await;
                (
                    aws::ecs::Ecs::new(&ecs, reach.service.role_arn.as_deref()),
                    aws_sdk_ecr::Client::new(&ecr),
                    aws_sdk_cloudwatch::Client::new(&ecs),
                    aws::schedules::Schedulers::new(&ecs),
                )
            })
            .await;
        Clients {
            ecs,
            ecr,
            cloudwatch,
            schedulers,
            region: app.region.clone().unwrap_or_else(|| self.region.clone()),
            registry_region: app
                .registry_region
                .clone()
                .unwrap_or_else(|| self.registry_region.clone()),
            ..self.clone()
        }
    }
}

/// The applications grouped by [`Reach`], in first-seen order, each group with its clients.
pub(crate) async fn by_reach<'a>(clients: &Clients, apps: &[&'a AppConfig]) -> Vec<(Clients, Vec<&'a AppConfig>)> {
    let mut with_clients = Vec::new();
    for (_, group) in grouped(apps.iter().copied(), Reach::of) {
        with_clients.push((clients.for_app(group[0]).await, group));
    }
    with_clients
}
