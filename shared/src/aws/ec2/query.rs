//! EC2's Query API (version 2016-11-15), spoken directly: a form-encoded POST signed with SigV4
//! (service `ec2`) as the SDK signs it, over the same HTTPS stack (rustls on ring), with the
//! SDK configuration's credentials, Region, endpoint override, app name, retries and timeouts
//! (each attempt, and the whole call with its retries).
//!
//! Why not the SDK's EC2 client: its generated crate was the longest single step of every build
//! (about 7 of the 10 minutes a new two-core machine took for `make demo`), for the two read-only
//! calls the deployer makes. Retries here are for reads: a throttled call (`RequestLimitExceeded`
//! and the other throttling codes), a 5xx or a lost connection is sent again after the SDK's
//! standard backoff (a random share of 2^attempt seconds, at most 20 s).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;

use super::xml;
use crate::aws::assume::Kept;
use crate::aws::signed_post::{self, HyperClient, SignedPost};
use crate::aws::{AwsError, MAX_ATTEMPTS};

/// The EC2 API version the calls are made in.
const API_VERSION: &str = "2016-11-15";

/// An EC2 client for one account and Region (the credentials of `SdkConfig`); its clones share
/// the connections and the credentials.
#[derive(Debug, Clone)]
pub struct Ec2Client {
    /// Made on the first call (reading the system's root certificates), not when the client is:
    /// nlb-sync makes one at each cold start and calls EC2 only in `eni` mode.
    http: Arc<OnceLock<HyperClient>>,
    connect_timeout: Option<Duration>,
    /// The configuration's credentials, kept until 5 minutes before they expire (not asked for
    /// again each call).
    credentials: Option<Arc<Kept>>,
    region: String,
    endpoint: String,
    user_agent: String,
    attempts: u32,
    attempt_timeout: Duration,
    /// The whole call, every retry and backoff included (none: unbounded).
    operation_timeout: Option<Duration>,
}

impl Ec2Client {
    /// The client `config` describes.
    pub fn new(config: &SdkConfig) -> Self {
        let region = config.region().map(ToString::to_string).unwrap_or_default();
        let endpoint = match config.endpoint_url() {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => default_endpoint(&region),
        };
        let app = config.app_name().map(|a| format!(" app/{a}")).unwrap_or_default();
        let timeouts = config.timeout_config();
        Ec2Client {
            http: Arc::new(OnceLock::new()),
            connect_timeout: timeouts.and_then(|t| t.connect_timeout()),
            credentials: config.credentials_provider().map(|p| Arc::new(Kept::new(p))),
            region,
            endpoint,
            user_agent: format!("deployer-ec2-query/{}{app}", env!("CARGO_PKG_VERSION")),
            attempts: config.retry_config().map_or(MAX_ATTEMPTS, |r| r.max_attempts()).max(1),
            attempt_timeout: timeouts
                .and_then(|t| t.operation_attempt_timeout())
                .unwrap_or(Duration::from_secs(10)),
            operation_timeout: timeouts.and_then(|t| t.operation_timeout()),
        }
    }

