//! Leases that keep two deploys of one service from overlapping: one small S3 object per
//! service, taken and given back with conditional writes (`If-None-Match: *` to create,
//! `If-Match: <etag>` to take over an expired or released lease). Reserved concurrency alone
//! does not do this: manual invokes, retries and a second stack still overlap.
//!
//! It lives below the jobs, not in `image_push/`: any job that writes to a service may need it
//! (service-sync's overlapping runs are the next), and jobs never use each other.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::aws::arn::short_name;
use crate::aws::s3::{put_if, read_object};
use crate::aws::AwsError;
use crate::input::config::AppConfig;
use crate::input::env::state_bucket_from_env;

/// Where leases live and how long they last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseConfig {
    /// Bucket of the lease objects.
    pub bucket: String,
    /// Key prefix (`leases/`).
    pub prefix: String,
    /// How long a lease holds without being given back (a crashed holder's lease expires).
    pub ttl: Duration,
    /// How long to wait for another deploy's lease before giving up.
    pub wait: Duration,
}

impl LeaseConfig {
    /// Leases in `bucket` under `leases/`, held at most 150 s, waited for at most 60 s. 150 s
    /// outlasts an image-push or deploy-worker invocation (120 s) and the clocks' skew, so a
    /// lease never expires under a live invocation, and the fence read before the writes
    /// ([`outlives`]) is not needed.
    pub fn in_bucket(bucket: &str) -> Self {
        Self {
            bucket: bucket.to_owned(),
            prefix: "leases/".into(),
            ttl: Duration::from_secs(150),
            wait: Duration::from_secs(60),
        }
    }

    /// In the state bucket `DEPLOYER_STATE_BUCKET` names; `None` when unset.
    pub fn from_env() -> Option<Self> {
        state_bucket_from_env().map(|bucket| Self::in_bucket(&bucket))
    }

    /// The object key of one service's lease. Cluster and service may be given by name or by
    /// ARN: both give the same key, so a service named both ways in two places is one lease.
    pub fn key(&self, cluster: &str, service: &str) -> String {
        format!("{}{}/{}.json", self.prefix, short_name(cluster), short_name(service))
    }

    /// The key of the lease of `app`'s service: [`LeaseConfig::key`], under the account and
    /// region the application names when it lives elsewhere (two services of one name in two
    /// accounts are two leases).
    pub fn key_of(&self, app: &AppConfig) -> String {
        let key = self.key(&app.cluster, &app.lease_subject());
        match (app.account(), app.region.as_deref()) {
            (None, None) => key,
            (account, region) => {
                let rest = key.strip_prefix(&self.prefix).unwrap_or(&key);
                format!(
                    "{}{}/{}/{rest}",
                    self.prefix,
                    account.unwrap_or("own"),
                    region.unwrap_or("own")
                )
            }
        }
    }

    /// The same leases held at most `ttl`: a job sets it to its function's timeout or more, so
    /// that a lease never expires under an invocation that is still running.
    pub fn with_ttl(&self, ttl: Duration) -> Self {
        Self { ttl, ..self.clone() }
    }
}

/// The lease document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseDocument {
    /// Who holds it (one invocation).
    pub owner: String,
    /// What for (shown to whoever waits).
    pub purpose: String,
    /// Seconds since the epoch after which anyone may take it; 0 once given back.
    pub expires_at: u64,
    /// When it was given back (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_at: Option<u64>,
}

/// A lease held by this invocation.
#[derive(Debug, Clone)]
pub struct Lease {
    /// Its object key.
    pub key: String,
    owner: String,
    etag: String,
    /// Seconds since the epoch when it expires.
    pub expires_at: u64,
    /// True when another owner held it when this one came, or gave it back after this
    /// invocation read the service (see [`acquire_seen`]): that owner may have changed the
    /// service since, so the service is read again.
    pub contended: bool,
}

/// Clocks of two invocations may differ by this much (seconds) when a release time is compared
/// with a read time.
const CLOCK_SKEW_SECONDS: u64 = 2;

/// A lease object as read: the document and its ETag (none: no object).
pub type Seen = Option<(LeaseDocument, String)>;

/// Reads the lease at `key` without taking it, so that [`acquire_seen`] can start from it:
/// read beside the first reads of a deploy, it costs no round trip of its own.
pub async fn peek(s3: &aws_sdk_s3::Client, config: &LeaseConfig, key: &str) -> Result<Seen, AwsError> {
    read(s3, &config.bucket, key).await
}

