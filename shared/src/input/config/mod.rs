//! The configuration document: which applications the deployer manages and how.
//!
//! It is read from `DEPLOYER_CONFIG` (inline JSON) or `DEPLOYER_CONFIG_S3` (`s3://bucket/key`),
//! and validated as a whole on load: a bad document fails with every problem listed by its JSON
//! path, before anything is changed.

pub mod rates;
mod source;
#[cfg(test)]
mod tests;
mod validate;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use rates::EcsRates;
pub use source::{ConfigSource, LoadConfigError, ENV_INLINE, ENV_S3};
pub use validate::{is_dns_name, HTTP_METHODS};

use crate::aws::arn::short_name;
use crate::glob;
use crate::input::json::{deserialize_at, json_kind, key_in_path, require_objects};
use crate::input::{quoted, InputError};

/// The whole configuration document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The applications, each one ECS service following one ECR repository.
    pub apps: Vec<AppConfig>,
    /// NLB target groups kept in step with internal ALBs (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nlb: Option<NlbConfig>,
    /// Minutes a deploy may stay in progress with no word from ECS before the settle run asks
    /// ECS about it (0-1440, default 30; see README, "Knowing what happened").
    #[serde(default = "default_settle_after_minutes")]
    pub settle_after_minutes: u32,
    /// Remove what the deployer made for applications no longer in this document (their HTTP
    /// API routes and integrations). Off by default: service-sync only reports them as orphans.
    #[serde(default)]
    pub prune: bool,
    /// Whether the scheduled service-sync run applies the retention pass to every application
    /// (off: retention runs on request, and after each completed deploy as before).
    #[serde(default)]
    pub retention_on_schedule: bool,
    /// A push that concerns at most this many applications is deployed inside the push's own
    /// invocation; a larger one goes through the deploy queue (`DEPLOYER_DEPLOY_QUEUE`), one
    /// message per application (1-100, default 5).
    #[serde(default = "default_inline_max")]
    pub inline_max: u32,
    /// The account's raised ECS request quotas, by bucket (see [`rates`]); none: AWS's
    /// documented figures.
    #[serde(default, skip_serializing_if = "EcsRates::is_empty")]
    pub ecs_rates: EcsRates,
    /// How images in use are tagged: `per-app` (default: `live-<app>`, `prev-<app>`) or
    /// `per-image` (one `live-sha256-<hex>` an image, for any number of applications).
    #[serde(default, skip_serializing_if = "ImageTags::is_default")]
    pub image_tags: ImageTags,
    /// Who may approve a pending promotion: IAM role or user ARNs. When set, an approval must come
    /// through image-push's function URL (`AWS_IAM`: Lambda names the signer) from one of them;
    /// a plain invoke, which names nobody, is refused. Empty: any invoker may approve.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
    /// With `approvers`: the approver may not be who asked for the promotion (default true).
    #[serde(default = "default_true")]
    pub approver_not_asker: bool,
}

/// How the images applications run and roll back to are kept from lifecycle rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImageTags {
    /// `live-<app>` and `prev-<app>` move with each application's completed deploys: readable,
    /// but two tags an application and ECR keeps at most 1,000 an image, so about 500
    /// applications can share one image.
    #[default]
    #[serde(rename = "per-app")]
    PerApp,
    /// One `live-sha256-<hex>` on each image some application runs or rolls back to, released
    /// by the settle run when none does: any number of applications.
    #[serde(rename = "per-image")]
    PerImage,
}

impl ImageTags {
    fn is_default(&self) -> bool {
        *self == ImageTags::PerApp
    }
}

fn default_inline_max() -> u32 {
    5
}

