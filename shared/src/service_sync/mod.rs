//! `service-sync`: make Cloud Map, the ECS service registry and the HTTP API routes match the
//! configuration, and clean up old task definition revisions after a completed deploy.
//!
//! [`select`](mod@select) picks the applications, [`observe`](mod@observe) reads each shared resource once per run
//! (namespaces, Cloud Map services, each API's integrations and routes, services in batches of
//! 10), [`plan`](mod@plan) decides per application (pure: Cloud Map and the integration there, the routes
//! in [`routes`], the revision clean-up in [`cleanup`]) and [`apply`](mod@apply) carries the steps out in
//! order.

mod answer;
pub mod apply;
pub mod cleanup;
mod clients;
pub mod grants;
pub mod observe;
pub mod orphans;
pub mod plan;
pub mod retention;
mod retention_pass;
pub mod routes;
pub mod select;
#[cfg(test)]
mod tests;

use aws_config::SdkConfig;
use futures::stream::{self, StreamExt};
use serde::Serialize;

use crate::aws;
use crate::aws::ecs;
use crate::input::config::{grouped, AppConfig, Config, OwnPlace, ServicePlace};
use crate::input::events::{parse_service_sync, ServiceSyncRequest};
use crate::input::InputError;
use crate::job::{self, Invocation, Job, Settings, APP_DEADLINE_MARGIN};
use crate::lease::{self, LeaseConfig};
use answer::finish;
use orphans::orphan_reports;
use retention_pass::{clusters_at, retention_reports};
use std::sync::Arc;

pub use apply::apply;
pub use clients::{Clients, PlaceClients};
pub use observe::{observe, Observation, Reads, RevisionInfo};
pub use plan::{plan_app, CloudMapRef, IntegrationRef, Plan, Step};
pub use select::{select, Selection};

/// The source identity of the roles service-sync assumes, with `source_identity` set.
pub const SOURCE_IDENTITY: &str = "ecs-deployer.service-sync";

/// The function's name.
pub const NAME: &str = "service-sync";

/// The function's answer.
pub type Answer = job::Answer<Report>;

/// The `service-sync` function.
pub struct ServiceSync;

impl Job for ServiceSync {
    const NAME: &'static str = NAME;
    type Clients = Clients;
    type Request = ServiceSyncRequest;
    type Report = Report;
    const FAILURE: &'static str = "SyncFailed";

    fn failure(report: &Report) -> Option<String> {
        (report.outcome == Outcome::Failed).then(|| job::failure_text(report.app.as_deref(), report.reason.as_deref()))
    }

    fn clients(config: &SdkConfig) -> Clients {
        Clients {
            ecs: aws::ecs::Ecs::new(config, None),
            cloud_map: aws_sdk_servicediscovery::Client::new(config),
            apigw: aws_sdk_apigatewayv2::Client::new(config),
            schedulers: aws::schedules::Schedulers::new(config),
            s3: aws::s3::client(config),
            events: aws_sdk_eventbridge::Client::new(config),
            region: aws::region_of(config),
            sdk_config: config.clone(),
            place: ServicePlace::default(),
            places: Arc::default(),
        }
    }

    fn s3(clients: &Clients) -> &aws_sdk_s3::Client {
        &clients.s3
    }

    fn parse(payload: &serde_json::Value) -> Result<ServiceSyncRequest, InputError> {
        parse_service_sync(payload)
    }

    async fn handle(
        clients: &Clients,
        config: &Config,
        request: &ServiceSyncRequest,
        settings: &Settings,
        invocation: &Invocation,
    ) -> Result<Answer, InputError> {
        handle(clients, config, request, settings, invocation).await
    }
}

/// How one application's sync ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Changes were applied.
    Synced,
    /// Everything already matched: nothing was written.
    Unchanged,
    /// Dry run: the actions listed would have been taken.
    Planned,
    /// Something failed; `reason` says what.
    Failed,
    /// The event concerns nothing to sync.
    Ignored,
    /// A deployment failed: reported, nothing synced.
    DeploymentFailed,
    /// An application no longer configured left routes or integrations the deployer made:
    /// listed in `actions`, kept (the configuration does not say `prune: true`).
    Orphaned,
    /// An orphan's routes and integrations were removed (`prune: true`).
    Pruned,
}

/// One entry of the response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Application name (absent when the event matches none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// The changes, readable (`+ route GET /{proxy+} -> integration abc (JWT xyz)`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    /// Differences that cannot be repaired in place, with what to do.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<String>,
    /// The failed deployment's task definition (deployment events), when ECS still lists it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<String>,
    /// The task definition the service runs now (deployment events): after a rollback, the
    /// revision it went back to, not the failed one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_task_definition: Option<String>,
    /// `retention` for the entry of a retention pass (absent for a sync).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass: Option<&'static str>,
    /// What a retention pass keeps, each with why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<String>,
    /// Why nothing was done, or what failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Report {
    pub(crate) fn new(app: Option<&str>, outcome: Outcome, reason: Option<String>) -> Self {
        Report {
            app: app.map(str::to_owned),
            outcome,
            actions: Vec::new(),
            drift: Vec::new(),
            task_definition: None,
            running_task_definition: None,
            pass: None,
            kept: Vec::new(),
            reason,
        }
    }
}

