//! What every function shares: the answer's shape, the settings read at cold start, and the
//! [`Job`] trait a function's module implements so that `lambda::serve` can run it. A new
//! function is a module implementing [`Job`] plus a three-line binary (docs/developing.md).

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use serde::Serialize;
use serde_json::Value;

use crate::error::{InvokeError, ItemsFailed, ANSWER_IN_MESSAGE_MAX};
use crate::input::config::{Config, ConfigSource};
use crate::input::env::{concurrency_from_env, event_bus_from_env, DEFAULT_CONCURRENCY};
use crate::input::InputError;
use crate::lease::LeaseConfig;
use crate::ownership::ApiRecordStore;
use crate::records::RecordStore;

/// Every function's answer: `{"results": [...], "dry_run": bool}`, one report per application
/// or target group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer<R> {
    /// One entry per application or target group.
    pub results: Vec<R>,
    /// True when nothing was written.
    pub dry_run: bool,
}

/// Settings from the environment, read once per cold start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Applications or target groups handled at once (`DEPLOYER_CONCURRENCY`).
    pub concurrency: usize,
    /// Per-service leases that keep overlapping deploys of one service apart
    /// (`DEPLOYER_STATE_BUCKET`); none: unguarded.
    pub lease: Option<LeaseConfig>,
    /// Where deploy records are kept (`DEPLOYER_STATE_BUCKET`); none: not recorded.
    pub records: Option<RecordStore>,
    /// The EventBridge bus outcomes are published on (`DEPLOYER_EVENT_BUS`); none: not published.
    pub event_bus: Option<String>,
    /// Where the HTTP API routes and integrations the deployer created are recorded
    /// (`DEPLOYER_STATE_BUCKET`); none: only integrations marked by their description count.
    pub owned: Option<ApiRecordStore>,
    /// The deploy queue's URL (`DEPLOYER_DEPLOY_QUEUE`): pushes to more than `inline_max`
    /// applications go there; none: every push is deployed inline.
    pub deploy_queue: Option<String>,
    /// Seconds a deploy-worker message that was put off stays hidden before SQS delivers it
    /// again (`DEPLOYER_REDELIVERY_SECONDS`, default 5; a failed one waits six times as long per
    /// delivery, up to 10 minutes), instead of the queue's visibility timeout, which would keep
    /// its whole message group (the account and Region) waiting.
    pub redelivery_seconds: u32,
    /// Deliveries of a deploy-worker message before SQS moves it to the dead-letter queue
    /// (`DEPLOYER_DEPLOY_MAX_RECEIVES`, default 5).
    pub deploy_max_receives: u32,
    /// True on the last attempt there will be (a message's last delivery): a deploy that would
    /// be put off fails instead, with its record and `Deploy Failed`, so the truth is told.
    pub last_attempt: bool,
    /// What the stack grants (its `WatchedRepositories` and `ClusterNames`, as the template
    /// passes them); none: not known (the scheduled sync does not check the configuration
    /// against it).
    pub stack_grants: Option<StackGrants>,
}

/// The repositories the stack's push rules watch and the clusters its IAM grants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackGrants {
    /// `WatchedRepositories`.
    pub repositories: Vec<String>,
    /// `ClusterNames`.
    pub clusters: Vec<String>,
}

impl StackGrants {
    /// The grants the environment names (`DEPLOYER_WATCHED_REPOSITORIES`,
    /// `DEPLOYER_GRANTED_CLUSTERS`); none unless both are set.
    pub fn from_env() -> Option<Self> {
        use crate::input::env::{list_from_env, ENV_GRANTED_CLUSTERS, ENV_WATCHED_REPOSITORIES};
        Some(Self {
            repositories: list_from_env(ENV_WATCHED_REPOSITORIES)?,
            clusters: list_from_env(ENV_GRANTED_CLUSTERS)?,
        })
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            lease: None,
            records: None,
            event_bus: None,
            owned: None,
            deploy_queue: None,
            redelivery_seconds: crate::input::env::DEFAULT_REDELIVERY_SECONDS,
            deploy_max_receives: crate::input::env::DEFAULT_DEPLOY_MAX_RECEIVES,
            last_attempt: false,
            stack_grants: None,
        }
    }
}

impl Settings {
    /// The settings the environment names.
    pub fn from_env() -> Self {
        Self {
            concurrency: concurrency_from_env(),
            lease: LeaseConfig::from_env(),
            records: RecordStore::from_env(),
            event_bus: event_bus_from_env(),
            owned: ApiRecordStore::from_env(),
            deploy_queue: crate::input::env::deploy_queue_from_env(),
            redelivery_seconds: crate::input::env::redelivery_seconds_from_env(),
            deploy_max_receives: crate::input::env::deploy_max_receives_from_env(),
            last_attempt: false,
            stack_grants: StackGrants::from_env(),
        }
    }
}

