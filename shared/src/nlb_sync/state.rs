//! nlb-sync's memory: one S3 object per target group and ALB, written with a conditional write.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::aws::s3::{put_if, read_object};
use crate::aws::AwsError;

/// Version of the state document's shape.
pub const STATE_VERSION: u32 = 1;

/// What nlb-sync remembers of one target group fed by one ALB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroupState {
    /// Shape version.
    pub version: u32,
    /// Target group ARN.
    pub target_group_arn: String,
    /// ALB DNS name.
    pub alb_dns_name: String,
    /// Target port.
    pub port: i32,
    /// Target group type (`ip`, `alb`, ...), remembered to save a call per run.
    #[serde(default)]
    pub target_type: Option<String>,
    /// Addresses nlb-sync registered, with the consecutive runs each has been missing from DNS.
    #[serde(default)]
    pub registered: BTreeMap<String, u32>,
    /// Addresses nlb-sync deregistered (never deregistered again).
    #[serde(default)]
    pub deregistered: BTreeSet<String>,
}

impl TargetGroupState {
    /// An empty state for a target group.
    pub fn new(target_group_arn: &str, alb_dns_name: &str, port: i32) -> Self {
        Self {
            version: STATE_VERSION,
            target_group_arn: target_group_arn.into(),
            alb_dns_name: alb_dns_name.into(),
            port,
            target_type: None,
            registered: BTreeMap::new(),
            deregistered: BTreeSet::new(),
        }
    }
}

/// The object key of a target group's state: the prefix, the target group's name and ID, the
/// ALB name and the port, so groups of one ALB on two ports never share an object.
pub fn state_key(prefix: &str, target_group_arn: &str, alb_dns_name: &str, port: i32) -> String {
    // arn:aws:elasticloadbalancing:region:account:targetgroup/name/id
    let group = target_group_arn
        .split(":targetgroup/")
        .nth(1)
        .unwrap_or(target_group_arn)
        .replace('/', "-");
    format!(
        "{prefix}{group}/{}-{port}.json",
        alb_dns_name.trim_end_matches('.').to_ascii_lowercase()
    )
}

/// What S3 held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// No object yet.
    Missing,
    /// An object that is not a state document (the reason); it will be rebuilt.
    Corrupt(String, String),
    /// A state document and its ETag.
    Found(TargetGroupState, String),
}

impl Stored {
    /// The ETag a conditional write must match (none: the object must not exist).
    pub fn etag(&self) -> Option<&str> {
        match self {
            Stored::Missing => None,
            Stored::Corrupt(_, etag) | Stored::Found(_, etag) => Some(etag),
        }
    }
}

/// Reads a state object.
pub async fn read(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Stored, AwsError> {
    let Some((bytes, etag)) = read_object(s3, bucket, key).await? else {
        return Ok(Stored::Missing);
    };
    Ok(match serde_json::from_slice::<TargetGroupState>(&bytes) {
        Ok(state) if state.version == STATE_VERSION => Stored::Found(state, etag),
        Ok(state) => Stored::Corrupt(format!("unknown state version {}", state.version), etag),
        Err(err) => Stored::Corrupt(format!("not a state document: {err}"), etag),
    })
}

/// How a conditional write ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Stored.
    Written,
    /// Another run changed the object since it was read: nothing was stored.
    Conflict,
}

/// Writes a state object only if it is still the one read (`etag`), or still absent.
pub async fn write(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    state: &TargetGroupState,
    etag: Option<&str>,
) -> Result<WriteOutcome, AwsError> {
    let body = serde_json::to_vec_pretty(state).expect("state serializes");
    Ok(match put_if(s3, bucket, key, body, etag).await? {
        Some(_) => WriteOutcome::Written,
        None => WriteOutcome::Conflict,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_per_port_and_name_the_group() {
        let arn = "arn:aws:elasticloadbalancing:ap-northeast-1:1:targetgroup/nlb-443/abc123";
        let alb = "internal-api-1.ap-northeast-1.elb.amazonaws.com";
        let https = state_key("nlb-sync/", arn, alb, 443);
        assert_eq!(
            https,
            "nlb-sync/nlb-443-abc123/internal-api-1.ap-northeast-1.elb.amazonaws.com-443.json"
        );
        assert_ne!(https, state_key("nlb-sync/", arn, alb, 80));
    }
}
