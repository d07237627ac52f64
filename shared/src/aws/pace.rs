//! Pacing ECS calls to the token buckets AWS documents ("Request throttling for the Amazon ECS
//! API"): per account and Region, each group of actions has a burst and a sustained rate shared
//! by every client of the account. The deployer keeps its own picture of each bucket (one per
//! [`Ecs::scope`] and [`EcsBucket`], shared by every deploy of the process) and waits for a
//! token before each call, so a fan-out runs at the bucket's rate instead of being refused.
//! Others use the same buckets (Terraform, CI, the console): a throttle halves the rate this
//! process allows itself, and each success gives back a tenth of the documented rate (AIMD).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

/// A group of ECS actions that share one token bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EcsBucket {
    /// RegisterTaskDefinition, DeregisterTaskDefinition: 20 burst, 1 a second.
    TaskDefinitionWrites,
    /// UpdateService, CreateService: 50, 5.
    ServiceWrites,
    /// DescribeServices, ListServices: 100, 20.
    ServiceReads,
    /// DescribeTaskDefinition: 50, 20.
    TaskDefinitionReads,
    /// DeleteTaskDefinitions: 5, 1.
    TaskDefinitionDeletes,
    /// TagResource: 20, 10.
    Tagging,
    /// ListTagsForResource: 50, 20.
    TagReads,
}

/// A bucket's size and refill.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Tokens the bucket holds when full (requests in one burst).
    pub burst: f64,
    /// Tokens added a second (the sustained rate).
    pub per_second: f64,
}

impl EcsBucket {
    /// Every bucket.
    pub const ALL: [EcsBucket; 7] = [
        EcsBucket::TaskDefinitionWrites,
        EcsBucket::ServiceWrites,
        EcsBucket::ServiceReads,
        EcsBucket::TaskDefinitionReads,
        EcsBucket::TaskDefinitionDeletes,
        EcsBucket::Tagging,
        EcsBucket::TagReads,
    ];

    /// Its name in the configuration's `ecs_rates`.
    pub fn name(self) -> &'static str {
        match self {
            EcsBucket::TaskDefinitionWrites => "task_definition_writes",
            EcsBucket::ServiceWrites => "service_writes",
            EcsBucket::ServiceReads => "service_reads",
            EcsBucket::TaskDefinitionReads => "task_definition_reads",
            EcsBucket::TaskDefinitionDeletes => "task_definition_deletes",
            EcsBucket::Tagging => "tagging",
            EcsBucket::TagReads => "tag_reads",
        }
    }

    /// The bucket `name` names.
    pub fn named(name: &str) -> Option<EcsBucket> {
        EcsBucket::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The bucket's documented size and refill (an account's quota may have been raised).
    pub fn documented(self) -> Rate {
        let (burst, per_second) = match self {
            EcsBucket::TaskDefinitionWrites => (20.0, 1.0),
            EcsBucket::ServiceWrites => (50.0, 5.0),
            EcsBucket::ServiceReads => (100.0, 20.0),
            EcsBucket::TaskDefinitionReads => (50.0, 20.0),
            EcsBucket::TaskDefinitionDeletes => (5.0, 1.0),
            EcsBucket::Tagging => (20.0, 10.0),
            EcsBucket::TagReads => (50.0, 20.0),
        };
        Rate { burst, per_second }
    }
}

/// Tokens of each real bucket the pacer leaves unused (for the jitter between sending and
/// arriving).
const RESERVE: f64 = 1.0;

/// The share of each bucket the background lane (retention) may use.
pub const BACKGROUND_SHARE: f64 = 0.25;

/// The lowest share of the documented rate throttles bring this process down to.
const FLOOR: f64 = 1.0 / 16.0;
/// The share of the documented rate each success gives back after a throttle.
const RECOVERY: f64 = 0.1;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
    per_second: f64,
    limit: Rate,
    /// When the rate was last halved: the throttles of calls already sent at the old rate are
    /// one congestion, not many.
    cut_at: Option<Instant>,
}

impl Bucket {
    fn refill(&mut self, now: Instant) {
        let earned = now.saturating_duration_since(self.at).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + earned).min(self.limit.burst - RESERVE);
        self.at = now;
    }
}

/// Every bucket this process paces, by scope (account and Region) and group.
#[derive(Debug, Default)]
pub struct Pacer {
    buckets: Mutex<BTreeMap<(Arc<str>, EcsBucket), Bucket>>,
    raised: Mutex<BTreeMap<EcsBucket, Rate>>,
    shares: Mutex<BTreeMap<Arc<str>, f64>>,
}