/// What Lambda says of one invocation: its request id and its deadline.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Lambda's request id. Lambda's own retries of an asynchronous invocation keep it, so it
    /// names a manual deploy across those retries.
    pub request_id: String,
    /// When Lambda stops the invocation; none outside Lambda.
    pub deadline: Option<Instant>,
    /// The account the function runs in (from the invoked function's ARN); none outside Lambda.
    pub account: Option<String>,
    /// Who signed the request, when the payload came through the function URL (`AWS_IAM`: Lambda
    /// checked the signature); none for a plain invoke, which carries no identity.
    pub caller: Option<String>,
}

impl Invocation {
    /// An invocation outside Lambda (tests, the demo, the bench): a fresh request id, no deadline.
    pub fn local() -> Self {
        Self {
            request_id: crate::lease::new_owner(),
            deadline: None,
            account: None,
            caller: None,
        }
    }

    /// This invocation, signed by `caller` through the function URL.
    pub fn signed_by(self, caller: &str) -> Self {
        Self {
            caller: Some(caller.to_owned()),
            ..self
        }
    }

    /// From Lambda's context: the request id, the deadline in milliseconds since the epoch and
    /// the invoked function's ARN. A value that is not a time since the epoch (cargo-lambda's
    /// local runtime sends the timeout itself, `600000`) gives no deadline rather than one in
    /// 1970; an ARN without a 12-digit account gives no account.
    pub fn from_lambda(request_id: &str, deadline_epoch_ms: u64, function_arn: &str) -> Self {
        /// 2001-09-09 in milliseconds since the epoch: any real deadline is later.
        const EPOCH_MS_FLOOR: u64 = 1_000_000_000_000;
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        Self {
            request_id: request_id.to_owned(),
            deadline: (deadline_epoch_ms >= EPOCH_MS_FLOOR)
                .then(|| Instant::now() + Duration::from_millis(deadline_epoch_ms.saturating_sub(now_ms))),
            account: function_arn
                .split(':')
                .nth(4)
                .filter(|a| crate::input::is_account_id(a))
                .map(str::to_owned),
            caller: None,
        }
    }

    /// True when less than `margin` is left before the deadline: time to stop starting work.
    pub fn near_deadline(&self, margin: Duration) -> bool {
        self.deadline
            .is_some_and(|deadline| deadline.saturating_duration_since(Instant::now()) < margin)
    }

    /// Why an item is not started now, when less than `margin` is left before the deadline:
    /// the item is reported as a failure (so Lambda retries the invocation) instead of being
    /// cut off half-way when Lambda stops it.
    pub fn too_late_to_start(&self, margin: Duration) -> Option<String> {
        self.near_deadline(margin).then(|| {
            format!(
                "not started: less than {} s of this invocation were left; a retry or the next run does it",
                margin.as_secs()
            )
        })
    }
}

/// Time an application's deploy or sync may need once started: its AWS calls are bounded at
/// 30 s each ([`crate::aws`]), and most end in well under a second.
pub const APP_DEADLINE_MARGIN: Duration = Duration::from_secs(20);

/// One of the deployer's Lambda functions: its name, the AWS clients it uses, how it reads its
/// input and how it handles it. [`Job::invoke`] is the same for every function: parse (a
/// malformed payload is refused before any AWS call), load the configuration, handle.
pub trait Job {
    /// The function's name, as in `functions/`, the logs and the user agent.
    const NAME: &'static str;
    /// The AWS clients the function uses, and no others.
    type Clients: Send + Sync;
    /// An invocation, parsed.
    type Request;
    /// One entry of the answer.
    type Report: Serialize + Send;
    /// The `errorType` of an invocation in which an item failed (see [`crate::error`]).
    const FAILURE: &'static str;

    /// `Some("name: reason")` when this entry of the answer is a failure. `stale`, `ignored`,
    /// `unchanged` and the like are not.
    fn failure(report: &Self::Report) -> Option<String>;

    /// `Some("name: reason")` when this entry was put off (throttled past its retries): the
    /// invocation ends in a [`crate::error::DEFERRED`] error, so Lambda retries the event.
    fn deferred(_report: &Self::Report) -> Option<String> {
        None
    }

    /// Builds the function's clients from the SDK configuration.
    fn clients(config: &SdkConfig) -> Self::Clients;

    /// What Lambda gets back: the answer, or an invocation error when an entry failed or was
    /// put off (see [`settle`]). A function behind an event source mapping shapes its own
    /// response instead (the deploy worker answers SQS's partial batch response).
    fn respond(answer: Answer<Self::Report>) -> Result<Value, InvokeError>
    where
        Self: Sized,
    {
        settle::<Self>(answer).map(|answer| serde_json::to_value(answer).expect("answers serialize"))
    }

