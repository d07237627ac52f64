//! What every function shares: the answer's shape, the settings read at cold start, and the
//! [`Job`] trait a function's module implements so that `lambda::serve` can run it. A new
//! function is a module implementing [`Job`] plus a three-line binary (README, "Developing").

use std::future::Future;

use aws_config::SdkConfig;
use serde::Serialize;
use serde_json::Value;

use crate::error::InvokeError;
use crate::input::config::ConfigSource;
use crate::input::env::{concurrency_from_env, DEFAULT_CONCURRENCY};
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

/// One of the deployer's Lambda functions: its name, the AWS clients it uses, and one invocation.
pub trait Job {
    /// The function's name, as in `functions/`, the logs and the user agent.
    const NAME: &'static str;
    /// The AWS clients the function uses, and no others.
    type Clients: Send + Sync;
    /// One entry of the answer.
    type Report: Serialize + Send;

    /// Builds the function's clients from the SDK configuration.
    fn clients(config: &SdkConfig) -> Self::Clients;

    /// Checks made once at cold start (warnings about settings, say).
    fn cold_start(_settings: &Settings) {}

    /// One invocation: parse the payload (a malformed one is refused before any AWS call), load
    /// the configuration, observe, plan, apply, and answer.
    fn invoke(
        clients: &Self::Clients,
        source: &ConfigSource,
        payload: &Value,
        settings: &Settings,
    ) -> impl Future<Output = Result<Answer<Self::Report>, InvokeError>>;
}
