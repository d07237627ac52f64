//! API Gateway HTTP API: the private integration and the routes of each application.

use aws_sdk_apigatewayv2::types::{AuthorizationType, ConnectionType, IntegrationType};

use crate::aws::at_most_once;
use crate::aws::AwsError;

/// Payload format version API Gateway requires for private (VPC link) HTTP integrations.
pub const PRIVATE_PAYLOAD_FORMAT: &str = "1.0";

/// What the deployer needs to know of an integration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Integration {
    /// Integration ID.
    pub id: String,
    /// `HTTP_PROXY`, `AWS_PROXY`, ...
    pub integration_type: String,
    /// `VPC_LINK` or `INTERNET`.
    pub connection_type: String,
    /// VPC link ID.
    pub connection_id: Option<String>,
    /// For a Cloud Map target: the service ARN.
    pub uri: Option<String>,
    /// HTTP method used towards the target.
    pub method: Option<String>,
    /// Payload format version.
    pub payload_format_version: Option<String>,
    /// Description (the deployer marks its own).
    pub description: Option<String>,
    /// Its `overwrite:path` parameter mapping, if any.
    pub path_mapping: Option<String>,
}

/// The parameter mapping that sends the request's own path to the service. Without it API
/// Gateway puts the stage name in front of the path of a private integration on any stage but
/// `$default` ("Working with private integrations for HTTP APIs"): `/prod/orders/1` instead of
/// `/orders/1`.
pub const PATH_MAPPING: (&str, &str) = ("overwrite:path", "$request.path");

/// The integration the configuration asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredIntegration {
    /// VPC link ID.
    pub vpc_link_id: String,
    /// Cloud Map service ARN.
    pub uri: String,
    /// Marks the integration as the application's.
    pub description: String,
}

impl DesiredIntegration {
    /// What differs between `existing` and this, as `field: old -> new` texts.
    pub fn differences(&self, existing: &Integration) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |field: &str, have: Option<&str>, want: &str| {
            if have != Some(want) {
                out.push(format!("{field} {} -> {want}", have.unwrap_or("(none)")));
            }
        };
        check("type", Some(existing.integration_type.as_str()), "HTTP_PROXY");
        check("connection", Some(existing.connection_type.as_str()), "VPC_LINK");
        check("vpc link", existing.connection_id.as_deref(), &self.vpc_link_id);
        check("uri", existing.uri.as_deref(), &self.uri);
        check("method", existing.method.as_deref(), "ANY");
        check(
            "payload format",
            existing.payload_format_version.as_deref(),
            PRIVATE_PAYLOAD_FORMAT,
        );
        check(PATH_MAPPING.0, existing.path_mapping.as_deref(), PATH_MAPPING.1);
        out
    }
}

/// What the deployer needs to know of a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Route ID.
    pub id: String,
    /// `METHOD /path`.
    pub key: String,
    /// `integrations/<id>`.
    pub target: Option<String>,
    /// `NONE`, `JWT`, ...
    pub authorization_type: String,
    /// Authorizer ID.
    pub authorizer_id: Option<String>,
}

/// A route's settings as the configuration asks for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSettings {
    /// `integrations/<id>`.
    pub target: String,
    /// JWT authorizer, none for open routes.
    pub authorizer_id: Option<String>,
}

impl RouteSettings {
    /// `JWT` with an authorizer, else `NONE`.
    pub fn authorization_type(&self) -> &'static str {
        if self.authorizer_id.is_some() {
            "JWT"
        } else {
            "NONE"
        }
    }

    /// True when `route` already has these settings.
    pub fn matches(&self, route: &Route) -> bool {
        route.target.as_deref() == Some(self.target.as_str())
            && route.authorization_type == self.authorization_type()
            && route.authorizer_id == self.authorizer_id
    }
}

/// Every integration of an API.
pub async fn get_integrations(
    client: &aws_sdk_apigatewayv2::Client,
    api_id: &str,
) -> Result<Vec<Integration>, AwsError> {
    let mut integrations = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = client
            .get_integrations()
            .api_id(api_id)
            .set_next_token(next.clone())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ApiGatewayV2", "GetIntegrations", api_id, e))?;
        for i in page.items() {
            integrations.push(Integration {
                id: i.integration_id().unwrap_or_default().to_owned(),
                integration_type: i.integration_type().map(|t| t.as_str().to_owned()).unwrap_or_default(),
                connection_type: i
                    .connection_type()
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_else(|| "INTERNET".into()),
                connection_id: i.connection_id().map(str::to_owned),
                uri: i.integration_uri().map(str::to_owned),
                method: i.integration_method().map(str::to_owned),
                payload_format_version: i.payload_format_version().map(str::to_owned),
                description: i.description().map(str::to_owned),
                path_mapping: i.request_parameters().and_then(|p| p.get(PATH_MAPPING.0)).cloned(),
            });
        }
        next = page.next_token().map(str::to_owned);
        if next.is_none() || page.items().is_empty() {
            return Ok(integrations);
        }
    }
}

/// Every route of an API.
pub async fn get_routes(client: &aws_sdk_apigatewayv2::Client, api_id: &str) -> Result<Vec<Route>, AwsError> {
    let mut routes = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = client
            .get_routes()
            .api_id(api_id)
            .set_next_token(next.clone())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ApiGatewayV2", "GetRoutes", api_id, e))?;
        for r in page.items() {
            routes.push(Route {
                id: r.route_id().unwrap_or_default().to_owned(),
                key: r.route_key().unwrap_or_default().to_owned(),
                target: r.target().map(str::to_owned),
                authorization_type: r
                    .authorization_type()
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_else(|| "NONE".into()),
                authorizer_id: r.authorizer_id().map(str::to_owned).filter(|a| !a.is_empty()),
            });
        }
        next = page.next_token().map(str::to_owned);
        if next.is_none() || page.items().is_empty() {
            return Ok(routes);
        }
    }
}