fn default_settle_after_minutes() -> u32 {
    30
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
    /// The ECR repository the application follows: its name, or its full URI
    /// (`<account>.dkr.ecr.<region>.amazonaws.com/<name>`), which is read on load into `name`,
    /// `registry_id` and `registry_region`.
    pub repository: String,
    /// Account of the registry that holds the repository (default: the function's own). Push
    /// events from that account only concern the application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_id: Option<String>,
    /// Region of the registry the image is read from and pulled from, for a replica in the
    /// service's region (default: the function's region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_region: Option<String>,
    /// Minutes a push may wait for its replica in `registry_region` before the settle run calls
    /// it failed (1-1440; ECR says most replications finish within 30 minutes).
    #[serde(default = "default_replica_wait_minutes")]
    pub replica_wait_minutes: u32,
    /// Role to assume for the registry's calls, when its repository policy does not let the
    /// function's own role read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_role_arn: Option<String>,
    /// Tags followed: exact names or glob patterns (`release-*`). None for an application
    /// promoted from another (`promote_from`): pushes never deploy it.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Enforce the deployment circuit breaker with rollback on every deploy.
    #[serde(default)]
    pub circuit_breaker: bool,
    /// What a deploy copies: the family's newest revision the deployer did not register (the
    /// template Terraform keeps) when it is newer than what the service runs, or always the
    /// running revision.
    #[serde(default)]
    pub base: Base,
    /// What the scheduled run does when the template changes without a push.
    #[serde(default)]
    pub on_template_change: OnTemplateChange,
    /// Task definition revisions registered by the deployer that are kept: the last N that
    /// completed (plus any in use and the last good).
    #[serde(default = "default_keep_revisions")]
    pub keep_revisions: u32,
    /// Days a revision the deployer deregistered stays INACTIVE before a retention pass deletes
    /// it (`DeleteTaskDefinitions`); 0 deletes at the next pass.
    #[serde(default = "default_grace_days")]
    pub retention_grace_days: u32,
    /// Role to assume for the application's ECS calls (a service in another account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// External ID the role's trust policy asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Region of the application's service (default: the function's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Cloud Map service of the application (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_map: Option<CloudMapConfig>,
    /// API Gateway HTTP API routes of the application (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiConfig>,
    /// The application whose completed deploys this one receives, by digest (same repository
    /// name; another account or region is fine): staging for production.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promote_from: Option<String>,
    /// How promotions from `promote_from` happen (default: automatic, no soak, no approval;
    /// a production application, or one in another account than its source, must say so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion: Option<PromotionConfig>,
    /// Marks a production application: promoted to, it needs an approval or a soak unless
    /// `policy: "auto"` is written out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub production: bool,
}

/// How an application is promoted from its `promote_from`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromotionConfig {
    /// `auto`: once the source's deploy completed and stayed its running deploy for
    /// `soak_minutes`; `manual`: only by a `promote` payload; none: `auto` (see [`Self::policy`]).
    #[serde(default, rename = "policy", skip_serializing_if = "Option::is_none")]
    pub policy_written: Option<PromotionPolicy>,
    /// Minutes the source's completed deploy must stay its running deploy first (0-10080).
    #[serde(default)]
    pub soak_minutes: u32,
    /// `manual`: a promotion waits for an `approve` payload naming its digest (a `Promotion
    /// Pending` event says so); none: it deploys at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
}

impl PromotionConfig {
    /// The policy: as written, `auto` when none is.
    pub fn policy(&self) -> PromotionPolicy {
        self.policy_written.unwrap_or_default()
    }

    /// True when a promotion waits for something: an approval, a soak, or a person (`manual`).
    pub fn is_gated(&self) -> bool {
        self.approval.is_some() || self.soak_minutes > 0 || self.policy() == PromotionPolicy::Manual
    }
}

/// When promotions happen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromotionPolicy {
    /// When the source's deploy completed and soaked.
    #[default]
    Auto,
    /// Only when a `promote` payload asks.
    Manual,
}

/// What a deploy copies (see [`AppConfig::base`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Base {
    /// The newest revision registered outside the deployer (Terraform's) when it is newer than
    /// the one the running revision was built from; otherwise the running revision.
    #[default]
    Template,
    /// Always the running revision.
    Running,
}

/// What the scheduled run does when an application's template changes without a push.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnTemplateChange {
    /// Publish `Template Changed` and show it in `status`; the next push deploys it.
    #[default]
    Notify,
    /// Deploy the template with the digest the application runs now.
    Deploy,
}

/// Who lets a promotion proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    /// A person or pipeline, with an `approve` payload.
    Manual,
}

fn default_keep_revisions() -> u32 {
    10
}

fn default_replica_wait_minutes() -> u32 {
    60
}

