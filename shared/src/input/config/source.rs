//! Where the configuration document comes from: inline in `DEPLOYER_CONFIG`, or an S3 object
//! named by `DEPLOYER_CONFIG_S3`, read per invocation so that a change applies at once.

use super::{Config, ConfigError, Problem};
use crate::aws::arn::parse_s3_location;
use crate::aws::AwsError;

/// Environment variable holding the configuration inline.
pub const ENV_INLINE: &str = "DEPLOYER_CONFIG";
/// Environment variable pointing at the configuration in S3 (`s3://bucket/key`).
pub const ENV_S3: &str = "DEPLOYER_CONFIG_S3";

/// The largest configuration document read from S3: far above any real one (200 apps take
/// about 100 KB), and a bound on what a wrong object can make the function download.
pub const CONFIG_MAX_BYTES: u64 = 1024 * 1024;

/// Where the configuration document comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// Inline JSON (`DEPLOYER_CONFIG`).
    Inline(String),
    /// An S3 object (`DEPLOYER_CONFIG_S3=s3://bucket/key`).
    S3(String),
}

impl ConfigSource {
    /// The source named by the environment: exactly one of `DEPLOYER_CONFIG` or
    /// `DEPLOYER_CONFIG_S3` must be set.
    pub fn from_env() -> Result<ConfigSource, ConfigError> {
        let read = |name| std::env::var(name).ok().filter(|v: &String| !v.trim().is_empty());
        let problem = |message: String| ConfigError {
            source_name: "the environment".into(),
            problems: vec![Problem {
                path: ENV_INLINE.into(),
                message,
            }],
        };
        match (read(ENV_INLINE), read(ENV_S3)) {
            (Some(text), None) => Ok(ConfigSource::Inline(text)),
            (None, Some(location)) => Ok(ConfigSource::S3(location)),
            (Some(_), Some(_)) => Err(problem(format!("set either {ENV_INLINE} or {ENV_S3}, not both"))),
            (None, None) => Err(problem(format!(
                "no configuration: set {ENV_INLINE} (inline JSON) or {ENV_S3} (s3://bucket/key)"
            ))),
        }
    }

    /// Reads and validates the document.
    pub async fn load(&self, s3: &aws_sdk_s3::Client) -> Result<Config, LoadConfigError> {
        match self {
            ConfigSource::Inline(text) => Ok(Config::parse(text, ENV_INLINE)?),
            ConfigSource::S3(location) => {
                let text = read_s3_text(s3, location).await?;
                Ok(Config::parse(&text, location)?)
            }
        }
    }
}

async fn read_s3_text(s3: &aws_sdk_s3::Client, location: &str) -> Result<String, LoadConfigError> {
    let (bucket, key) = parse_s3_location(location).ok_or_else(|| ConfigError {
        source_name: ENV_S3.into(),
        problems: vec![Problem {
            path: ENV_S3.into(),
            message: format!("expected s3://bucket/key, got {}", crate::input::quoted(location)),
        }],
    })?;
    let read = crate::aws::s3::read_object_limited(s3, bucket, key, CONFIG_MAX_BYTES).await;
    if let Err(AwsError {
        code: Some(code),
        message,
        ..
    }) = &read
    {
        if code == "EntityTooLarge" {
            return Err(LoadConfigError::Invalid(ConfigError {
                source_name: location.to_owned(),
                problems: vec![Problem {
                    path: "$".into(),
                    message: format!("a document of at most 1 MiB ({CONFIG_MAX_BYTES} bytes): {message}"),
                }],
            }));
        }
    }
    let Some((bytes, _)) = read? else {
        return Err(LoadConfigError::Aws(AwsError {
            service: "S3",
            transient: false,
            operation: "GetObject",
            resource: location.to_owned(),
            code: Some("NoSuchKey".into()),
            message: "there is no such object".into(),
        }));
    };
    String::from_utf8(bytes).map_err(|_| {
        LoadConfigError::Invalid(ConfigError {
            source_name: location.to_owned(),
            problems: vec![Problem {
                path: "$".into(),
                message: "not UTF-8 text".into(),
            }],
        })
    })
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadConfigError {
    /// The document is invalid.
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    /// The document could not be read.
    #[error(transparent)]
    Aws(#[from] AwsError),
}
