//! The configuration document: which applications the deployer manages and how.
//!
//! It is read from `DEPLOYER_CONFIG` (inline JSON) or `DEPLOYER_CONFIG_S3` (`s3://bucket/key`),
//! and validated as a whole on load: a bad document fails with every problem listed by its JSON
//! path, before anything is changed.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::aws::parse_s3_location;
use crate::error::{AwsError, InputError};
use crate::glob;

/// Environment variable holding the configuration inline.
pub const ENV_INLINE: &str = "DEPLOYER_CONFIG";
/// Environment variable pointing at the configuration in S3 (`s3://bucket/key`).
pub const ENV_S3: &str = "DEPLOYER_CONFIG_S3";

/// The whole configuration document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The applications, each one ECS service following one ECR repository.
    pub apps: Vec<AppConfig>,
    /// NLB target groups kept in step with internal ALBs (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nlb: Option<NlbConfig>,
}

/// One application: an ECS service, the image it follows and how it is reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// Unique name, used in manual payloads and results.
    pub name: String,
    /// ECS cluster name or ARN.
    pub cluster: String,
    /// ECS service name or ARN.
    pub service: String,
    /// The container in the task definition whose image is deployed.
    pub container: String,
    /// The ECR repository name the application follows.
    pub repository: String,
    /// Tags followed: exact names or glob patterns (`release-*`).
    pub tags: Vec<String>,
    /// Enforce the deployment circuit breaker with rollback on every deploy.
    #[serde(default)]
    pub circuit_breaker: bool,
    /// Task definition revisions registered by the deployer that are kept.
    #[serde(default = "default_keep_revisions")]
    pub keep_revisions: u32,
    /// Cloud Map service of the application (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_map: Option<CloudMapConfig>,
    /// API Gateway HTTP API routes of the application (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiConfig>,
}

fn default_keep_revisions() -> u32 {
    10
}

/// Cloud Map service of an application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// HTTP API ID.
    pub api_id: String,
    /// VPC link ID of the private integration.
    pub vpc_link_id: String,
    /// JWT authorizer ID; none means routes without authorization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer_id: Option<String>,
    /// HTTP methods, one route each.
    pub methods: Vec<String>,
    /// Route path.
    #[serde(default = "default_path")]
    pub path: String,
}

fn default_path() -> String {
    "/{proxy+}".into()
}

/// NLB target groups kept filled with an internal ALB's addresses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NlbConfig {
    /// Bucket holding the per-target-group state.
    pub state_bucket: String,
    /// Key prefix of the state objects.
    #[serde(default = "default_state_prefix")]
    pub state_prefix: String,
    /// DNS lookups per run at most.
    #[serde(default = "default_lookups")]
    pub lookups_per_run: u32,
    /// Runs an address must be missing before it is deregistered.
    #[serde(default = "default_missing_runs")]
    pub missing_runs_before_deregister: u32,
    /// Largest share of a group's targets one run may deregister.
    #[serde(default = "default_share")]
    pub max_deregister_share: f64,
    /// Whether targets the deployer did not register may be removed.
    #[serde(default)]
    pub remove_untracked: bool,
    /// DNS servers (`host:port`); empty means the ALB zone's authoritative servers.
    #[serde(default)]
    pub dns_servers: Vec<String>,
    /// The target groups.
    pub target_groups: Vec<TargetGroupConfig>,
}

fn default_state_prefix() -> String {
    "nlb-sync/".into()
}
fn default_lookups() -> u32 {
    50
}
fn default_missing_runs() -> u32 {
    3
}
fn default_share() -> f64 {
    0.5
}

/// One NLB target group and the ALB whose addresses fill it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetGroupConfig {
    /// Target group ARN.
    pub target_group_arn: String,
    /// DNS name of the internal ALB.
    pub alb_dns_name: String,
    /// Target port.
    pub port: i32,
    /// False registers targets with AvailabilityZone `all`.
    #[serde(default = "default_true")]
    pub same_vpc: bool,
}

fn default_true() -> bool {
    true
}

/// One problem in a configuration document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// JSON path, such as `apps[2].tags[0]`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// A configuration that cannot be used, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// Where the document came from (`DEPLOYER_CONFIG`, `s3://...`).
    pub source_name: String,
    /// Every problem, in document order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid configuration from {} ({} problem{})",
            self.source_name,
            self.problems.len(),
            if self.problems.len() == 1 { "" } else { "s" }
        )?;
        for problem in &self.problems {
            write!(f, "; {}: {}", problem.path, problem.message)?;
        }
        Ok(())
    }
}

