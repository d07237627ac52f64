//! Adapters, one file per AWS service (and DNS), over the SDK (EC2 over its Query API, see
//! [`ec2`]): each turns SDK types into the few fields the deployer needs and every failure into
//! an [`AwsError`] naming the service, the operation and the resource. Nothing here knows of
//! jobs or configuration.
//!
//! This file holds what every adapter shares: the SDK configuration, retries and the
//! at-most-once rule for calls that create something.

pub mod apigw;
pub mod arn;
pub mod assume;
pub mod cloudmap;
pub mod dns;
pub mod ec2;
pub mod ecr;
pub mod ecs;
pub mod elb;
mod error;
pub mod events;
pub mod pace;
pub mod revision;
pub mod s3;
pub mod schedules;
pub mod signed_post;
pub mod sqs;

pub use error::AwsError;

use std::future::Future;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{AppName, BehaviorVersion, SdkConfig};
use aws_sdk_ecs::config::SharedHttpClient;
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls;

/// Attempts per AWS call (first try included), with the SDK's exponential backoff and jitter.
pub const MAX_ATTEMPTS: u32 = 5;

/// How long each AWS call may take, so that a call that hangs fails clearly, and is retried,
/// instead of using up the invocation until Lambda kills it silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Opening a connection (the endpoint is down or unreachable).
    pub connect: Duration,
    /// One attempt, from sending to the whole answer.
    pub attempt: Duration,
    /// The whole call, every retry and backoff included.
    pub operation: Duration,
}

impl Timeouts {
    /// The functions' timeouts: 3 s to connect, 10 s an attempt, 30 s a call. AWS's control-plane
    /// calls answer in well under a second, the slowest the deployer makes (RegisterTaskDefinition,
    /// UpdateService) in a few; 30 s a call keeps one stuck call inside the shortest function
    /// timeout of the template (nlb-sync, 45 s) with time left to report it.
    pub const FUNCTIONS: Timeouts = Timeouts {
        connect: Duration::from_secs(3),
        attempt: Duration::from_secs(10),
        operation: Duration::from_secs(30),
    };

    /// The SDK's timeout configuration for these bounds.
    pub fn config(self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }
}

/// The SDK configuration of a function, from the environment: the SDK's usual credential chain,
/// region and `AWS_ENDPOINT_URL` override, with standard retries. Every request names `function`
/// in its user agent (`app/<function>`), so CloudTrail tells which of the deployer's functions
/// made it. Calls are bounded by [`Timeouts::FUNCTIONS`]. Each function builds from it only the
/// clients it uses.
pub async fn sdk_config(function: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(Timeouts::FUNCTIONS.config())
        .app_name(app_name(function))
        .load()
        .await
}

/// The HTTPS client every SDK client uses: hyper with rustls on the ring crypto provider and the
/// system's root certificates (the SDK's default client, but without building aws-lc).
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https()
}

/// Clients made on first use for a key (a role, a region) and kept for the function's life: an
/// assumed role's credentials are then cached and refreshed by its provider, not asked for per
/// call.
#[derive(Debug)]
pub struct ClientCache<K, C>(std::sync::Mutex<std::collections::BTreeMap<K, C>>);

impl<K, C> Default for ClientCache<K, C> {
    fn default() -> Self {
        Self(std::sync::Mutex::new(std::collections::BTreeMap::new()))
    }
}

impl<K: Ord, C: Clone> ClientCache<K, C> {
    /// The clients kept for `key`, made by `make` the first time.
    pub async fn get_or_make<F: std::future::Future<Output = C>>(&self, key: K, make: impl FnOnce() -> F) -> C {
        if let Some(found) = self.0.lock().expect("lock").get(&key) {
            return found.clone();
        }
        let made = make().await;
        self.0.lock().expect("lock").entry(key).or_insert(made).clone()
    }

    /// How many keys have clients.
    pub fn len(&self) -> usize {
        self.0.lock().expect("lock").len()
    }

    /// True when no clients were made yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `base` acting through `role` (assumed with `external_id`, session `session`, at most 64
/// characters kept) and in `region`, where given; with `source_identity`, the role's sessions
/// carry it (see [`assume`]). The credentials are cached and refreshed before they expire: keep
/// the configuration (or clients made from it) for the function's life, not per call.
pub async fn reach_config(
    base: &SdkConfig,
    role: Option<&str>,
    external_id: Option<&str>,
    region: Option<&str>,
    session: &str,
    source_identity: Option<&str>,
) -> SdkConfig {
    let mut config = base.to_builder();
    if let Some(region) = region {
        config = config.region(aws_config::Region::new(region.to_owned()));
    }
    let session: String = session.chars().take(64).collect();
    let provider = match (role, source_identity) {
        (None, _) => None,
        (Some(role), Some(identity)) => Some(aws_sdk_ecs::config::SharedCredentialsProvider::new(
            assume::AssumeWithSourceIdentity {
                sts: aws_sdk_sts::Client::new(base),
                role: role.to_owned(),
                session,
                external_id: external_id.map(str::to_owned),
                source_identity: assume::source_identity(identity),
            },
        )),
        (Some(role), None) => {
            let mut provider = aws_config::sts::AssumeRoleProvider::builder(role)
                .session_name(session)
                .configure(base);
            if let Some(id) = external_id {
                provider = provider.external_id(id);
            }
            Some(aws_sdk_ecs::config::SharedCredentialsProvider::new(
                provider.build().await,
            ))
        }
    };
    if let Some(provider) = provider {
        let kept = assume::Kept::new(provider);
        config = config.credentials_provider(aws_sdk_ecs::config::SharedCredentialsProvider::new(kept));
    }
    config.build()
}

/// The region of `config` (`us-east-1` when none is set, as the SDK assumes).
pub fn region_of(config: &SdkConfig) -> String {
    config
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "us-east-1".into())
}