impl Pacer {
    /// The account's raised quotas (the configuration's `ecs_rates`); the buckets not named keep
    /// AWS's documented figures. A changed quota applies to every bucket from its next call.
    pub fn configure(&self, raised: &[(EcsBucket, Rate)]) {
        *self.raised.lock().expect("pacer lock") = raised.iter().copied().collect();
    }

    /// The quota in force for `group` in `scope`: the account's, times the scope's share.
    fn limit(&self, scope: &Arc<str>, group: EcsBucket) -> Rate {
        let quota = self
            .raised
            .lock()
            .expect("pacer lock")
            .get(&group)
            .copied()
            .unwrap_or_else(|| group.documented());
        let share = self
            .shares
            .lock()
            .expect("pacer lock")
            .get(scope)
            .copied()
            .unwrap_or(1.0);
        Rate {
            burst: (quota.burst * share).max(1.0),
            per_second: quota.per_second * share,
        }
    }

    /// Paces `scope` at `share` of each bucket (a background lane: see [`Ecs::background`]).
    pub fn set_share(&self, scope: &Arc<str>, share: f64) {
        self.shares.lock().expect("pacer lock").insert(scope.clone(), share);
    }

    fn with_bucket<T>(&self, scope: &Arc<str>, group: EcsBucket, f: impl FnOnce(&mut Bucket) -> T) -> T {
        let limit = self.limit(scope, group);
        let mut buckets = self.buckets.lock().expect("pacer lock");
        let bucket = buckets.entry((scope.clone(), group)).or_insert_with(|| Bucket {
            // One token of the real bucket is left unused: requests reach AWS a little after they
            // leave, unevenly, and that reserve absorbs it instead of a throttle.
            tokens: limit.burst - RESERVE,
            at: Instant::now(),
            per_second: limit.per_second,
            limit,
            cut_at: None,
        });
        if bucket.limit != limit {
            bucket.per_second = limit.per_second;
            bucket.tokens = bucket.tokens.min(limit.burst - RESERVE);
            bucket.limit = limit;
        }
        bucket.refill(Instant::now());
        f(bucket)
    }

    /// How long a call must wait for its token; the token is reserved (callers are served in
    /// the order they asked).
    pub fn reserve(&self, scope: &Arc<str>, group: EcsBucket) -> Duration {
        self.with_bucket(scope, group, |bucket| {
            bucket.tokens -= 1.0;
            if bucket.tokens >= 0.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(-bucket.tokens / bucket.per_second)
            }
        })
    }

    /// Waits for a token.
    pub async fn acquire(&self, scope: &Arc<str>, group: EcsBucket) {
        let wait = self.reserve(scope, group);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// AWS refused a call for its rate: someone else draws from the bucket too. The bucket is
    /// taken as empty, and the rate this process allows itself halves (at most once a second,
    /// down to a sixteenth of the documented one).
    pub fn throttled(&self, scope: &Arc<str>, group: EcsBucket) {
        self.with_bucket(scope, group, |bucket| {
            let now = Instant::now();
            if bucket
                .cut_at
                .is_none_or(|at| now.saturating_duration_since(at) >= Duration::from_secs(1))
            {
                bucket.per_second = (bucket.per_second / 2.0).max(bucket.limit.per_second * FLOOR);
                bucket.cut_at = Some(now);
            }
            bucket.tokens = bucket.tokens.min(0.0);
        });
    }

    /// A call went through: the rate recovers toward the documented one.
    pub fn succeeded(&self, scope: &Arc<str>, group: EcsBucket) {
        self.with_bucket(scope, group, |bucket| {
            bucket.per_second = (bucket.per_second + bucket.limit.per_second * RECOVERY).min(bucket.limit.per_second);
        });
    }

    /// The rate this process allows itself now (for reports and tests).
    pub fn rate(&self, scope: &Arc<str>, group: EcsBucket) -> f64 {
        self.with_bucket(scope, group, |bucket| bucket.per_second)
    }
}

/// The process's pacer: every ECS client of the function shares it.
pub fn pacer() -> &'static Pacer {
    static PACER: OnceLock<Pacer> = OnceLock::new();
    PACER.get_or_init(Pacer::default)
}

/// An ECS client with the scope its calls are paced in: the account (of the role it acts
/// through, else the function's own) and the Region. It derefs to the SDK client.
#[derive(Debug, Clone)]
pub struct Ecs {
    client: aws_sdk_ecs::Client,
    scope: Arc<str>,
}