impl Config {
    /// Parses and validates a document; `source_name` says where it came from in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Config, ConfigError> {
        let fail = |problems: Vec<Problem>| ConfigError {
            source_name: source_name.to_owned(),
            problems,
        };
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            fail(vec![Problem {
                path: "$".into(),
                message: format!("not valid JSON: {e}"),
            }])
        })?;
        let mut problems = Vec::new();
        let (config, positions) = parse_parts(&value, &mut problems);
        // Validate what did parse, so one bad application does not hide another's problems.
        config.validate(&positions, &mut problems);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(fail(problems))
        }
    }

    /// The application with this name.
    pub fn app(&self, name: &str) -> Option<&AppConfig> {
        self.apps.iter().find(|app| app.name == name)
    }

    /// Checks values; `positions[i]` is the index in the document of `self.apps[i]`.
    fn validate(&self, positions: &[usize], problems: &mut Vec<Problem>) {
        let mut push = |path: String, message: String| problems.push(Problem { path, message });
        let mut names = HashSet::new();
        let mut services = HashSet::new();
        for (&i, app) in positions.iter().zip(&self.apps) {
            let at = |field: &str| format!("apps[{i}].{field}");
            if !is_app_name(&app.name) {
                push(at("name"), "expected 1-64 letters, digits, `-`, `_` or `.`".into());
            } else if !names.insert(app.name.as_str()) {
                push(at("name"), format!("duplicate application name `{}`", app.name));
            }
            for (field, value) in [("cluster", &app.cluster), ("service", &app.service)] {
                if !is_name_or_arn(value) {
                    push(
                        at(field),
                        "expected a name (letters, digits, `-`, `_`) or an ARN".into(),
                    );
                }
            }
            if !services.insert((short_name(&app.cluster), short_name(&app.service))) {
                push(
                    at("service"),
                    format!(
                        "service `{}` of cluster `{}` is already configured by another application",
                        app.service, app.cluster
                    ),
                );
            }
            if app.container.is_empty() || app.container.len() > 255 {
                push(at("container"), "expected a container name of 1-255 characters".into());
            }
            if !is_repository_name(&app.repository) {
                push(
                    at("repository"),
                    "expected an ECR repository name (lowercase letters, digits, `.`, `_`, `-`, `/`)".into(),
                );
            }
            if app.tags.is_empty() {
                push(at("tags"), "expected at least one tag or pattern".into());
            }
            for (t, tag) in app.tags.iter().enumerate() {
                if !is_tag_pattern(tag) {
                    push(
                        format!("apps[{i}].tags[{t}]"),
                        "expected a tag of 1-128 letters, digits, `_`, `.`, `-`, with `*` or `?` as wildcards".into(),
                    );
                }
            }
            if app.keep_revisions == 0 {
                push(at("keep_revisions"), "expected at least 1".into());
            }
            if let Some(cloud_map) = &app.cloud_map {
                validate_cloud_map(cloud_map, &format!("apps[{i}].cloud_map"), &mut push);
            }
            if let Some(api) = &app.api {
                validate_api(api, &format!("apps[{i}].api"), &mut push);
            }
        }
        // Two applications must not claim one route of one API.
        let mut route_owners: std::collections::HashMap<(String, String), usize> = std::collections::HashMap::new();
        for (&i, app) in positions.iter().zip(&self.apps) {
            let Some(api) = &app.api else { continue };
            if app.cloud_map.is_none() {
                push(
                    format!("apps[{i}].api"),
                    "needs `cloud_map`: the integration targets the application's Cloud Map service".into(),
                );
            }
            for method in &api.methods {
                let key = (api.api_id.clone(), format!("{method} {}", api.path));
                if let Some(other) = route_owners.insert(key.clone(), i) {
                    push(
                        format!("apps[{i}].api.methods"),
                        format!(
                            "route `{}` of API {} is already configured by apps[{other}]",
                            key.1, key.0
                        ),
                    );
                }
            }
        }
        if let Some(nlb) = &self.nlb {
            validate_nlb(nlb, &mut push);
        }
    }
}

impl AppConfig {
    /// True when the application follows this tag (exact name or pattern).
    pub fn follows_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|pattern| glob::matches(pattern, tag))
    }

    /// `cluster/service` with short names, for messages.
    pub fn service_label(&self) -> String {
        format!("{}/{}", short_name(&self.cluster), short_name(&self.service))
    }
}