    /// The Region the client calls.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// One call of `action` with `params` (besides `Action` and `Version`): the answer's body,
    /// or the failure naming `resource`.
    pub async fn call(
        &self,
        action: &'static str,
        params: &[(String, String)],
        resource: &str,
    ) -> Result<String, AwsError> {
        let fail = |code: Option<String>, message: String, transient: bool| AwsError {
            service: "EC2",
            operation: action,
            resource: resource.to_owned(),
            code,
            message,
            transient,
        };
        let body = form_body(action, params);
        let deadline = self.operation_timeout.map(|bound| Instant::now() + bound);
        let left = || deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let mut attempt = 1;
        loop {
            let credentials = self.credentials().await.map_err(|message| fail(None, message, false))?;
            let bound = left().map_or(self.attempt_timeout, |left| left.min(self.attempt_timeout));
            let outcome = tokio::time::timeout(bound, self.send(&body, &credentials)).await;
            let error = match outcome {
                Ok(Ok((200, answer))) => return Ok(answer),
                Ok(Ok((status, answer))) => {
                    let (code, message) = xml::error_of(&answer);
                    fail(code, message.unwrap_or_else(|| format!("HTTP {status}")), status >= 500)
                }
                Ok(Err(err)) => fail(None, err, true),
                Err(_) => fail(None, format!("no answer within {bound:?}"), true),
            };
            let pause = backoff(attempt);
            let out_of_time = left().is_some_and(|left| left <= pause);
            if attempt >= self.attempts || !error.is_transient() || out_of_time {
                return Err(error);
            }
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }

    async fn send(&self, body: &str, credentials: &Credentials) -> Result<(u16, String), String> {
        let url = format!("{}/", self.endpoint);
        let post = SignedPost {
            service: "ec2",
            region: &self.region,
            url: &url,
            content_type: "application/x-www-form-urlencoded; charset=utf-8",
            body,
            user_agent: Some(&self.user_agent),
        };
        let (status, answer) = signed_post::post(self.http(), post, credentials).await?;
        Ok((status, String::from_utf8_lossy(&answer).into_owned()))
    }

    fn http(&self) -> &HyperClient {
        self.http
            .get_or_init(|| signed_post::hyper_client(self.connect_timeout))
    }

    /// The credentials to sign with.
    async fn credentials(&self) -> Result<Credentials, String> {
        let provider = self.credentials.as_ref().ok_or("no AWS credentials")?;
        provider
            .provide_credentials()
            .await
            .map_err(|e| format!("no AWS credentials: {}", aws_sdk_ecs::error::DisplayErrorContext(e)))
    }
}

/// EC2's endpoint in `region` (`.amazonaws.com.cn` in the China Regions).
fn default_endpoint(region: &str) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://ec2.{region}.{suffix}")
}

/// `Action=...&Version=...&k=v...`, each value percent-encoded (RFC 3986: all but unreserved).
fn form_body(action: &str, params: &[(String, String)]) -> String {
    let mut body = format!("Action={action}&Version={API_VERSION}");
    for (key, value) in params {
        body.push('&');
        body.push_str(&encode(key));
        body.push('=');
        body.push_str(&encode(value));
    }
    body
}

fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The SDK's standard backoff before attempt `attempt + 1`: a random share of 2^(attempt - 1)
/// seconds, at most 20 s.
fn backoff(attempt: u32) -> Duration {
    let mut random = [0u8; 2];
    let share = match getrandom::getrandom(&mut random) {
        Ok(()) => f64::from(u16::from_le_bytes(random)) / f64::from(u16::MAX),
        Err(_) => 0.5,
    };
    let ceiling = 2f64.powi(attempt.saturating_sub(1) as i32).min(20.0);
    Duration::from_secs_f64(share * ceiling)
}

/// `Name.1=a&Name.2=b`: a list parameter.
pub(super) fn list_params(name: &str, values: &[String]) -> Vec<(String, String)> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("{name}.{}", i + 1), v.clone()))
        .collect()
}

/// `Filter.N.Name` and `Filter.N.Value.1`: one filter of one value each.
pub(super) fn filter_params(filters: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut params = Vec::new();
    for (i, (name, value)) in filters.iter().enumerate() {
        params.push((format!("Filter.{}.Name", i + 1), (*name).to_owned()));
        params.push((format!("Filter.{}.Value.1", i + 1), (*value).to_owned()));
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_body_encodes_every_value() {
        let params = filter_params(&[("description", "ELB app/internal-api/50dc6c49"), ("vpc-id", "vpc-1")]);
        assert_eq!(
            form_body("DescribeNetworkInterfaces", &params),
            "Action=DescribeNetworkInterfaces&Version=2016-11-15&Filter.1.Name=description&Filter.1.Value.1=ELB%20app%2Finternal-api%2F50dc6c49&Filter.2.Name=vpc-id&Filter.2.Value.1=vpc-1"
        );
        assert_eq!(
            list_params("SubnetId", &["subnet-a".into(), "subnet-b".into()]),
            vec![
                ("SubnetId.1".into(), "subnet-a".into()),
                ("SubnetId.2".into(), "subnet-b".into())
            ]
        );
    }

    #[test]
    fn endpoints_and_backoff_follow_the_sdk() {
        assert_eq!(
            default_endpoint("ap-northeast-1"),
            "https://ec2.ap-northeast-1.amazonaws.com"
        );
        assert_eq!(
            default_endpoint("cn-north-1"),
            "https://ec2.cn-north-1.amazonaws.com.cn"
        );
        for attempt in 1..10 {
            assert!(backoff(attempt) <= Duration::from_secs(20), "{attempt}");
        }
        assert!(backoff(1) <= Duration::from_secs(1));
    }
}
