//! How an application is reached: its Cloud Map service and its HTTP API routes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Cloud Map service of an application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudMapConfig {
    /// Namespace name (a DNS name) or ID (`ns-...`).
    pub namespace: String,
    /// Cloud Map service name.
    pub service: String,
    /// DNS record type: `SRV` (default) or `A`.
    #[serde(default = "default_record_type")]
    pub record_type: String,
    /// DNS record TTL in seconds.
    #[serde(default = "default_ttl")]
    pub ttl: i64,
    /// Custom health check failure threshold.
    #[serde(default = "default_failure_threshold")]
    pub failure_threshold: i32,
    /// Container port registered for SRV records.
    pub port: i32,
    /// Container registered (defaults to the application's container).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

fn default_record_type() -> String {
    "SRV".into()
}
fn default_ttl() -> i64 {
    300
}
fn default_failure_threshold() -> i32 {
    1
}

/// API Gateway HTTP API routes of an application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// HTTP API ID.
    pub api_id: String,
    /// VPC link ID of the private integration.
    pub vpc_link_id: String,
    /// JWT authorizer ID of every route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer_id: Option<String>,
    /// `"NONE"`, written out, for routes without authorization (open to anyone who reaches the
    /// API); without it an API needs its `authorizer_id`, so a route is never opened by omission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<String>,
    /// HTTP methods, one route each.
    pub methods: Vec<String>,
    /// Route path.
    #[serde(default = "default_path")]
    pub path: String,
}

fn default_path() -> String {
    "/{proxy+}".into()
}