/// Parses each part on its own, so that one bad application does not hide the others' problems.
/// Returns what parsed and, for each parsed application, its index in the document.
fn parse_parts(value: &serde_json::Value, problems: &mut Vec<Problem>) -> (Config, Vec<usize>) {
    let mut config = Config {
        apps: Vec::new(),
        nlb: None,
    };
    let mut positions = Vec::new();
    let Some(object) = value.as_object() else {
        problems.push(Problem {
            path: "$".into(),
            message: "expected a JSON object with `apps`".into(),
        });
        return (config, positions);
    };
    for key in object.keys() {
        if key != "apps" && key != "nlb" {
            problems.push(Problem {
                path: crate::events::key_in_path(key),
                message: "unknown field, expected `apps` or `nlb`".into(),
            });
        }
    }
    match object.get("apps") {
        Some(serde_json::Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                match parse_part::<AppConfig>(item, &format!("apps[{i}]"), &["cloud_map", "api"]) {
                    Ok(app) => {
                        config.apps.push(app);
                        positions.push(i);
                    }
                    Err(problem) => problems.push(problem),
                }
            }
        }
        Some(_) => problems.push(Problem {
            path: "apps".into(),
            message: "expected an array of applications".into(),
        }),
        None => problems.push(Problem {
            path: "apps".into(),
            message: "missing field, expected an array of applications".into(),
        }),
    }
    match object.get("nlb") {
        None | Some(serde_json::Value::Null) => {}
        Some(item) => match parse_part::<NlbConfig>(item, "nlb", &[]) {
            Ok(nlb) => config.nlb = Some(nlb),
            Err(problem) => problems.push(problem),
        },
    }
    (config, positions)
}

/// Parses one part (an application, the `nlb` block) that must be an object, whose `nested`
/// keys hold objects too, and each of whose `target_groups` is an object.
fn parse_part<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
    base: &str,
    nested: &[&str],
) -> Result<T, Problem> {
    use crate::events::{json_kind, require_objects};
    let problem = |e: InputError| Problem {
        path: e.field,
        message: format!("expected {}", e.expected),
    };
    if !value.is_object() {
        return Err(Problem {
            path: base.to_owned(),
            message: format!("expected an object (got {})", json_kind(value)),
        });
    }
    require_objects(value, base, nested).map_err(problem)?;
    if let Some(serde_json::Value::Array(groups)) = value.get("target_groups") {
        for (i, group) in groups.iter().enumerate() {
            if !group.is_object() {
                return Err(Problem {
                    path: format!("{base}.target_groups[{i}]"),
                    message: format!("expected an object (got {})", json_kind(group)),
                });
            }
        }
    }
    crate::events::deserialize_at(value, base).map_err(problem)
}

fn validate_cloud_map(cm: &CloudMapConfig, base: &str, push: &mut impl FnMut(String, String)) {
    if !(cm.namespace.starts_with("ns-") || is_dns_name(&cm.namespace)) {
        push(
            format!("{base}.namespace"),
            format!(
                "`{}` is not a valid DNS name: expected labels of letters, digits and `-` separated by `.` (no `_`), or a namespace ID `ns-...`",
                cm.namespace
            ),
        );
    }
    if !is_dns_label(&cm.service) {
        push(
            format!("{base}.service"),
            "expected a DNS label: letters, digits and `-`, 1-63 characters".into(),
        );
    }
    if cm.record_type != "SRV" && cm.record_type != "A" {
        push(format!("{base}.record_type"), "expected `SRV` or `A`".into());
    }
    if !(0..=2_147_483_647).contains(&cm.ttl) {
        push(format!("{base}.ttl"), "expected seconds from 0 to 2147483647".into());
    }
    if !(1..=10).contains(&cm.failure_threshold) {
        push(format!("{base}.failure_threshold"), "expected 1 to 10".into());
    }
    if !(1..=65535).contains(&cm.port) {
        push(format!("{base}.port"), "expected a port from 1 to 65535".into());
    }
}

/// HTTP methods an application may route.
pub const HTTP_METHODS: [&str; 8] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "ANY"];