fn no_retries_config() -> aws_sdk_apigatewayv2::config::Builder {
    aws_sdk_apigatewayv2::config::Builder::default().retry_config(crate::aws::no_retries())
}

/// Creates the HTTP_PROXY integration over the VPC link and returns its ID.
pub async fn create_integration(
    client: &aws_sdk_apigatewayv2::Client,
    api_id: &str,
    desired: &DesiredIntegration,
) -> Result<String, AwsError> {
    let output = at_most_once(|| {
        client
            .create_integration()
            .api_id(api_id)
            .integration_type(IntegrationType::HttpProxy)
            .connection_type(ConnectionType::VpcLink)
            .connection_id(&desired.vpc_link_id)
            .integration_uri(&desired.uri)
            .integration_method("ANY")
            .payload_format_version(PRIVATE_PAYLOAD_FORMAT)
            .request_parameters(PATH_MAPPING.0, PATH_MAPPING.1)
            .description(&desired.description)
            .customize()
            .config_override(no_retries_config())
            .send()
    })
    .await
    .map_err(|e| AwsError::from_sdk("ApiGatewayV2", "CreateIntegration", api_id, e))?;
    Ok(output.integration_id().unwrap_or_default().to_owned())
}

/// Corrects an integration to the desired settings.
pub async fn update_integration(
    client: &aws_sdk_apigatewayv2::Client,
    api_id: &str,
    integration_id: &str,
    desired: &DesiredIntegration,
) -> Result<(), AwsError> {
    client
        .update_integration()
        .api_id(api_id)
        .integration_id(integration_id)
        .integration_type(IntegrationType::HttpProxy)
        .connection_type(ConnectionType::VpcLink)
        .connection_id(&desired.vpc_link_id)
        .integration_uri(&desired.uri)
        .integration_method("ANY")
        .payload_format_version(PRIVATE_PAYLOAD_FORMAT)
        .request_parameters(PATH_MAPPING.0, PATH_MAPPING.1)
        .description(&desired.description)
        .send()
        .await
        .map_err(|e| {
            AwsError::from_sdk(
                "ApiGatewayV2",
                "UpdateIntegration",
                format!("{api_id}/{integration_id}"),
                e,
            )
        })?;
    Ok(())
}

/// Creates a route and returns its ID.
pub async fn create_route(
    client: &aws_sdk_apigatewayv2::Client,
    api_id: &str,
    key: &str,
    settings: &RouteSettings,
) -> Result<String, AwsError> {
    let output = at_most_once(|| {
        client
            .create_route()
            .api_id(api_id)
            .route_key(key)
            .target(&settings.target)
            .authorization_type(AuthorizationType::from(settings.authorization_type()))
            .set_authorizer_id(settings.authorizer_id.clone())
            .customize()
            .config_override(no_retries_config())
            .send()
    })
    .await
    .map_err(|e| AwsError::from_sdk("ApiGatewayV2", "CreateRoute", format!("{api_id} {key}"), e))?;
    Ok(output.route_id().unwrap_or_default().to_owned())
}

/// Corrects a route's target and authorization.
pub async fn update_route(
    client: &aws_sdk_apigatewayv2::Client,
    api_id: &str,
    route_id: &str,
    settings: &RouteSettings,
) -> Result<(), AwsError> {
    client
        .update_route()
        .api_id(api_id)
        .route_id(route_id)
        .target(&settings.target)
        .authorization_type(AuthorizationType::from(settings.authorization_type()))
        // An empty ID clears the authorizer of a route that should be open.
        .authorizer_id(settings.authorizer_id.clone().unwrap_or_default())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ApiGatewayV2", "UpdateRoute", format!("{api_id}/{route_id}"), e))?;
    Ok(())
}

/// Deletes a route.
pub async fn delete_route(client: &aws_sdk_apigatewayv2::Client, api_id: &str, route_id: &str) -> Result<(), AwsError> {
    let deleted = client.delete_route().api_id(api_id).route_id(route_id).send().await;
    gone_is_done(
        deleted.map_err(|e| AwsError::from_sdk("ApiGatewayV2", "DeleteRoute", format!("{api_id}/{route_id}"), e)),
    )
}

/// Deletes an integration (no route may target it any more).
pub async fn delete_integration(
    client: &aws_sdk_apigatewayv2::Client,
    api_id: &str,
    integration_id: &str,
) -> Result<(), AwsError> {
    let deleted = client
        .delete_integration()
        .api_id(api_id)
        .integration_id(integration_id)
        .send()
        .await;
    gone_is_done(deleted.map_err(|e| {
        AwsError::from_sdk(
            "ApiGatewayV2",
            "DeleteIntegration",
            format!("{api_id}/{integration_id}"),
            e,
        )
    }))
}

/// A delete that finds nothing to delete is done: a retry after a lost answer, or an operator
/// who was first.
fn gone_is_done<T>(result: Result<T, AwsError>) -> Result<(), AwsError> {
    match result {
        Ok(_) => Ok(()),
        Err(err) if err.code.as_deref() == Some("NotFoundException") => Ok(()),
        Err(err) => Err(err),
    }
}
