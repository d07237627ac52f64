//! The record of what the deployer created in one HTTP API, by id: routes and integrations
//! cannot carry tags, so this is how a route the deployer made (and someone re-pointed by hand)
//! is told from a route it never made (Terraform's, say). One JSON object per API in the state
//! bucket, changed with conditional writes so that overlapping runs never lose an entry.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::aws::s3::{put_if, read_object};
use crate::aws::AwsError;
use crate::input::config::ServicePlace;
use crate::input::env::state_bucket_from_env;

/// Conditional writes tried before giving up (other runs keep writing the same record).
const WRITE_ATTEMPTS: u32 = 10;

/// A pause of 20-60 ms times the attempt, different for each caller (full jitter).
fn backoff(attempt: u32) -> std::time::Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(attempt);
    let jitter = hasher.finish() % 40;
    std::time::Duration::from_millis((20 + jitter) * u64::from(attempt))
}

/// Who a recorded resource belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// The application it was made for.
    pub app: String,
    /// The route key (`GET /orders`), for routes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// What the deployer created in one API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiRecord {
    /// How the API is reached (the role and region of the applications routed on it): the
    /// function's own account and region when empty. The orphan check reaches it this way after
    /// those applications are gone from the configuration.
    #[serde(default, skip_serializing_if = "ServicePlace::is_own")]
    pub place: ServicePlace,
    /// Route id -> owner.
    #[serde(default)]
    pub routes: BTreeMap<String, Owner>,
    /// Integration id -> owner.
    #[serde(default)]
    pub integrations: BTreeMap<String, Owner>,
}

impl ApiRecord {
    /// The application that created route `id`, if the deployer did.
    pub fn route_owner(&self, id: &str) -> Option<&str> {
        self.routes.get(id).map(|o| o.app.as_str())
    }

    /// The application that created integration `id`, if the deployer did.
    pub fn integration_owner(&self, id: &str) -> Option<&str> {
        self.integrations.get(id).map(|o| o.app.as_str())
    }
}

/// A record with the version (ETag) it was read at; none when it does not exist yet.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VersionedApiRecord {
    /// The record.
    pub record: ApiRecord,
    /// Its ETag.
    pub etag: Option<String>,
}

/// Where the API records live: `owned/apis/<api id>.json` in the state bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRecordStore {
    /// The state bucket.
    pub bucket: String,
    /// Key prefix (`owned/apis/`).
    pub prefix: String,
}

impl ApiRecordStore {
    /// Records in `bucket` under `owned/apis/`.
    pub fn in_bucket(bucket: &str) -> Self {
        Self {
            bucket: bucket.to_owned(),
            prefix: "owned/apis/".into(),
        }
    }

    /// In the state bucket `DEPLOYER_STATE_BUCKET` names; `None` when unset.
    pub fn from_env() -> Option<Self> {
        state_bucket_from_env().map(|bucket| Self::in_bucket(&bucket))
    }

    /// The object key of one API's record.
    pub fn key(&self, api_id: &str) -> String {
        format!("{}{api_id}.json", self.prefix)
    }

    /// The APIs that have a record.
    pub async fn apis(&self, s3: &aws_sdk_s3::Client) -> Result<Vec<String>, AwsError> {
        let keys = crate::aws::s3::list_keys(s3, &self.bucket, &self.prefix).await?;
        Ok(keys
            .iter()
            .filter_map(|key| key.strip_prefix(&self.prefix)?.strip_suffix(".json"))
            .map(str::to_owned)
            .collect())
    }

    /// One API's record (empty when there is none yet) with its version.
    pub async fn read(&self, s3: &aws_sdk_s3::Client, api_id: &str) -> Result<VersionedApiRecord, AwsError> {
        let key = self.key(api_id);
        let Some((bytes, etag)) = read_object(s3, &self.bucket, &key).await? else {
            return Ok(VersionedApiRecord::default());
        };
        let record = serde_json::from_slice(&bytes).map_err(|e| AwsError {
            service: "S3",
            transient: false,
            operation: "GetObject",
            resource: format!("s3://{}/{key}", self.bucket),
            code: None,
            message: format!("not a record of owned API resources: {e}"),
        })?;
        Ok(VersionedApiRecord {
            record,
            etag: Some(etag),
        })
    }

    /// Changes one API's record with `change` (false: nothing to change, nothing written) and
    /// stores it only if nobody wrote it meanwhile; otherwise reads it again and repeats.
    pub async fn update(
        &self,
        s3: &aws_sdk_s3::Client,
        api_id: &str,
        change: impl Fn(&mut ApiRecord) -> bool,
    ) -> Result<(), AwsError> {
        let key = self.key(api_id);
        for attempt in 0..WRITE_ATTEMPTS {
            if attempt > 0 {
                // Others wrote first: wait a little, a different while for each writer, so that
                // several applications of one API finishing together do not collide again.
                tokio::time::sleep(backoff(attempt)).await;
            }
            let VersionedApiRecord { mut record, etag } = self.read(s3, api_id).await?;
            if !change(&mut record) {
                return Ok(());
            }
            let body = serde_json::to_vec_pretty(&record).expect("records serialize");
            if put_if(s3, &self.bucket, &key, body, etag.as_deref()).await?.is_some() {
                return Ok(());
            }
        }
        Err(AwsError {
            service: "S3",
            transient: false,
            operation: "PutObject",
            resource: format!("s3://{}/{key}", self.bucket),
            code: Some("PreconditionFailed".into()),
            message: format!("other runs changed the record {WRITE_ATTEMPTS} times in a row; a retry continues"),
        })
    }
}
