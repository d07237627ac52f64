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