fn default_grace_days() -> u32 {
    30
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
    /// DNS servers (`host:port`); empty means the ALB zone's authoritative servers. Look-ups
    /// go round them, so a slow or failing first server does not take every look-up.
    #[serde(default)]
    pub dns_servers: Vec<String>,
    /// Seconds of a run in which DNS look-ups may start (1-30, default 20): with many groups
    /// and slow servers the run still ends well inside the function's 45 s; groups not looked
    /// up in time are reported as skipped, and the next run takes them first.
    #[serde(default = "default_dns_budget")]
    pub dns_budget_seconds: u32,
    /// The target groups.
    pub target_groups: Vec<TargetGroupConfig>,
}

fn default_state_prefix() -> String {
    "nlb-sync/".into()
}
fn default_lookups() -> u32 {
    50
}
fn default_dns_budget() -> u32 {
    20
}
fn default_missing_runs() -> u32 {
    3
}
fn default_share() -> f64 {
    0.5
}

/// One NLB target group and the ALB whose addresses fill it, named by ARN (`alb_arn`), by DNS
/// name (`alb_dns_name`), or both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetGroupConfig {
    /// Target group ARN.
    pub target_group_arn: String,
    /// DNS name of the internal ALB (needed for `dns` discovery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alb_dns_name: Option<String>,
    /// ARN of the internal ALB (needed for `eni` discovery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alb_arn: Option<String>,
    /// How the ALB's addresses are found; default `eni` when `alb_arn` is given, else `dns`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<Discovery>,
    /// Role to assume to describe the ALB's network interfaces (an ALB in another account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// Target port.
    pub port: i32,
    /// False registers targets with AvailabilityZone `all`.
    #[serde(default = "default_true")]
    pub same_vpc: bool,
}

fn default_true() -> bool {
    true
}

/// Where nlb-sync learns an ALB's addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Discovery {
    /// The ALB's network interfaces (EC2 `DescribeNetworkInterfaces`): every address, exactly.
    Eni,
    /// DNS look-ups of the ALB's name: for ALBs whose account cannot be described.
    Dns,
}

/// Where an application's service is reached: through which role (with its external id) and in
/// which region; all none for the function's own account and region.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ServicePlace {
    /// Role assumed for the service's calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// External id that role's trust policy asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Region of the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

impl ServicePlace {
    /// True for the function's own account and region.
    pub fn is_own(&self) -> bool {
        *self == ServicePlace::default()
    }
}

/// `apps` grouped by `key`, groups in first-seen order, each keeping the applications' order.
pub fn grouped<'a, K: PartialEq>(
    apps: impl IntoIterator<Item = &'a AppConfig>,
    key: impl Fn(&AppConfig) -> K,
) -> Vec<(K, Vec<&'a AppConfig>)> {
    let mut groups: Vec<(K, Vec<&AppConfig>)> = Vec::new();
    for app in apps {
        let k = key(app);
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, group)) => group.push(app),
            None => groups.push((k, vec![app])),
        }
    }
    groups
}

impl AppConfig {
    /// How promotions to this application happen (the defaults when it names no `promotion`).
    pub fn promotion(&self) -> PromotionConfig {
        self.promotion.clone().unwrap_or_default()
    }

    /// Where the application's service is reached.
    pub fn service_place(&self) -> ServicePlace {
        ServicePlace {
            role_arn: self.role_arn.clone(),
            external_id: self.external_id.clone(),
            region: self.region.clone(),
        }
    }

    /// The account of the application's service when it names a role in another account.
    pub fn account(&self) -> Option<&str> {
        self.role_arn.as_deref().and_then(|role| role.split(':').nth(4))
    }
}

impl TargetGroupConfig {
    /// The discovery in force: the configured one, else `eni` when the ALB's ARN is known.
    pub fn discovery(&self) -> Discovery {
        self.discovery.unwrap_or(if self.alb_arn.is_some() {
            Discovery::Eni
        } else {
            Discovery::Dns
        })
    }

    /// The ALB as state keys and reports name it: its DNS name, else `<name>-<id>` from its ARN.
    pub fn alb_label(&self) -> String {
        match (&self.alb_dns_name, &self.alb_arn) {
            (Some(name), _) => name.clone(),
            (None, Some(arn)) => arn
                .split_once(":loadbalancer/app/")
                .map_or(arn.as_str(), |(_, rest)| rest)
                .replace('/', "-"),
            (None, None) => String::new(),
        }
    }
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
        validate::validate(&config, &positions, &mut problems);
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

