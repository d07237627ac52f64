//! The configuration document: which applications the deployer manages and how.
//!
//! It is read from `DEPLOYER_CONFIG` (inline JSON) or `DEPLOYER_CONFIG_S3` (`s3://bucket/key`),
//! and validated as a whole on load: a bad document fails with every problem listed by its JSON
//! path, before anything is changed.

mod containers;
mod gate;
mod names;
mod nlb;
mod parse;
mod place;
mod promotion;
pub mod rates;
mod routes;
pub mod schedules;
mod schema;
mod source;
#[cfg(test)]
mod tests;
mod validate;

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use containers::ContainerConfig;
pub use gate::GateConfig;
pub use names::is_dns_name;
pub use nlb::{Discovery, NlbConfig, TargetGroupConfig};
pub use place::{grouped, OwnPlace, ServicePlace};
pub use promotion::{Approval, PromotionConfig, PromotionPolicy};
pub use rates::EcsRates;
pub use routes::{ApiConfig, CloudMapConfig};
pub use schedules::ScheduleRef;
pub use schema::{config_schema, config_schema_text};
pub use source::{ConfigSource, LoadConfigError, ENV_INLINE, ENV_S3};
pub use validate::HTTP_METHODS;

use crate::aws::arn::short_name;
use crate::glob;
use crate::input::{quoted, InputError};

/// The whole configuration document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The applications, each one ECS service following one ECR repository.
    pub apps: Vec<AppConfig>,
    /// NLB target groups kept in step with internal ALBs (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nlb: Option<NlbConfig>,
    /// Minutes a deploy may stay in progress with no word from ECS before the settle run asks
    /// ECS about it (0-1440, default 30; see docs/knowing-what-happened.md).
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
    /// through the approve function's URL (`AWS_IAM`: Lambda names the signer) from one of them;
    /// a plain invoke, which names nobody, is refused. Empty: any invoker may approve.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
    /// With `approvers`: the approver may not be who asked for the promotion (default true).
    #[serde(default = "default_true")]
    pub approver_not_asker: bool,
    /// Every role the deployer assumes (`role_arn`, `registry_role_arn`, nlb-sync's) gets a
    /// `SourceIdentity` naming the application (`ecs-deployer.<app>`) or the function
    /// (`ecs-deployer.<function>`), which CloudTrail in the role's account records on every
    /// call. Each role's trust policy must then allow `sts:SetSourceIdentity`. Default false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub source_identity: bool,
    /// The applications as pushes of the other repositories their `containers` follow see
    /// them (see [`AppConfig::facets`]): read from `apps`, never written.
    #[serde(skip)]
    pub facets: Vec<AppConfig>,
}

/// How the images applications run and roll back to are kept from lifecycle rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// Unique name, used in manual payloads and results.
    pub name: String,
    /// ECS cluster name or ARN.
    pub cluster: String,
    /// ECS service name or ARN; empty for an application that is only scheduled tasks
    /// (`family` and `schedules` instead).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service: String,
    /// The task definition family of an application without a service: its `schedules` run
    /// it, and a deploy moves them at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// The container in the task definition whose image is deployed (with `containers`: the
    /// first that follows `repository`).
    #[serde(default)]
    pub container: String,
    /// Several containers to deploy, instead of `container` (see [`containers`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<ContainerConfig>,
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
    /// A task run from the new revision before the service is touched (a migration): the
    /// deploy goes on only when its container exits 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_deploy: Option<GateConfig>,
    /// The release group: members released together (one push, one group promotion) roll
    /// back together when one of them fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// `service` is an ECS Express Mode service (its ARN): deploys move its primary container
    /// with `UpdateExpressGatewayService` instead of registering a revision.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub express: bool,
    /// Scheduled tasks that run the application's family (EventBridge rules `"nightly"`,
    /// `"rule/<bus>/<name>"`, Scheduler schedules `"schedule/<group>/<name>"`, in the service's
    /// account and region): when a deploy completes, their ECS targets move to its revision.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<String>,
    /// Marks a production application: promoted to, it needs an approval or a soak unless
    /// `policy: "auto"` is written out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub production: bool,
    /// Copied from the document's top-level `source_identity` (never written per application):
    /// the roles this application's work assumes carry `ecs-deployer.<name>` as the session's
    /// source identity.
    #[serde(skip)]
    pub assume_with_source_identity: bool,
}

/// What a deploy copies (see [`AppConfig::base`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnTemplateChange {
    /// Publish `Template Changed` and show it in `status`; the next push deploys it.
    #[default]
    Notify,
    /// Deploy the template with the digest the application runs now.
    Deploy,
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

fn default_true() -> bool {
    true
}

impl AppConfig {
    /// How promotions to this application happen (the defaults when it names no `promotion`).
    pub fn promotion(&self) -> PromotionConfig {
        self.promotion.clone().unwrap_or_default()
    }

    /// The source identity the roles this application's work assumes carry, when the document
    /// asks for one.
    pub fn source_identity(&self) -> Option<String> {
        self.assume_with_source_identity
            .then(|| format!("ecs-deployer.{}", self.name))
    }

    /// Where the application's service is reached.
    pub fn service_place(&self) -> ServicePlace {
        ServicePlace {
            role_arn: self.role_arn.clone(),
            external_id: self.external_id.clone(),
            region: self.region.clone(),
        }
    }

    /// The scheduled tasks the application names (entries that do not read are left out: the
    /// document's validation refused them).
    pub fn schedule_refs(&self) -> Vec<ScheduleRef> {
        self.schedules.iter().filter_map(|s| schedules::parse(s).ok()).collect()
    }

    /// The account of the application's service when it names a role in another account.
    pub fn account(&self) -> Option<&str> {
        self.role_arn.as_deref().and_then(|role| role.split(':').nth(4))
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
        let (mut config, positions) = parse::parse_parts(&value, &mut problems);
        for app in &mut config.apps {
            app.assume_with_source_identity = config.source_identity;
        }
        // Validate what did parse, so one bad application does not hide another's problems.
        validate::validate(&config, &positions, &mut problems);
        if problems.is_empty() {
            config.facets = config.apps.iter().flat_map(AppConfig::facets).collect();
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

    /// `cluster/service` with short names, for messages (`cluster/<family> (scheduled tasks)`
    /// for an application without a service).
    pub fn service_label(&self) -> String {
        match &self.family {
            Some(family) if self.is_schedule_only() => {
                format!("{}/{family} (scheduled tasks)", short_name(&self.cluster))
            }
            _ => format!("{}/{}", short_name(&self.cluster), short_name(&self.service)),
        }
    }

    /// True for an application that is only scheduled tasks: no service, a `family` whose
    /// revisions its `schedules` run.
    pub fn is_schedule_only(&self) -> bool {
        self.service.is_empty()
    }

    /// What the application's deploys hold a lease on: its service, or (an application
    /// without one) its family's scheduled tasks.
    pub fn lease_subject(&self) -> String {
        match &self.family {
            Some(family) if self.is_schedule_only() => format!("scheduled@{family}"),
            _ => self.service.clone(),
        }
    }
}
