//! Error types shared by every function.

use std::fmt;

/// A malformed event, payload or configuration value: names the field and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid input at `{field}`: expected {expected}")]
pub struct InputError {
    /// Path of the offending field, such as `detail.image-digest` or `deploy.tag`.
    pub field: String,
    /// What the field should have held.
    pub expected: String,
}

impl InputError {
    /// Builds an error for `field` that should have held `expected`.
    pub fn new(field: impl Into<String>, expected: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            expected: expected.into(),
        }
    }
}

/// A failed AWS call, naming the service, the operation and the resource it was about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct AwsError {
    /// AWS service, such as `ECS`.
    pub service: &'static str,
    /// API operation, such as `UpdateService`.
    pub operation: &'static str,
    /// The resource the call was about (ARN, name or `cluster/service`).
    pub resource: String,
    /// The AWS error code, when the service sent one (`ThrottlingException`, ...).
    pub code: Option<String>,
    /// The error message with its causes.
    pub message: String,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} on {} failed", self.service, self.operation, self.resource)?;
        if let Some(code) = &self.code {
            write!(f, " ({code})")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl AwsError {
    /// Wraps an SDK error with the service, operation and resource it was about.
    pub fn from_sdk<E, R>(
        service: &'static str,
        operation: &'static str,
        resource: impl Into<String>,
        err: aws_sdk_ecs::error::SdkError<E, R>,
    ) -> Self
    where
        E: std::error::Error + aws_sdk_ecs::error::ProvideErrorMetadata + Send + Sync + 'static,
        R: fmt::Debug + Send + Sync + 'static,
    {
        use aws_sdk_ecs::error::ProvideErrorMetadata;
        let code = err.code().map(str::to_owned);
        let message = match err.message() {
            Some(message) => message.to_owned(),
            None => aws_sdk_ecs::error::DisplayErrorContext(&err).to_string(),
        };
        Self {
            service,
            operation,
            resource: resource.into(),
            code,
            message,
        }
    }
}

/// Why an invocation was refused before anything was done: the answer every function gives
/// to a malformed event or payload, or to a configuration it cannot use.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The event or payload is malformed, or names something not configured.
    #[error("InvalidInput: {0}")]
    Input(#[from] InputError),
    /// The configuration is missing, unreadable or invalid.
    #[error("InvalidConfiguration: {0}")]
    Config(#[from] crate::config::LoadConfigError),
}

impl From<crate::config::ConfigError> for InvokeError {
    fn from(err: crate::config::ConfigError) -> Self {
        InvokeError::Config(err.into())
    }
}
