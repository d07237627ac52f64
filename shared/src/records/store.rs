//! Reading and changing deploy records in S3, with conditional writes.

use super::{Change, DeployIndex};
use crate::aws::s3::{put_if, put_json, read_object};
use crate::aws::AwsError;
use crate::input::env::state_bucket_from_env;

/// The error code of an index object that is not a deploy index.
pub const INVALID_INDEX: &str = "InvalidDeployIndex";

/// Conditional writes tried before giving up when other runs keep changing the index.
const WRITE_ATTEMPTS: usize = 8;

/// An index as read, with the ETag a conditional write needs (none: no index yet).
#[derive(Debug, Clone)]
pub struct VersionedIndex {
    /// The index.
    pub index: DeployIndex,
    etag: Option<String>,
}

/// Where deploy records live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordStore {
    /// The state bucket.
    pub bucket: String,
    /// Key prefix (`deploys/`).
    pub prefix: String,
}

impl RecordStore {
    /// Records in `bucket` under `deploys/`.
    pub fn in_bucket(bucket: &str) -> Self {
        Self {
            bucket: bucket.to_owned(),
            prefix: "deploys/".into(),
        }
    }

    /// From `DEPLOYER_STATE_BUCKET`; none when it is unset.
    pub fn from_env() -> Option<Self> {
        state_bucket_from_env().map(|bucket| Self::in_bucket(&bucket))
    }

    /// The key of an application's index.
    pub fn index_key(&self, app: &str) -> String {
        format!("{}{app}/index.json", self.prefix)
    }

    /// The key of one deploy's record.
    pub fn record_key(&self, app: &str, id: &str) -> String {
        format!("{}{app}/{id}.json", self.prefix)
    }

    /// An application's index (empty when it has none yet).
    pub async fn read(&self, s3: &aws_sdk_s3::Client, app: &str) -> Result<DeployIndex, AwsError> {
        Ok(self.read_versioned(s3, app).await?.index)
    }

    /// An application's index with the version it was read at, to change it later with
    /// [`RecordStore::update_from`] without reading it again.
    pub async fn read_versioned(&self, s3: &aws_sdk_s3::Client, app: &str) -> Result<VersionedIndex, AwsError> {
        let key = self.index_key(app);
        let (index, etag) = match read_object(s3, &self.bucket, &key).await? {
            None => (DeployIndex::default(), None),
            Some((bytes, etag)) => {
                let index = serde_json::from_slice(&bytes).map_err(|e| AwsError {
                    service: "S3",
                    transient: false,
                    operation: "GetObject",
                    resource: format!("s3://{}/{key}", self.bucket),
                    code: Some(INVALID_INDEX.into()),
                    message: format!("not a deploy index: {e}"),
                })?;
                (index, Some(etag))
            }
        };
        Ok(VersionedIndex { index, etag })
    }

    /// Changes an application's index with `change` and stores it only if nobody else wrote it
    /// meanwhile (otherwise reads it again and repeats), then writes each changed record's own
    /// object. Returns what changed; nothing is written when nothing changed.
    pub async fn update(
        &self,
        s3: &aws_sdk_s3::Client,
        app: &str,
        change: impl Fn(&mut DeployIndex) -> Vec<Change>,
    ) -> Result<Vec<Change>, AwsError> {
        self.update_from(s3, app, None, change).await
    }

    /// As [`RecordStore::update`], starting from an index already read (`read`): one read
    /// fewer when nobody wrote it since.
    pub async fn update_from(
        &self,
        s3: &aws_sdk_s3::Client,
        app: &str,
        mut read: Option<VersionedIndex>,
        change: impl Fn(&mut DeployIndex) -> Vec<Change>,
    ) -> Result<Vec<Change>, AwsError> {
        let key = self.index_key(app);
        for _ in 0..WRITE_ATTEMPTS {
            let VersionedIndex { mut index, etag } = match read.take() {
                Some(read) => read,
                None => self.read_versioned(s3, app).await?,
            };
            let changes = index.apply(&change);
            if changes.is_empty() {
                return Ok(changes);
            }
            // The index (conditional) and the records' own objects at once: a record object is a
            // copy of its index entry, written again whenever the index write must be retried.
            let body = serde_json::to_vec_pretty(&index).expect("indexes serialize");
            let records = futures::future::try_join_all(changes.iter().map(|changed| {
                let record_key = self.record_key(app, &changed.record.id);
                let body = serde_json::to_vec_pretty(&changed.record).expect("records serialize");
                async move { put_json(s3, &self.bucket, &record_key, body).await }
            }));
            let (written, records) = tokio::join!(put_if(s3, &self.bucket, &key, body, etag.as_deref()), records);
            if written?.is_none() {
                continue;
            }
            records?;
            return Ok(changes);
        }
        Err(AwsError {
            service: "S3",
            transient: false,
            operation: "PutObject",
            resource: format!("s3://{}/{key}", self.bucket),
            code: Some("PreconditionFailed".into()),
            message: format!("other runs changed the index {WRITE_ATTEMPTS} times in a row; a retry continues"),
        })
    }
}