impl Ecs {
    /// A client for `config`, acting through `role` (none: the function's own credentials).
    pub fn new(config: &aws_config::SdkConfig, role: Option<&str>) -> Self {
        let account = role
            .and_then(|arn| arn.split(':').nth(4))
            .filter(|a| !a.is_empty())
            .unwrap_or("own");
        // An endpoint override (a local emulator) is a world of its own, with its own buckets.
        let endpoint = config.endpoint_url().map(|e| format!(" at {e}")).unwrap_or_default();
        Self {
            client: aws_sdk_ecs::Client::new(config),
            scope: format!("{account}/{}{endpoint}", crate::aws::region_of(config)).into(),
        }
    }

    /// The same client with another SDK configuration (the user agent, say), paced in the same
    /// scope.
    pub fn with_client(&self, client: aws_sdk_ecs::Client) -> Self {
        Self {
            client,
            scope: self.scope.clone(),
        }
    }

    /// The same client in the background lane of its scope: paced at [`BACKGROUND_SHARE`] of
    /// each bucket, so housekeeping (the retention pass's deregistrations and deletions) never
    /// takes more than that share of what the account's deploys need.
    pub fn background(&self) -> Self {
        let scope: Arc<str> = format!("{} (background)", self.scope).into();
        pacer().set_share(&scope, BACKGROUND_SHARE);
        Self {
            client: self.client.clone(),
            scope,
        }
    }

    /// `account/region` (and the endpoint, when overridden): the bucket scope.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// Waits for a token of `group`.
    pub async fn paced(&self, group: EcsBucket) {
        pacer().acquire(&self.scope, group).await;
    }

    /// Tells the pacer how a call of `group` ended: a throttle slows the scope down, anything
    /// else lets it recover.
    pub fn heard<T, E, R>(&self, group: EcsBucket, result: &Result<T, aws_sdk_ecs::error::SdkError<E, R>>)
    where
        E: aws_sdk_ecs::error::ProvideErrorMetadata,
    {
        match result {
            Err(err) if crate::aws::is_throttling(err) => pacer().throttled(&self.scope, group),
            _ => pacer().succeeded(&self.scope, group),
        }
    }
}

impl std::ops::Deref for Ecs {
    type Target = aws_sdk_ecs::Client;

    fn deref(&self) -> &aws_sdk_ecs::Client {
        &self.client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn about(wait: Duration, seconds: f64) -> bool {
        (wait.as_secs_f64() - seconds).abs() < 0.05
    }

    #[test]
    fn calls_past_the_burst_wait_for_the_refill_and_a_throttle_halves_the_rate() {
        let pacer = Pacer::default();
        let scope: Arc<str> = "111111111111/eu-west-1".into();
        let group = EcsBucket::TaskDefinitionWrites;
        for _ in 0..19 {
            assert_eq!(
                pacer.reserve(&scope, group),
                Duration::ZERO,
                "the burst, but the reserve"
            );
        }
        assert!(about(pacer.reserve(&scope, group), 1.0));
        assert!(about(pacer.reserve(&scope, group), 2.0), "served in order");
        // Another account has its own bucket.
        assert_eq!(pacer.reserve(&"own/eu-west-1".into(), group), Duration::ZERO);

        pacer.throttled(&scope, group);
        assert_eq!(pacer.rate(&scope, group), 0.5);
        assert!(
            about(pacer.reserve(&scope, group), 6.0),
            "three tokens owed at the halved rate"
        );
        pacer.throttled(&scope, group);
        assert_eq!(pacer.rate(&scope, group), 0.5, "one cut a second");
        for _ in 0..10 {
            pacer.with_bucket(&scope, group, |b| b.cut_at = None);
            pacer.throttled(&scope, group);
        }
        assert_eq!(pacer.rate(&scope, group), 1.0 / 16.0, "the floor");
        for _ in 0..20 {
            pacer.succeeded(&scope, group);
        }
        assert_eq!(pacer.rate(&scope, group), 1.0, "back to the documented rate, no higher");

        // A background lane gets a quarter of the bucket.
        let background: Arc<str> = "111111111111/eu-west-1 (background)".into();
        pacer.set_share(&background, BACKGROUND_SHARE);
        for _ in 0..4 {
            assert_eq!(
                pacer.reserve(&background, group),
                Duration::ZERO,
                "a quarter of the burst, but the reserve"
            );
        }
        assert!(
            about(pacer.reserve(&background, group), 4.0),
            "at a quarter of the rate"
        );

        // A raised quota applies from the next call.
        pacer.configure(&[(
            group,
            Rate {
                burst: 40.0,
                per_second: 4.0,
            },
        )]);
        assert_eq!(pacer.rate(&scope, group), 4.0);
    }
}