/// Why a lease was not taken.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LeaseError {
    /// Another deploy held it for the whole wait.
    #[error("another deploy ({purpose}, {owner}) holds the lease s3://{bucket}/{key} for {remaining_seconds} s more; nothing was changed, a retry continues")]
    Busy {
        /// Bucket of the lease.
        bucket: String,
        /// Its key.
        key: String,
        /// The holder.
        owner: String,
        /// The holder's purpose.
        purpose: String,
        /// Seconds until it expires.
        remaining_seconds: u64,
    },
    /// The lease expired and another run took it (or it is gone) before this one wrote.
    #[error("the lease {key} expired and is now held by {holder}; nothing more was written, a retry continues")]
    Lost {
        /// Its key.
        key: String,
        /// Who holds it now.
        holder: String,
    },
    /// S3 failed.
    #[error("{0}")]
    Aws(AwsError),
}

/// A fresh owner id for one invocation.
pub fn new_owner() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(now_nanos());
    format!("{}-{:016x}", std::process::id(), hasher.finish())
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Seconds since the epoch, now (for [`acquire_seen`]'s `since`).
pub fn now_seconds() -> u64 {
    (now_nanos() / 1_000_000_000) as u64
}

/// Takes the lease at `key`, waiting (with backoff) while another owner holds an unexpired one.
pub async fn acquire(
    s3: &aws_sdk_s3::Client,
    config: &LeaseConfig,
    key: &str,
    owner: &str,
    purpose: &str,
) -> Result<Lease, LeaseError> {
    acquire_seen(s3, config, key, owner, purpose, None, None).await
}

/// As [`acquire`], starting from the lease as [`peek`] saw it (`seen`; none: read it first).
/// The lease is `contended` when another owner held it at or after `since` (seconds since the
/// epoch: when the caller read what it plans from; none: whenever another owner had it).
pub async fn acquire_seen(
    s3: &aws_sdk_s3::Client,
    config: &LeaseConfig,
    key: &str,
    owner: &str,
    purpose: &str,
    mut seen: Option<Seen>,
    since: Option<u64>,
) -> Result<Lease, LeaseError> {
    let deadline = tokio::time::Instant::now() + config.wait;
    let mut pause = Duration::from_millis(100);
    let mut contended = false;
    loop {
        let document = LeaseDocument {
            owner: owner.to_owned(),
            purpose: purpose.to_owned(),
            expires_at: now_seconds() + config.ttl.as_secs(),
            released_at: None,
        };
        let held = match seen.take() {
            Some(seen) => seen,
            None => read(s3, &config.bucket, key).await.map_err(LeaseError::Aws)?,
        };
        if let Some((current, _)) = &held {
            // The last moment another owner held it: when it gave it back, or when it expired.
            let last_held = current.released_at.unwrap_or(current.expires_at);
            contended |= current.owner != owner && since.is_none_or(|since| last_held + CLOCK_SKEW_SECONDS >= since);
        }
        let condition = match &held {
            None => None,
            // Ours already: an earlier attempt's write landed but its answer was lost. (A lease
            // of ours that was given back or expired is taken again below, with a write: Lambda's
            // retry of an invocation keeps its request id, so the owner may be the same.)
            Some((current, etag)) if current.owner == owner && current.expires_at > now_seconds() => {
                return Ok(Lease {
                    key: key.to_owned(),
                    owner: owner.to_owned(),
                    etag: etag.clone(),
                    expires_at: current.expires_at,
                    contended,
                })
            }
            Some((current, etag)) if current.expires_at <= now_seconds() => Some(etag.as_str()),
            Some((current, _)) => {
                if tokio::time::Instant::now() + pause > deadline {
                    return Err(LeaseError::Busy {
                        bucket: config.bucket.clone(),
                        key: key.to_owned(),
                        owner: current.owner.clone(),
                        purpose: current.purpose.clone(),
                        remaining_seconds: current.expires_at.saturating_sub(now_seconds()),
                    });
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        match put(s3, &config.bucket, key, &document, condition)
            .await
            .map_err(LeaseError::Aws)?
        {
            Some(etag) => {
                return Ok(Lease {
                    key: key.to_owned(),
                    owner: owner.to_owned(),
                    etag,
                    expires_at: document.expires_at,
                    contended,
                })
            }
            // Someone else wrote between our read and our write (or our own write landed and its
            // answer was lost): read again.
            None => continue,
        }
    }
}

/// True when `lease` cannot expire within `remaining` (the invocation's time left): then no
/// other run can take it over while this one lives, and the fence of [`confirm`] would only
/// cost a round trip.
pub fn outlives(lease: &Lease, remaining: Duration) -> bool {
    lease.expires_at > now_seconds() + remaining.as_secs() + CLOCK_SKEW_SECONDS
}

/// Checks, just before a write, that `lease` is still this invocation's: not taken over by
/// another run after it expired. This is the fence: a holder that lost its lease stops here
/// instead of writing over the new holder's work.
pub async fn confirm(s3: &aws_sdk_s3::Client, config: &LeaseConfig, lease: &Lease) -> Result<(), LeaseError> {
    let held = read(s3, &config.bucket, &lease.key).await.map_err(LeaseError::Aws)?;
    match held {
        Some((current, etag))
            if etag == lease.etag && current.owner == lease.owner && current.expires_at > now_seconds() =>
        {
            Ok(())
        }
        Some((current, _)) => Err(LeaseError::Lost {
            key: lease.key.clone(),
            holder: current.owner,
        }),
        None => Err(LeaseError::Lost {
            key: lease.key.clone(),
            holder: "nobody".into(),
        }),
    }
}

/// Runs `work` holding `app`'s lease when leases are kept (`config`; none: without one) and
/// gives it back after; a lease that cannot be taken is the error, and `work` does not run. A
/// lease not given back expires by itself.
pub async fn holding<T>(
    s3: &aws_sdk_s3::Client,
    config: Option<&LeaseConfig>,
    app: &AppConfig,
    owner: &str,
    purpose: &str,
    work: impl std::future::Future<Output = T>,
) -> Result<T, LeaseError> {
    let held = match config {
        None => None,
        Some(config) => Some((config, acquire(s3, config, &config.key_of(app), owner, purpose).await?)),
    };
    let done = work.await;
    if let Some((config, lease)) = held {
        if let Err(err) = release(s3, config, &lease).await {
            tracing::warn!(app = %app.name, error = %err, "lease not given back; it expires by itself");
        }
    }
    Ok(done)
}

/// Gives the lease back (marks it expired), unless someone took it over after it expired.
pub async fn release(s3: &aws_sdk_s3::Client, config: &LeaseConfig, lease: &Lease) -> Result<(), AwsError> {
    let released = LeaseDocument {
        owner: lease.owner.clone(),
        purpose: "released".into(),
        expires_at: 0,
        released_at: Some(now_seconds()),
    };
    if put(s3, &config.bucket, &lease.key, &released, Some(&lease.etag))
        .await?
        .is_none()
    {
        // Either a retry of our own release that had landed, or a newer holder: both are fine,
        // but never overwrite a lease that is not ours.
        if let Some((current, etag)) = read(s3, &config.bucket, &lease.key).await? {
            if current.owner == lease.owner && current.expires_at != 0 {
                put(s3, &config.bucket, &lease.key, &released, Some(&etag)).await?;
            }
        }
    }
    Ok(())
}

async fn read(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Option<(LeaseDocument, String)>, AwsError> {
    let Some((bytes, etag)) = read_object(s3, bucket, key).await? else {
        return Ok(None);
    };
    // An unreadable lease object is treated as expired: it is taken over with its ETag.
    let document = serde_json::from_slice(&bytes).unwrap_or(LeaseDocument {
        owner: String::new(),
        purpose: "unreadable".into(),
        expires_at: 0,
        released_at: None,
    });
    Ok(Some((document, etag)))
}

/// Conditional write of a lease document; `Ok(None)` when someone else wrote first.
async fn put(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    document: &LeaseDocument,
    etag: Option<&str>,
) -> Result<Option<String>, AwsError> {
    put_if(
        s3,
        bucket,
        key,
        serde_json::to_vec(document).expect("lease serializes"),
        etag,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_key_per_service_and_owners_differ() {
        let config = LeaseConfig::in_bucket("state");
        assert_eq!(config.key("sss", "orders"), "leases/sss/orders.json");
        assert_ne!(config.key("sss", "orders"), config.key("other", "orders"));
        assert_eq!(
            config.key(
                "arn:aws:ecs:ap-northeast-1:123456789012:cluster/sss",
                "arn:aws:ecs:ap-northeast-1:123456789012:service/sss/orders"
            ),
            "leases/sss/orders.json"
        );
        assert!(config.ttl > Duration::from_secs(60) && config.wait < config.ttl);
        assert_ne!(new_owner(), new_owner());
    }

    #[test]
    fn services_of_other_accounts_and_regions_have_their_own_leases() {
        let config = LeaseConfig::in_bucket("state");
        let mut app = crate::testing::app();
        assert_eq!(config.key_of(&app), "leases/sss/orders.json");
        app.role_arn = Some("arn:aws:iam::222222222222:role/deployer".into());
        assert_eq!(config.key_of(&app), "leases/222222222222/own/sss/orders.json");
        app.region = Some("eu-west-1".into());
        assert_eq!(config.key_of(&app), "leases/222222222222/eu-west-1/sss/orders.json");
    }

    #[test]
    fn a_busy_lease_says_who_holds_it_and_what_to_expect() {
        let err = LeaseError::Busy {
            bucket: "state".into(),
            key: "leases/sss/orders.json".into(),
            owner: "42-abc".into(),
            purpose: "orders rollback".into(),
            remaining_seconds: 90,
        };
        let text = err.to_string();
        for part in [
            "42-abc",
            "orders rollback",
            "s3://state/leases/sss/orders.json",
            "90 s",
            "a retry continues",
        ] {
            assert!(text.contains(part), "{text}");
        }
    }
}