fn validate_api(api: &ApiConfig, base: &str, push: &mut impl FnMut(String, String)) {
    if !is_aws_id(&api.api_id) {
        push(
            format!("{base}.api_id"),
            "expected an API ID of letters and digits".into(),
        );
    }
    if !is_aws_id(&api.vpc_link_id) {
        push(
            format!("{base}.vpc_link_id"),
            "expected a VPC link ID of letters and digits".into(),
        );
    }
    if let Some(authorizer) = &api.authorizer_id {
        if !is_aws_id(authorizer) {
            push(
                format!("{base}.authorizer_id"),
                "expected an authorizer ID of letters and digits".into(),
            );
        }
    }
    if api.methods.is_empty() {
        push(format!("{base}.methods"), "expected at least one method".into());
    }
    let mut seen = HashSet::new();
    for (m, method) in api.methods.iter().enumerate() {
        if !HTTP_METHODS.contains(&method.as_str()) {
            push(
                format!("{base}.methods[{m}]"),
                format!("expected one of {}", HTTP_METHODS.join(", ")),
            );
        } else if !seen.insert(method) {
            push(format!("{base}.methods[{m}]"), format!("duplicate method `{method}`"));
        }
    }
    if !api.path.starts_with('/') || api.path.contains(char::is_whitespace) {
        push(
            format!("{base}.path"),
            "expected a path starting with `/`, without spaces".into(),
        );
    }
}

fn validate_nlb(nlb: &NlbConfig, push: &mut impl FnMut(String, String)) {
    if !is_bucket_name(&nlb.state_bucket) {
        push("nlb.state_bucket".into(), "expected an S3 bucket name".into());
    }
    if nlb.lookups_per_run == 0 {
        push("nlb.lookups_per_run".into(), "expected at least 1".into());
    }
    if nlb.missing_runs_before_deregister == 0 {
        push(
            "nlb.missing_runs_before_deregister".into(),
            "expected at least 1".into(),
        );
    }
    if !(nlb.max_deregister_share > 0.0 && nlb.max_deregister_share <= 1.0) {
        push(
            "nlb.max_deregister_share".into(),
            "expected a share above 0 and at most 1".into(),
        );
    }
    for (d, server) in nlb.dns_servers.iter().enumerate() {
        if server.parse::<std::net::SocketAddr>().is_err() {
            push(
                format!("nlb.dns_servers[{d}]"),
                "expected `ip:port`, such as `10.0.0.2:53`".into(),
            );
        }
    }
    let mut seen = HashSet::new();
    for (t, tg) in nlb.target_groups.iter().enumerate() {
        let base = format!("nlb.target_groups[{t}]");
        if !tg.target_group_arn.starts_with("arn:") || !tg.target_group_arn.contains(":targetgroup/") {
            push(format!("{base}.target_group_arn"), "expected a target group ARN".into());
        } else if !seen.insert(&tg.target_group_arn) {
            push(format!("{base}.target_group_arn"), "duplicate target group".into());
        }
        if !is_dns_name(&tg.alb_dns_name) {
            push(format!("{base}.alb_dns_name"), "expected a DNS name".into());
        }
        if !(1..=65535).contains(&tg.port) {
            push(format!("{base}.port"), "expected a port from 1 to 65535".into());
        }
    }
}

/// The last part of a name or ARN (`arn:...:service/sss/orders` gives `orders`).
pub fn short_name(name_or_arn: &str) -> &str {
    name_or_arn.rsplit('/').next().unwrap_or(name_or_arn)
}

fn is_app_name(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn is_name_or_arn(s: &str) -> bool {
    if s.starts_with("arn:") {
        return s.len() <= 2048 && !s.contains(char::is_whitespace);
    }
    (1..=255).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn is_repository_name(s: &str) -> bool {
    (2..=256).contains(&s.len())
        && s.split('/').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
                && part.starts_with(|c: char| c.is_ascii_alphanumeric())
                && part.ends_with(|c: char| c.is_ascii_alphanumeric())
        })
}

fn is_tag_pattern(s: &str) -> bool {
    (1..=128).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || "_.-*?".contains(c))
}

/// A DNS label: letters, digits and inner hyphens, 1-63 characters.
fn is_dns_label(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS name: labels separated by dots, at most 253 characters, no underscore.
pub fn is_dns_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

fn is_aws_id(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric())
}