    /// The application a payload names at `field`; an unknown name is an input error listing
    /// the configured ones.
    pub fn find_app(&self, name: &str, field: &str) -> Result<&AppConfig, InputError> {
        self.app(name).ok_or_else(|| {
            let names: Vec<&str> = self.apps.iter().map(|a| a.name.as_str()).collect();
            InputError::new(
                field,
                format!(
                    "one of the configured applications ({}), got {}",
                    names.join(", "),
                    quoted(name)
                ),
            )
        })
    }

    /// The applications an ECS service ARN can name: `arn:...:<region>:<account>:service/<cluster>/<name>`,
    /// or the short form of services created before 2021, `...:service/<name>`, which names no
    /// cluster (every application of that service name in that place is a candidate). The ARN's
    /// account and region must equal the application's exactly: its role's account (else the
    /// function's own, when known) and its region (else the function's own). An event of
    /// another account or region never reaches an application of this one.
    pub fn apps_for_service_arn(&self, service_arn: &str, own: OwnPlace<'_>) -> Vec<&AppConfig> {
        let fields: Vec<&str> = service_arn.splitn(6, ':').collect();
        let (Some(region), Some(account), Some(resource)) = (fields.get(3), fields.get(4), fields.get(5)) else {
            return Vec::new();
        };
        let Some(path) = resource.strip_prefix("service/") else {
            return Vec::new();
        };
        let (cluster, service) = match path.split_once('/') {
            Some((cluster, service)) => (Some(cluster), service),
            None => (None, path),
        };
        self.apps
            .iter()
            .filter(|app| {
                short_name(&app.service) == service
                    && cluster.is_none_or(|cluster| short_name(&app.cluster) == cluster)
                    && app.region.as_deref().unwrap_or(own.region) == *region
                    && app.account().or(own.account).is_none_or(|a| a == *account)
            })
            .collect()
    }

    /// The one application an ECS service ARN names (see [`Config::apps_for_service_arn`]); none
    /// when no application, or several (a short ARN whose service name two clusters share), fit.
    pub fn app_for_service_arn(&self, service_arn: &str, own: OwnPlace<'_>) -> Option<&AppConfig> {
        match self.apps_for_service_arn(service_arn, own).as_slice() {
            [app] => Some(app),
            _ => None,
        }
    }
}

/// Where the function itself runs: what an application without `role_arn` or `region` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnPlace<'a> {
    /// The function's account (from the invoked function's ARN); none outside Lambda, where an
    /// application without a role matches any account.
    pub account: Option<&'a str>,
    /// The function's region.
    pub region: &'a str,
}