/// Handles one `service-sync` invocation: select, observe, plan, apply (unless a dry run).
pub async fn handle(
    clients: &Clients,
    config: &Config,
    request: &ServiceSyncRequest,
    settings: &Settings,
    invocation: &Invocation,
) -> Result<Answer, InputError> {
    let concurrency = settings.concurrency;
    let dry_run = request.dry_run();
    let own = OwnPlace {
        account: invocation.account.as_deref(),
        region: &clients.region,
    };
    let (apps, completed) = match select(config, request, own)? {
        Selection::Sync { apps, completed } => (apps, completed),
        Selection::Retention(apps) => {
            let results = retention_reports(clients, config, settings, invocation, &apps, dry_run).await;
            return Ok(finish(clients, config, settings, results, dry_run).await);
        }
        Selection::Ignored(reason) => {
            return Ok(finish(
                clients,
                config,
                settings,
                vec![Report::new(None, Outcome::Ignored, Some(reason))],
                dry_run,
            )
            .await);
        }
        Selection::DeploymentFailed {
            app,
            deployment_id,
            reason,
        } => {
            let mut result = Report::new(
                Some(&app.name),
                Outcome::DeploymentFailed,
                Some(reason.unwrap_or_else(|| "ECS reported no reason".into())),
            );
            // One read to name the failed deployment's revision and the one the service really
            // runs (after a rollback, not the failed one); nothing is written.
            let at = clients
                .at(&app.service_place(), &app.name, config.source_identity)
                .await;
            let services = ecs::describe_services(&at.ecs, &app.cluster, std::slice::from_ref(&app.service)).await;
            if let Some(service) = services.ok().and_then(|found| found.into_iter().next()) {
                result.task_definition = service
                    .deployments
                    .iter()
                    .find(|d| d.id == *deployment_id)
                    .map(|d| d.task_definition.clone());
                result.running_task_definition = Some(service.task_definition);
            }
            return Ok(finish(clients, config, settings, vec![result], dry_run).await);
        }
    };
    // Each account and region with its own clients, its own clusters' services in use.
    let mut results = Vec::new();
    for (place, group) in grouped(apps.iter().copied(), AppConfig::service_place) {
        let at = clients.at(&place, &group[0].name, config.source_identity).await;
        let clusters = clusters_at(config, &place);
        let reads = Reads {
            completed,
            concurrency,
            owned: settings.owned.as_ref(),
            records: settings.records.as_ref(),
            clusters: &clusters,
        };
        results.extend(sync_apps(&at, &group, reads, settings, invocation, dry_run).await);
    }
    let full = matches!(
        request,
        ServiceSyncRequest::Scheduled | ServiceSyncRequest::Manual { apps: None, .. }
    );
    if let (true, Some(store)) = (full, settings.owned.as_ref()) {
        results.extend(orphan_reports(clients, config, store, dry_run).await);
    }
    // What the stack does not grant fails the scheduled run, every time, until it does.
    if let (ServiceSyncRequest::Scheduled, Some(grants)) = (request, &settings.stack_grants) {
        results.extend(grants::ungranted_reports(config, grants));
    }
    if config.retention_on_schedule && matches!(request, ServiceSyncRequest::Scheduled) {
        let all: Vec<&AppConfig> = config.apps.iter().collect();
        results.extend(retention_reports(clients, config, settings, invocation, &all, false).await);
    }
    Ok(finish(clients, config, settings, results, dry_run).await)
}

/// Observes, plans and applies the sync of applications of one account and region.
async fn sync_apps(
    clients: &Clients,
    apps: &[&AppConfig],
    reads: Reads<'_>,
    settings: &Settings,
    invocation: &Invocation,
    dry_run: bool,
) -> Vec<Report> {
    let owned = reads.owned;
    let observations = observe(clients, apps, reads).await;
    stream::iter(apps.iter().zip(observations).map(|(app, obs)| async move {
        let plan = match obs.map_err(|e| e.to_string()).and_then(|obs| plan_app(app, &obs)) {
            Ok(plan) => plan,
            Err(reason) => return Report::new(Some(&app.name), Outcome::Failed, Some(reason)),
        };
        let mut result = Report::new(Some(&app.name), Outcome::Unchanged, None);
        result.actions = plan.actions.clone();
        result.drift = plan.drift.clone();
        if plan.steps.is_empty() {
            return with_conflicts(result, &plan);
        }
        if dry_run {
            result.outcome = Outcome::Planned;
            return with_conflicts(result, &plan);
        }
        if let Some(reason) = invocation.too_late_to_start(APP_DEADLINE_MARGIN) {
            result.outcome = Outcome::Failed;
            result.reason = Some(reason);
            return result;
        }
        let applied = match &settings.lease {
            Some(leases) => apply_under_lease(clients, leases, reads, invocation, app).await,
            None => apply(clients, owned, &app.name, &plan)
                .await
                .map(|()| plan)
                .map_err(|e| e.to_string()),
        };
        match applied {
            Ok(plan) => {
                result.actions = plan.actions.clone();
                result.drift = plan.drift.clone();
                if !plan.steps.is_empty() {
                    result.outcome = Outcome::Synced;
                }
                with_conflicts(result, &plan)
            }
            Err(err) => {
                result.outcome = Outcome::Failed;
                result.reason = Some(format!("{err}; the next sync resumes from what exists"));
                result
            }
        }
    }))
    .buffered(reads.concurrency.max(1))
    .collect::<Vec<Report>>()
    .await
}