fn is_bucket_name(s: &str) -> bool {
    (3..=63).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Environment variable bounding how many applications one invocation handles at once.
pub const ENV_CONCURRENCY: &str = "DEPLOYER_CONCURRENCY";

/// The concurrency bound from `DEPLOYER_CONCURRENCY` (default 10, at least 1).
pub fn concurrency_from_env() -> usize {
    std::env::var(ENV_CONCURRENCY)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(crate::deploy::DEFAULT_CONCURRENCY)
}

/// Where the configuration document comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// Inline JSON (`DEPLOYER_CONFIG`).
    Inline(String),
    /// An S3 object (`DEPLOYER_CONFIG_S3=s3://bucket/key`).
    S3(String),
}

impl ConfigSource {
    /// The source named by the environment: exactly one of `DEPLOYER_CONFIG` or
    /// `DEPLOYER_CONFIG_S3` must be set.
    pub fn from_env() -> Result<ConfigSource, ConfigError> {
        let read = |name| std::env::var(name).ok().filter(|v: &String| !v.trim().is_empty());
        let problem = |message: String| ConfigError {
            source_name: "the environment".into(),
            problems: vec![Problem {
                path: ENV_INLINE.into(),
                message,
            }],
        };
        match (read(ENV_INLINE), read(ENV_S3)) {
            (Some(text), None) => Ok(ConfigSource::Inline(text)),
            (None, Some(location)) => Ok(ConfigSource::S3(location)),
            (Some(_), Some(_)) => Err(problem(format!("set either {ENV_INLINE} or {ENV_S3}, not both"))),
            (None, None) => Err(problem(format!(
                "no configuration: set {ENV_INLINE} (inline JSON) or {ENV_S3} (s3://bucket/key)"
            ))),
        }
    }

    /// Reads and validates the document.
    pub async fn load(&self, s3: &aws_sdk_s3::Client) -> Result<Config, LoadConfigError> {
        match self {
            ConfigSource::Inline(text) => Ok(Config::parse(text, ENV_INLINE)?),
            ConfigSource::S3(location) => {
                let text = read_s3_text(s3, location).await?;
                Ok(Config::parse(&text, location)?)
            }
        }
    }
}

