//! The API side of a world: a Cloud Map namespace, an HTTP API, a VPC link, JWT authorizers; and
//! service-sync's invocations and ECS deployment events.

use super::*;

/// The API side of a world: a Cloud Map namespace, an HTTP API, a VPC link, JWT authorizers.
#[derive(Debug, Clone)]
pub struct ApiWorld {
    /// Private DNS namespace name (`sss.internal`).
    pub namespace: String,
    /// Its ID.
    pub namespace_id: String,
    /// HTTP API ID.
    pub api_id: String,
    /// VPC link ID.
    pub vpc_link_id: String,
    /// The JWT authorizer the configuration names.
    pub authorizer_id: String,
    /// Another JWT authorizer (for drift tests).
    pub other_authorizer_id: String,
}

impl World {
    /// Creates the namespace `sss.internal`, an HTTP API, a VPC link over the world's subnets
    /// and two JWT authorizers.
    pub async fn api(&self) -> ApiWorld {
        let clients = &self.clients;
        clients
            .cloud_map
            .create_private_dns_namespace()
            .name("sss.internal")
            .vpc(&self.vpc)
            .send()
            .await
            .expect("CreatePrivateDnsNamespace");
        let namespaces = deployer::aws::cloudmap::list_namespaces(&clients.cloud_map)
            .await
            .expect("ListNamespaces");
        let namespace_id = namespaces
            .iter()
            .find(|n| n.name == "sss.internal")
            .expect("namespace")
            .id
            .clone();
        let api = clients
            .apigw
            .create_api()
            .name("sss")
            .protocol_type(aws_sdk_apigatewayv2::types::ProtocolType::Http)
            .send()
            .await
            .expect("CreateApi");
        let api_id = api.api_id().expect("API ID").to_owned();
        let link = clients
            .apigw
            .create_vpc_link()
            .name("sss")
            .set_subnet_ids(Some(self.subnets.clone()))
            .security_group_ids(&self.security_group)
            .send()
            .await
            .expect("CreateVpcLink");
        let mut authorizers = Vec::new();
        for name in ["users", "admins"] {
            let authorizer = clients
                .apigw
                .create_authorizer()
                .api_id(&api_id)
                .name(name)
                .authorizer_type(aws_sdk_apigatewayv2::types::AuthorizerType::Jwt)
                .identity_source("$request.header.Authorization")
                .jwt_configuration(
                    aws_sdk_apigatewayv2::types::JwtConfiguration::builder()
                        .audience("orders")
                        .issuer(format!("https://auth.example.com/{name}"))
                        .build(),
                )
                .send()
                .await
                .expect("CreateAuthorizer");
            authorizers.push(authorizer.authorizer_id().expect("authorizer ID").to_owned());
        }
        ApiWorld {
            namespace: "sss.internal".into(),
            namespace_id,
            api_id,
            vpc_link_id: link.vpc_link_id().expect("VPC link ID").to_owned(),
            authorizer_id: authorizers[0].clone(),
            other_authorizer_id: authorizers[1].clone(),
        }
    }
}

impl ApiWorld {
    /// The application's configuration with its Cloud Map service and routes (`methods` on
    /// `path`) on this API.
    pub fn app_config(&self, app: &AppWorld, methods: &[&str], path: &str) -> serde_json::Value {
        let mut config = app.config();
        config["cloud_map"] = serde_json::json!({"namespace": self.namespace, "service": app.name, "port": 8080});
        config["api"] = serde_json::json!({
            "api_id": self.api_id, "vpc_link_id": self.vpc_link_id, "authorizer_id": self.authorizer_id,
            "methods": methods, "path": path,
        });
        config
    }
}

/// Runs one `service-sync` invocation in-process, exactly as the Lambda handler does.
pub async fn invoke_service_sync(
    clients: &AwsClients,
    config: &str,
    payload: &serde_json::Value,
) -> Result<service_sync::Answer, InvokeError> {
    invoke_job::<service_sync::ServiceSync>(clients, config, payload, &Settings::default()).await
}

/// An `ECS Deployment State Change` event for a service of the world.
pub fn deployment_event(cluster: &str, service: &str, event_name: &str, deployment_id: &str) -> serde_json::Value {
    serde_json::json!({
        "version": "0",
        "id": format!("evt-{event_name}-{deployment_id}"),
        "detail-type": "ECS Deployment State Change",
        "source": "aws.ecs",
        "account": ACCOUNT,
        "time": "2026-11-22T00:00:00Z",
        "region": REGION,
        "resources": [format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/{cluster}/{service}")],
        "detail": {
            "eventType": if event_name.ends_with("FAILED") { "ERROR" } else { "INFO" },
            "eventName": event_name,
            "deploymentId": deployment_id,
            "updatedAt": "2026-11-22T00:00:00.000Z",
            "reason": if event_name.ends_with("FAILED") { "ECS deployment circuit breaker: tasks failed to start." } else { "" },
        }
    })
}
