//! What every function shares: the answer's shape, the settings read at cold start, and the
//! [`Job`] trait a function's module implements so that `lambda::serve` can run it. A new
//! function is a module implementing [`Job`] plus a three-line binary (README, "Developing").

use std::future::Future;

use aws_config::SdkConfig;
use serde::Serialize;
use serde_json::Value;

use crate::error::{InvokeError, ItemsFailed, ANSWER_IN_MESSAGE_MAX};
use crate::input::config::{Config, ConfigSource};
use crate::input::env::{concurrency_from_env, DEFAULT_CONCURRENCY};
use crate::input::InputError;
use crate::lease::LeaseConfig;

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
    /// (`DEPLOYER_LEASE_BUCKET`); none: unguarded.
    pub lease: Option<LeaseConfig>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            lease: None,
        }
    }
}

impl Settings {
    /// The settings the environment names.
    pub fn from_env() -> Self {
        Self {
            concurrency: concurrency_from_env(),
            lease: LeaseConfig::from_env(),
        }
    }
}

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

    /// Builds the function's clients from the SDK configuration.
    fn clients(config: &SdkConfig) -> Self::Clients;

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
    ) -> impl Future<Output = Result<Answer<Self::Report>, InputError>>;

    /// One invocation as the Lambda runs it: parse, load the configuration, handle.
    fn invoke(
        clients: &Self::Clients,
        source: &ConfigSource,
        payload: &Value,
        settings: &Settings,
    ) -> impl Future<Output = Result<Answer<Self::Report>, InvokeError>> {
        async move {
            let request = Self::parse(payload)?;
            let config = source.load(Self::s3(clients)).await?;
            Ok(Self::handle(clients, &config, &request, settings).await?)
        }
    }
}

/// The answer as Lambda should see it: itself when nothing failed, or an invocation error with
/// the function's failure `errorType` naming each failure and holding the whole answer, so that
/// Lambda retries it, the failure queue keeps it and the alarms fire.
pub fn settle<J: Job>(answer: Answer<J::Report>) -> Result<Answer<J::Report>, InvokeError> {
    let failures: Vec<String> = answer.results.iter().filter_map(J::failure).collect();
    if failures.is_empty() {
        return Ok(answer);
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
        error_type: J::FAILURE,
        failures,
        total: answer.results.len(),
        answer: json,
    }))
}