async fn read_s3_text(s3: &aws_sdk_s3::Client, location: &str) -> Result<String, LoadConfigError> {
    let (bucket, key) = parse_s3_location(location).ok_or_else(|| ConfigError {
        source_name: ENV_S3.into(),
        problems: vec![Problem {
            path: ENV_S3.into(),
            message: format!("expected s3://bucket/key, got `{location}`"),
        }],
    })?;
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("S3", "GetObject", location, e))?;
    let bytes = object.body.collect().await.map_err(|e| AwsError {
        service: "S3",
        operation: "GetObject",
        resource: location.to_owned(),
        code: None,
        message: e.to_string(),
    })?;
    String::from_utf8(bytes.into_bytes().to_vec()).map_err(|_| {
        LoadConfigError::Invalid(ConfigError {
            source_name: location.to_owned(),
            problems: vec![Problem {
                path: "$".into(),
                message: "not UTF-8 text".into(),
            }],
        })
    })
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadConfigError {
    /// The document is invalid.
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    /// The document could not be read.
    #[error(transparent)]
    Aws(#[from] AwsError),
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{
      "apps": [{
        "name": "orders", "cluster": "sss", "service": "orders", "container": "app",
        "repository": "orders", "tags": ["latest", "release-*"], "circuit_breaker": true,
        "cloud_map": {"namespace": "sss.internal", "service": "orders", "port": 8080},
        "api": {"api_id": "a1b2c3d4", "vpc_link_id": "vl1234", "authorizer_id": "au5678", "methods": ["GET", "POST"]}
      }],
      "nlb": {"state_bucket": "deployer-state", "target_groups": [{
        "target_group_arn": "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:targetgroup/nlb-443/abc",
        "alb_dns_name": "internal-api-123.ap-northeast-1.elb.amazonaws.com", "port": 443}]}
    }"#;

    fn paths(err: ConfigError) -> Vec<String> {
        err.problems.into_iter().map(|p| p.path).collect()
    }

    #[test]
    fn a_good_document_parses_with_defaults() {
        let config = Config::parse(GOOD, "test").unwrap();
        let app = &config.apps[0];
        assert!(app.circuit_breaker);
        assert_eq!(app.keep_revisions, 10);
        let cloud_map = app.cloud_map.as_ref().unwrap();
        assert_eq!(
            (
                cloud_map.record_type.as_str(),
                cloud_map.ttl,
                cloud_map.failure_threshold
            ),
            ("SRV", 300, 1)
        );
        assert_eq!(app.api.as_ref().unwrap().path, "/{proxy+}");
        let nlb = config.nlb.unwrap();
        assert_eq!(
            (
                nlb.lookups_per_run,
                nlb.missing_runs_before_deregister,
                nlb.max_deregister_share
            ),
            (50, 3, 0.5)
        );
        assert!(nlb.target_groups[0].same_vpc);
        assert!(app.follows_tag("release-7") && !app.follows_tag("dev"));
    }

    #[test]
    fn every_problem_is_listed_by_path() {
        let bad = r#"{
          "apps": [
            {"name": "orders", "cluster": "sss", "service": "orders", "container": "app",
             "repository": "Orders", "tags": [], "keep_revisions": 0,
             "cloud_map": {"namespace": "sss_internal", "service": "orders", "port": 70000}},
            {"name": "orders", "cluster": "sss", "service": "orders", "container": "app",
             "repository": "orders", "tags": ["bad tag"]},
            {"name": "x", "cluster": "sss", "service": "x", "container": "app", "repository": "x", "tags": "latest"}
          ],
          "extra": 1
        }"#;
        let err = Config::parse(bad, "test").unwrap_err();
        let text = err.to_string();
        let paths = paths(err);
        for expected in [
            "extra",
            "apps[2].tags",
            "apps[0].repository",
            "apps[0].tags",
            "apps[0].keep_revisions",
            "apps[0].cloud_map.namespace",
            "apps[0].cloud_map.port",
            "apps[1].name",
            "apps[1].service",
            "apps[1].tags[0]",
        ] {
            assert!(paths.iter().any(|p| p == expected), "{expected} missing from {paths:?}");
        }
        assert!(text.contains("`sss_internal` is not a valid DNS name"), "{text}");
    }

    #[test]
    fn unknown_fields_and_bad_json_are_named() {
        let err = Config::parse(r#"{"apps": [{"name": "a", "clster": "x"}]}"#, "test").unwrap_err();
        assert_eq!(err.problems.len(), 1);
        assert!(err.problems[0].message.contains("unknown field `clster`"), "{err}");
        let err = Config::parse("{\"apps\": [", "DEPLOYER_CONFIG").unwrap_err();
        assert_eq!(paths(err.clone()), vec!["$"]);
        assert!(err.to_string().contains("DEPLOYER_CONFIG"));
        assert_eq!(paths(Config::parse("[]", "t").unwrap_err()), vec!["$"]);
        assert_eq!(paths(Config::parse("{}", "t").unwrap_err()), vec!["apps"]);
    }

    #[test]
    fn api_and_nlb_values_are_checked() {
        let bad = r#"{"apps": [{"name": "a", "cluster": "c", "service": "a", "container": "app", "repository": "a",
            "tags": ["latest"], "api": {"api_id": "a-1", "vpc_link_id": "v", "methods": ["GET", "GET", "FETCH"], "path": "x"}}],
          "nlb": {"state_bucket": "B", "max_deregister_share": 1.5, "dns_servers": ["nowhere"],
            "target_groups": [{"target_group_arn": "tg", "alb_dns_name": "bad_name", "port": 0}]}}"#;
        let paths = paths(Config::parse(bad, "t").unwrap_err());
        for expected in [
            "apps[0].api.api_id",
            "apps[0].api.methods[1]",
            "apps[0].api.methods[2]",
            "apps[0].api.path",
            "nlb.state_bucket",
            "nlb.max_deregister_share",
            "nlb.dns_servers[0]",
            "nlb.target_groups[0].target_group_arn",
            "nlb.target_groups[0].alb_dns_name",
            "nlb.target_groups[0].port",
        ] {
            assert!(paths.iter().any(|p| p == expected), "{expected} missing from {paths:?}");
        }
    }

    #[test]
    fn dns_names_reject_underscores_and_bad_labels() {
        assert!(is_dns_name("sss.internal"));
        assert!(is_dns_name("a-b.c."));
        assert!(!is_dns_name("sss_internal"));
        assert!(!is_dns_name("-a.b"));
        assert!(!is_dns_name("a..b"));
        assert!(!is_dns_name(""));
    }

    #[test]
    fn short_names_come_from_arns() {
        assert_eq!(short_name("arn:aws:ecs:r:1:service/sss/orders"), "orders");
        assert_eq!(short_name("orders"), "orders");
    }
}