/// How long service-sync holds a service's lease at most: its function's timeout (300 s in
/// `template.yaml`), so that a lease never expires under an invocation that is still running;
/// a crashed run's lease frees itself after that.
pub const LEASE_TTL: std::time::Duration = std::time::Duration::from_secs(300);

/// Applies a plan holding the application's service lease (the key image-push uses for the
/// same service), so that a scheduled run, an ECS event and a manual invoke at once never both
/// create an integration or a route. The plan was made before the lease: the application is
/// observed and planned again under it, so what another run made meanwhile is used, not made
/// twice. Returns the plan carried out.
async fn apply_under_lease(
    clients: &Clients,
    leases: &LeaseConfig,
    reads: Reads<'_>,
    invocation: &Invocation,
    app: &AppConfig,
) -> Result<Plan, String> {
    let held = ServiceLease::take(clients, leases, invocation, app, "service-sync").await?;
    let applied = async {
        let obs = observe(
            clients,
            &[app],
            Reads {
                concurrency: 1,
                ..reads
            },
        )
        .await
        .pop()
        .expect("one application observed")
        .map_err(|e| e.to_string())?;
        let plan = plan_app(app, &obs)?;
        if !plan.steps.is_empty() {
            held.confirm(clients).await?;
            apply(clients, reads.owned, &app.name, &plan)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(plan)
    }
    .await;
    held.give_back(clients, app).await;
    applied
}

/// The service's lease as service-sync holds it: [`LEASE_TTL`], named after the invocation.
struct ServiceLease {
    leases: LeaseConfig,
    held: lease::Lease,
}

impl ServiceLease {
    /// Takes the lease of `app`'s service (waiting, as image-push does, for another holder).
    async fn take(
        clients: &Clients,
        leases: &LeaseConfig,
        invocation: &Invocation,
        app: &AppConfig,
        what: &str,
    ) -> Result<Self, String> {
        let leases = leases.with_ttl(LEASE_TTL);
        let key = leases.key_of(app);
        let purpose = format!("{} {what}", app.name);
        let held = lease::acquire(&clients.s3, &leases, &key, &invocation.request_id, &purpose)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Self { leases, held })
    }

    /// The fence, right before writing: the lease is still this run's.
    async fn confirm(&self, clients: &Clients) -> Result<(), String> {
        lease::confirm(&clients.s3, &self.leases, &self.held)
            .await
            .map_err(|e| e.to_string())
    }

    /// Gives the lease back; a failure only logs (the lease expires by itself).
    async fn give_back(&self, clients: &Clients, app: &AppConfig) {
        if let Err(err) = lease::release(&clients.s3, &self.leases, &self.held).await {
            tracing::warn!(app = %app.name, error = %err, "lease not given back; it expires by itself");
        }
    }
}

/// A plan's conflicts fail the application's sync: what could be done was done, and a person
/// must decide about a resource someone else owns.
fn with_conflicts(mut result: Report, plan: &Plan) -> Report {
    if !plan.conflicts.is_empty() {
        result.outcome = Outcome::Failed;
        result.reason = Some(format!("conflict: {}", plan.conflicts.join("; ")));
    }
    result
}

/// CloudWatch namespace of service-sync's metrics.
pub const METRICS_NAMESPACE: &str = "EcsDeployer/ServiceSync";

/// One embedded-metric-format line per application (no PutMetricData call): `Actions` carried
/// out and `Failures`, by `App` (the template's dashboard reads them).
fn emit_metrics(result: &Report) {
    let Some(app) = result.app.as_deref() else {
        return;
    };
    crate::telemetry::emit_metrics(
        METRICS_NAMESPACE,
        &[&["App"]],
        &[("Actions", "Count"), ("Failures", "Count")],
        serde_json::json!({
            "App": app,
            "Actions": if result.outcome == Outcome::Synced { result.actions.len() } else { 0 },
            "Failures": u32::from(result.outcome == Outcome::Failed),
            "outcome": result.outcome,
        }),
    );
}