impl AppConfig {
    /// Reads a repository given as a full URI into its name, registry account and region; a
    /// URI whose account or region disagrees with `registry_id` or `registry_region` is refused.
    fn read_repository_uri(&mut self) -> Result<(), String> {
        let Some((host, name)) = self.repository.split_once('/') else {
            return Ok(());
        };
        let Some((account, rest)) = host.split_once(".dkr.ecr.") else {
            return Ok(());
        };
        let region = rest.split('.').next().unwrap_or_default();
        let expected = "expected a repository name or `<account>.dkr.ecr.<region>.amazonaws.com/<name>`";
        if !crate::input::is_account_id(account) || region.is_empty() {
            return Err(format!("{expected}, got {}", quoted(&self.repository)));
        }
        for (field, given, from_uri) in [
            ("registry_id", &self.registry_id, account),
            ("registry_region", &self.registry_region, region),
        ] {
            if given.as_deref().is_some_and(|given| given != from_uri) {
                return Err(format!("the URI's {} disagrees with `{field}`", quoted(from_uri)));
            }
        }
        self.registry_id = Some(account.to_owned());
        self.registry_region = Some(region.to_owned());
        self.repository = name.to_owned();
        Ok(())
    }

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
        settle_after_minutes: default_settle_after_minutes(),
        prune: false,
        retention_on_schedule: false,
        inline_max: default_inline_max(),
        ecs_rates: EcsRates::default(),
        image_tags: ImageTags::default(),
        approvers: Vec::new(),
        approver_not_asker: true,
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
        if ![
            "apps",
            "nlb",
            "settle_after_minutes",
            "prune",
            "retention_on_schedule",
            "inline_max",
            "ecs_rates",
            "image_tags",
            "approvers",
            "approver_not_asker",
        ]
        .contains(&key.as_str())
        {
            problems.push(Problem {
                path: key_in_path(key),
                message:
                    "unknown field, expected `apps`, `nlb`, `settle_after_minutes`, `prune`, `retention_on_schedule`, `inline_max`, `ecs_rates`, `image_tags`, `approvers` or `approver_not_asker`"
                        .into(),
            });
        }
    }
    for (field, flag) in [
        ("prune", &mut config.prune),
        ("retention_on_schedule", &mut config.retention_on_schedule),
        ("approver_not_asker", &mut config.approver_not_asker),
    ] {
        match object.get(field) {
            None => {}
            Some(serde_json::Value::Bool(value)) => *flag = *value,
            Some(value) => problems.push(Problem {
                path: field.into(),
                message: format!("expected true or false, got {}", json_kind(value)),
            }),
        }
    }
    for (field, number, what) in [
        (
            "settle_after_minutes",
            &mut config.settle_after_minutes,
            "minutes (0-1440)",
        ),
        ("inline_max", &mut config.inline_max, "applications (1-100)"),
    ] {
        match object.get(field) {
            None => {}
            Some(value) => match value.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) => *number = n,
                None => problems.push(Problem {
                    path: field.into(),
                    message: format!("expected a whole number of {what}, got {}", json_kind(value)),
                }),
            },
        }
    }
    match object.get("approvers") {
        None => {}
        Some(serde_json::Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(arn) if is_principal_arn(arn) => config.approvers.push(arn.to_owned()),
                    _ => problems.push(Problem {
                        path: format!("approvers[{i}]"),
                        message:
                            "expected an IAM role or user ARN (arn:aws:iam::<account>:role/<name> or :user/<name>)"
                                .into(),
                    }),
                }
            }
        }
        Some(value) => problems.push(Problem {
            path: "approvers".into(),
            message: format!("expected an array of IAM role or user ARNs, got {}", json_kind(value)),
        }),
    }
    match object.get("image_tags").map(|v| (v, v.as_str())) {
        None => {}
        Some((_, Some("per-app"))) => config.image_tags = ImageTags::PerApp,
        Some((_, Some("per-image"))) => config.image_tags = ImageTags::PerImage,
        Some((value, text)) => problems.push(Problem {
            path: "image_tags".into(),
            message: format!(
                "expected \"per-app\" or \"per-image\", got {}",
                text.map_or_else(|| json_kind(value).to_owned(), quoted)
            ),
        }),
    }
    if let Some(rates) = object.get("ecs_rates") {
        config.ecs_rates = rates::parse(rates, problems);
    }
    match object.get("apps") {
        Some(serde_json::Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                match parse_part::<AppConfig>(item, &format!("apps[{i}]"), &["cloud_map", "api", "promotion"]) {
                    Ok(mut app) => {
                        if let Err(message) = app.read_repository_uri() {
                            problems.push(Problem {
                                path: format!("apps[{i}].repository"),
                                message,
                            });
                        }
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

/// An IAM role or user ARN: `arn:<partition>:iam::<12 digits>:role/<path/name>` or `:user/...`.
fn is_principal_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ["arn", partition, "iam", "", account, resource] = parts.as_slice() else {
        return false;
    };
    partition.starts_with("aws")
        && crate::input::is_account_id(account)
        && (resource
            .strip_prefix("role/")
            .or_else(|| resource.strip_prefix("user/")))
        .is_some_and(|name| !name.is_empty() && !name.ends_with('/') && name.len() <= 512)
        && arn.chars().all(|c| c.is_ascii_graphic())
}

/// Parses one part (an application, the `nlb` block) that must be an object, whose `nested`
/// keys hold objects too, and each of whose `target_groups` is an object.
fn parse_part<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
    base: &str,
    nested: &[&str],
) -> Result<T, Problem> {
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
    deserialize_at(value, base).map_err(problem)
}