    /// The S3 client the configuration is read with (`DEPLOYER_CONFIG_S3`).
    fn s3(clients: &Self::Clients) -> &aws_sdk_s3::Client;

    /// Checks made once at cold start (warnings about settings, say).
    fn cold_start(_settings: &Settings) {}

    /// Parses an event or manual payload, naming the field that is wrong.
    fn parse(payload: &Value) -> Result<Self::Request, InputError>;

    /// Handles one parsed request: select, observe, plan, apply (unless a dry run), report.
    fn handle(
        clients: &Self::Clients,
        config: &Config,
        request: &Self::Request,
        settings: &Settings,
        invocation: &Invocation,
    ) -> impl Future<Output = Result<Answer<Self::Report>, InputError>>;

    /// One invocation as the Lambda runs it: parse, load the configuration, handle.
    fn invoke(
        clients: &Self::Clients,
        source: &ConfigSource,
        payload: &Value,
        settings: &Settings,
        invocation: &Invocation,
    ) -> impl Future<Output = Result<Answer<Self::Report>, InvokeError>> {
        async move {
            let request = Self::parse(payload)?;
            let config = source.load(Self::s3(clients)).await?;
            crate::aws::pace::pacer().configure(&config.ecs_rates.limits());
            // Boxed: a handler's future is large (the SDK's are), and the caller's stack small.
            Ok(Box::pin(Self::handle(clients, &config, &request, settings, invocation)).await?)
        }
    }
}

/// How a failed entry is named in the invocation error: `name: reason` (`-` for no name).
pub fn failure_text(name: Option<&str>, reason: Option<&str>) -> String {
    format!("{}: {}", name.unwrap_or("-"), reason.unwrap_or("no reason given"))
}

/// The metric namespace of invocation counts (dimension `Function`).
pub const INVOCATIONS_NAMESPACE: &str = "EcsDeployer/Invocations";
/// The count of invocations that ended [`crate::error::DEFERRED`].
pub const DEFERRED_METRIC: &str = "Deferred";

/// The answer as Lambda should see it: itself when nothing failed, or an invocation error with
/// the function's failure `errorType` naming each failure and holding the whole answer, so that
/// Lambda retries it, the failure queue keeps it and the alarms fire. When nothing failed but
/// some work was put off (throttled, a busy lease, out of time), the error is `Deferred`, so
/// Lambda's retry does that work, and a metric line lets the alarms leave it out.
pub fn settle<J: Job>(answer: Answer<J::Report>) -> Result<Answer<J::Report>, InvokeError> {
    let mut error_type = J::FAILURE;
    let mut failures: Vec<String> = answer.results.iter().filter_map(J::failure).collect();
    if failures.is_empty() {
        failures = answer.results.iter().filter_map(J::deferred).collect();
        error_type = crate::error::DEFERRED;
    }
    if failures.is_empty() {
        return Ok(answer);
    }
    if error_type == crate::error::DEFERRED {
        // Counted apart, so the error alarms can leave put-off work out (template.yaml).
        crate::telemetry::emit_metrics(
            INVOCATIONS_NAMESPACE,
            &[&["Function"]],
            &[(DEFERRED_METRIC, "Count")],
            serde_json::json!({"Function": J::NAME, DEFERRED_METRIC: 1}),
        );
    }
    let mut json = serde_json::to_string(&answer).expect("answers serialize");
    if json.len() > ANSWER_IN_MESSAGE_MAX {
        let mut end = ANSWER_IN_MESSAGE_MAX;
        while !json.is_char_boundary(end) {
            end -= 1;
        }
        json.truncate(end);
        json.push_str("...(cut)");
    }
    Err(InvokeError::ItemsFailed(ItemsFailed {
        error_type,
        failures,
        total: answer.results.len(),
        answer: json,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_stops_new_work_only_when_near() {
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let margin = Duration::from_secs(20);
        let far = Invocation::from_lambda("r", now_ms + 120_000, "");
        assert_eq!(far.too_late_to_start(margin), None);
        let near = Invocation::from_lambda("r", now_ms + 5_000, "");
        assert!(near.too_late_to_start(margin).unwrap().contains("less than 20 s"));
        let past = Invocation::from_lambda("r", now_ms - 1_000, "");
        assert!(past.near_deadline(margin));
        // cargo-lambda's local runtime sends the timeout, not a time: no deadline.
        assert_eq!(Invocation::from_lambda("r", 600_000, "").deadline, None);
        let arn = "arn:aws:lambda:eu-west-1:123456789012:function:image-push";
        assert_eq!(
            Invocation::from_lambda("r", 0, arn).account.as_deref(),
            Some("123456789012")
        );
        assert_eq!(
            Invocation::from_lambda("r", 0, "arn:aws:lambda:x:y:function:f").account,
            None
        );
        assert_eq!(Invocation::local().too_late_to_start(margin), None);
    }
}
