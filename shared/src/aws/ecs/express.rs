//! ECS Express Mode services (since November 2025): read (`DescribeExpressGatewayService`) and
//! moved to a new primary container image (`UpdateExpressGatewayService`, which makes a new
//! service revision and deploys it; the service underneath is an ECS service as any other).

use aws_sdk_ecs::types::ExpressGatewayContainer;

use super::Ecs;
use crate::aws::arn::short_name;
use crate::aws::pace::EcsBucket;
use crate::aws::AwsError;

/// An Express service as its newest active configuration says.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpressService {
    /// Its ARN.
    pub arn: String,
    /// Its primary container, every member as ECS answered it.
    pub primary: ExpressGatewayContainer,
    /// The task definition of that configuration.
    pub task_definition: Option<String>,
}

/// The Express service `arn` (none: ECS knows no such service, or it has no configuration).
pub async fn describe_express(client: &Ecs, arn: &str) -> Result<Option<ExpressService>, AwsError> {
    client.paced(EcsBucket::ServiceReads).await;
    let output = client.describe_express_gateway_service().service_arn(arn).send().await;
    client.heard(EcsBucket::ServiceReads, &output);
    let output = match output {
        Ok(output) => output,
        Err(err) => {
            let err = AwsError::from_sdk("ECS", "DescribeExpressGatewayService", short_name(arn), err);
            return match err.code.as_deref() {
                Some("ResourceNotFoundException") => Ok(None),
                _ => Err(err),
            };
        }
    };
    let Some(service) = output.service() else {
        return Ok(None);
    };
    // The newest active configuration: during a deployment ECS lists the old and the new.
    let newest = service
        .active_configurations()
        .iter()
        .max_by_key(|c| c.created_at().map(|t| (t.secs(), t.subsec_nanos())));
    Ok(newest.and_then(|configuration| {
        Some(ExpressService {
            arn: service.service_arn().unwrap_or(arn).to_owned(),
            primary: configuration.primary_container()?.clone(),
            task_definition: configuration.task_definition_arn().map(str::to_owned),
        })
    }))
}

/// The primary container of `service` with `image`, every other member kept: an update's
/// `primaryContainer` is taken whole (assumed, AWS does not say it merges), so nothing is left
/// out.
pub fn with_image(primary: &ExpressGatewayContainer, image: &str) -> ExpressGatewayContainer {
    let mut container = primary.clone();
    container.image = image.to_owned();
    container
}

/// Moves the Express service to `container`; returns the new configuration's task definition.
pub async fn update_express(
    client: &Ecs,
    arn: &str,
    container: ExpressGatewayContainer,
) -> Result<Option<String>, AwsError> {
    client.paced(EcsBucket::ServiceWrites).await;
    let output = client
        .update_express_gateway_service()
        .service_arn(arn)
        .primary_container(container)
        .send()
        .await;
    client.heard(EcsBucket::ServiceWrites, &output);
    let output = output.map_err(|e| AwsError::from_sdk("ECS", "UpdateExpressGatewayService", short_name(arn), e))?;
    Ok(output
        .service()
        .and_then(|s| s.target_configuration())
        .and_then(|c| c.task_definition_arn())
        .map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::{
        ExpressGatewayRepositoryCredentials, ExpressGatewayServiceAwsLogsConfiguration, KeyValuePair, Secret,
    };

    /// Every member the SDK models comes back from `with_image` but the image: a member added
    /// to the type shows here as a Debug field to keep.
    #[test]
    fn the_update_sends_every_member_of_the_primary_container_back() {
        let primary = ExpressGatewayContainer::builder()
            .image("registry/orders:latest")
            .container_port(8080)
            .aws_logs_configuration(
                ExpressGatewayServiceAwsLogsConfiguration::builder()
                    .log_group("/ecs/orders")
                    .log_stream_prefix("orders")
                    .build()
                    .unwrap(),
            )
            .command("serve")
            .environment(KeyValuePair::builder().name("MODE").value("prod").build())
            .secrets(Secret::builder().name("DB").value_from("arn:db").build().unwrap())
            .repository_credentials(
                ExpressGatewayRepositoryCredentials::builder()
                    .credentials_parameter("arn:creds")
                    .build(),
            )
            .build()
            .unwrap();
        let moved = with_image(&primary, "registry/orders@sha256:abc");
        assert_eq!(moved.image, "registry/orders@sha256:abc");
        assert_eq!(with_image(&moved, &primary.image), primary);
        let debug = format!("{primary:?}");
        let fields = crate::testing::top_level_fields(&debug);
        assert!(fields.iter().all(|(_, value)| *value != "None"), "{fields:?}");
    }
}