/// Every client the deployer has, for tools and tests that touch all services (the emulator
/// harness, the demo). The functions do not use it: each builds only its own clients.
#[derive(Clone, Debug)]
pub struct AwsClients {
    /// Elastic Container Service (paced per account and Region).
    pub ecs: ecs::Ecs,
    /// Elastic Container Registry.
    pub ecr: aws_sdk_ecr::Client,
    /// S3 (configuration and state).
    pub s3: aws_sdk_s3::Client,
    /// AWS Cloud Map.
    pub cloud_map: aws_sdk_servicediscovery::Client,
    /// API Gateway (HTTP APIs).
    pub apigw: aws_sdk_apigatewayv2::Client,
    /// Elastic Load Balancing (NLB target groups).
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    /// The region the clients talk to.
    pub region: String,
    /// The SDK configuration they were built from (a function builds its own clients from it).
    pub sdk_config: SdkConfig,
}

impl AwsClients {
    /// The same clients, naming `function` in every request's user agent (`app/<function>`).
    pub fn for_function(&self, function: &str) -> Self {
        let app = app_name(function);
        Self {
            ecs: self.ecs.with_client(aws_sdk_ecs::Client::from_conf(
                self.ecs.config().to_builder().app_name(app.clone()).build(),
            )),
            ecr: aws_sdk_ecr::Client::from_conf(self.ecr.config().to_builder().app_name(app.clone()).build()),
            s3: aws_sdk_s3::Client::from_conf(self.s3.config().to_builder().app_name(app.clone()).build()),
            cloud_map: aws_sdk_servicediscovery::Client::from_conf(
                self.cloud_map.config().to_builder().app_name(app.clone()).build(),
            ),
            apigw: aws_sdk_apigatewayv2::Client::from_conf(
                self.apigw.config().to_builder().app_name(app.clone()).build(),
            ),
            elb: aws_sdk_elasticloadbalancingv2::Client::from_conf(
                self.elb.config().to_builder().app_name(app).build(),
            ),
            region: self.region.clone(),
            sdk_config: self.sdk_config.to_builder().app_name(app_name(function)).build(),
        }
    }

    /// Clients sharing one SDK configuration.
    pub fn from_sdk_config(config: &SdkConfig) -> Self {
        Self {
            ecs: ecs::Ecs::new(config, None),
            ecr: aws_sdk_ecr::Client::new(config),
            s3: s3::client(config),
            cloud_map: aws_sdk_servicediscovery::Client::new(config),
            apigw: aws_sdk_apigatewayv2::Client::new(config),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(config),
            region: region_of(config),
            sdk_config: config.clone(),
        }
    }
}

/// Error codes of throttling: the request was refused, not carried out, so sending it again is safe.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
];

/// True when AWS refused the call for its rate (nothing was carried out): a throttling code,
/// or ECS's `ClientException` "Too many concurrent attempts to create a new revision of the
/// specified family" (several registrations of one family at once).
pub fn is_throttling<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    is_throttling_code(err.code(), err.message())
}

/// [`is_throttling`] on an error's code and message.
pub fn is_throttling_code(code: Option<&str>, message: Option<&str>) -> bool {
    code.is_some_and(|code| THROTTLING_CODES.contains(&code))
        || (code == Some("ClientException") && message.is_some_and(|m| m.contains("Too many concurrent attempts")))
}

/// Sends a call that creates something and has no idempotency token (ECS RegisterTaskDefinition,
/// API Gateway CreateIntegration and CreateRoute, Cloud Map CreateService as used here). The SDK
/// retries every 5xx and lost connection, and a retry of a call that was carried out but whose
/// answer was lost creates a second one. So `send` must turn the SDK's retries off (see
/// [`no_retries`]), and the call is sent again here only when AWS throttled it. Any other
/// failure is returned: it may have been carried out, and the next run finds what was created
/// instead of creating it again.
pub async fn at_most_once<T, E, R, F, Fut>(mut send: F) -> Result<T, SdkError<E, R>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata,
{
    let mut pause = Duration::from_millis(100);
    let mut attempt = 1;
    loop {
        match send().await {
            Err(err) if attempt < MAX_ATTEMPTS && is_throttling(&err) => {
                tokio::time::sleep(pause).await;
                pause *= 2;
                attempt += 1;
            }
            answer => return answer,
        }
    }
}

/// Retry settings for [`at_most_once`] calls: none.
pub fn no_retries() -> RetryConfig {
    RetryConfig::disabled()
}

/// The user-agent application name of a function (`image-push` → `app/image-push`).
fn app_name(function: &str) -> AppName {
    AppName::new(function.to_owned()).expect("function names are valid user-agent app names")
}
