//! Settings read from the environment besides the configuration document.

/// Default bound on applications (or target groups) handled at once.
pub const DEFAULT_CONCURRENCY: usize = 10;

/// Environment variable bounding how many applications one invocation handles at once.
pub const ENV_CONCURRENCY: &str = "DEPLOYER_CONCURRENCY";

/// The concurrency bound from `DEPLOYER_CONCURRENCY` (default 10, at least 1).
pub fn concurrency_from_env() -> usize {
    std::env::var(ENV_CONCURRENCY)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_CONCURRENCY)
}

/// Environment variable naming the state bucket: deploy records and leases (the template sets it).
pub const ENV_STATE_BUCKET: &str = "DEPLOYER_STATE_BUCKET";

/// The state bucket `DEPLOYER_STATE_BUCKET` names; none when unset or empty.
pub fn state_bucket_from_env() -> Option<String> {
    non_empty_var(ENV_STATE_BUCKET)
}

/// Environment variable naming the EventBridge bus outcomes are published on (the template
/// sets it; `default` is the account's default bus).
pub const ENV_EVENT_BUS: &str = "DEPLOYER_EVENT_BUS";

/// The bus `DEPLOYER_EVENT_BUS` names; none when unset or empty (nothing is published).
pub fn event_bus_from_env() -> Option<String> {
    non_empty_var(ENV_EVENT_BUS)
}

/// Environment variable naming the deploy queue's URL (the template sets it): large fan-outs
/// are sent there, one message per application, for the deploy worker.
pub const ENV_DEPLOY_QUEUE: &str = "DEPLOYER_DEPLOY_QUEUE";

/// The queue `DEPLOYER_DEPLOY_QUEUE` names; none when unset or empty (every push is inline).
pub fn deploy_queue_from_env() -> Option<String> {
    non_empty_var(ENV_DEPLOY_QUEUE)
}

/// Environment variable setting how long a put-off deploy-worker message waits before SQS
/// delivers it again, in seconds.
pub const ENV_REDELIVERY_SECONDS: &str = "DEPLOYER_REDELIVERY_SECONDS";

/// Default of [`ENV_REDELIVERY_SECONDS`].
pub const DEFAULT_REDELIVERY_SECONDS: u32 = 5;

/// The seconds `DEPLOYER_REDELIVERY_SECONDS` names (0-900); the default when unset or not a
/// number in that range.
pub fn redelivery_seconds_from_env() -> u32 {
    number_in(ENV_REDELIVERY_SECONDS, 0..=900, DEFAULT_REDELIVERY_SECONDS)
}

/// Environment variable naming the deploy queue's `maxReceiveCount` (the template sets it to
/// its redrive policy's): a message on its last delivery is failed, not put off.
pub const ENV_DEPLOY_MAX_RECEIVES: &str = "DEPLOYER_DEPLOY_MAX_RECEIVES";

/// Default of [`ENV_DEPLOY_MAX_RECEIVES`] (the template's redrive policy).
pub const DEFAULT_DEPLOY_MAX_RECEIVES: u32 = 5;

/// The deliveries `DEPLOYER_DEPLOY_MAX_RECEIVES` names (1-1000); the default otherwise.
pub fn deploy_max_receives_from_env() -> u32 {
    number_in(ENV_DEPLOY_MAX_RECEIVES, 1..=1000, DEFAULT_DEPLOY_MAX_RECEIVES)
}

/// The repositories the stack's push rules watch (its `WatchedRepositories`, comma-separated).
pub const ENV_WATCHED_REPOSITORIES: &str = "DEPLOYER_WATCHED_REPOSITORIES";

/// The clusters the stack's IAM grants (its `ClusterNames`, comma-separated).
pub const ENV_GRANTED_CLUSTERS: &str = "DEPLOYER_GRANTED_CLUSTERS";

/// The entries of a comma-separated list variable; none when unset or blank.
pub fn list_from_env(name: &str) -> Option<Vec<String>> {
    non_empty_var(name).map(|v| {
        v.split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect()
    })
}

/// The whole number a variable names when it lies in `range`; `default` otherwise.
fn number_in(name: &str, range: std::ops::RangeInclusive<u32>, default: u32) -> u32 {
    non_empty_var(name)
        .and_then(|v| v.parse().ok())
        .filter(|n| range.contains(n))
        .unwrap_or(default)
}

/// A variable's value, trimmed; none when unset or blank.
fn non_empty_var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}
