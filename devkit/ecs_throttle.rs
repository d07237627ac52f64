//! ECS's request throttling as AWS documents it ("Request throttling for the Amazon ECS API"):
//! a token bucket per account, Region and group of actions, refilled at the sustained rate up to
//! the burst; a request finding the bucket empty is refused with `ThrottlingException` ("Rate
//! exceeded", HTTP 400) and not carried out. The emulator throttles nothing; the fault proxy
//! plays this in front of it. Buckets are kept per signing access key (the test's accounts each
//! sign with their own keys) and Region. `speed` scales the refill and nothing else, so a large
//! fan-out can be played faster and its times read back in real bucket-seconds.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// The documented buckets this model plays: (name, actions, burst, refill per second). Actions
/// sharing a bucket share its tokens.
pub const ECS_BUCKETS: &[(&str, &[&str], f64, f64)] = &[
    (
        "task definition writes",
        &["RegisterTaskDefinition", "DeregisterTaskDefinition"],
        20.0,
        1.0,
    ),
    ("service writes", &["UpdateService", "CreateService"], 50.0, 5.0),
    ("service reads", &["DescribeServices", "ListServices"], 100.0, 20.0),
    ("task definition reads", &["DescribeTaskDefinition"], 50.0, 20.0),
    ("task definition deletes", &["DeleteTaskDefinitions"], 5.0, 1.0),
    ("tagging", &["TagResource"], 20.0, 10.0),
    ("tag reads", &["ListTagsForResource"], 50.0, 20.0),
];

/// The bucket an ECS action draws from, if this model throttles it.
pub fn bucket_of(operation: &str) -> Option<&'static (&'static str, &'static [&'static str], f64, f64)> {
    ECS_BUCKETS
        .iter()
        .find(|(_, actions, _, _)| actions.contains(&operation))
}

/// A bucket: the signing access key, the Region and the bucket's name.
type BucketKey = (String, String, &'static str);

/// The buckets of every account and Region seen, and what they refused.
#[derive(Debug)]
pub struct EcsThrottle {
    /// Refill speed factor (1: AWS's rates).
    pub speed: f64,
    buckets: Mutex<BTreeMap<BucketKey, (f64, Instant)>>,
    refused: Mutex<BTreeMap<String, usize>>,
    taken: AtomicUsize,
}

impl EcsThrottle {
    /// AWS's documented buckets, refilled `speed` times as fast.
    pub fn documented(speed: f64) -> Self {
        Self {
            speed,
            buckets: Mutex::new(BTreeMap::new()),
            refused: Mutex::new(BTreeMap::new()),
            taken: AtomicUsize::new(0),
        }
    }

    /// Takes a token for `operation` signed by `access_key` in `region`: false when the bucket
    /// is empty (the request is throttled). Actions outside the model always pass.
    pub fn take(&self, access_key: &str, region: &str, operation: &str) -> bool {
        let Some((name, _, burst, rate)) = bucket_of(operation) else {
            return true;
        };
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap();
        let (tokens, last) = buckets
            .entry((access_key.to_owned(), region.to_owned(), name))
            .or_insert((*burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate * self.speed).min(*burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            self.taken.fetch_add(1, Ordering::Relaxed);
            true
        } else {
            *self.refused.lock().unwrap().entry(operation.to_owned()).or_default() += 1;
            false
        }
    }

    /// Requests refused, per action.
    pub fn refused(&self) -> BTreeMap<String, usize> {
        self.refused.lock().unwrap().clone()
    }

    /// Requests refused in all.
    pub fn refused_total(&self) -> usize {
        self.refused.lock().unwrap().values().sum()
    }

    /// Requests let through that drew a token.
    pub fn taken(&self) -> usize {
        self.taken.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_gives_its_burst_then_its_rate_per_account_and_region() {
        let throttle = EcsThrottle::documented(1.0);
        let passed = (0..25)
            .filter(|_| throttle.take("key-a", "eu-west-1", "RegisterTaskDefinition"))
            .count();
        assert_eq!(passed, 20, "the burst");
        // Deregistrations share the bucket; another account or region has its own.
        assert!(!throttle.take("key-a", "eu-west-1", "DeregisterTaskDefinition"));
        assert!(throttle.take("key-b", "eu-west-1", "RegisterTaskDefinition"));
        assert!(throttle.take("key-a", "us-east-1", "RegisterTaskDefinition"));
        assert!(throttle.take("key-a", "eu-west-1", "DescribeClusters"), "not modelled");
        assert_eq!(throttle.refused()["RegisterTaskDefinition"], 5);
        let fast = EcsThrottle::documented(1000.0);
        (0..20).for_each(|_| assert!(fast.take("k", "r", "RegisterTaskDefinition")));
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(
            fast.take("k", "r", "RegisterTaskDefinition"),
            "refilled at 1000 a second"
        );
    }
}
