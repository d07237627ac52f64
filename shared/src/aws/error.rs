//! The error of a failed AWS call: which service, which operation, on what.

use std::fmt;

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
    /// AWS answered with a server error (5xx), or no answer came (the connection failed or was
    /// lost, the call timed out): nothing says the request was wrong, and sending it again later
    /// may succeed.
    pub transient: bool,
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
    /// True when AWS refused the call for its rate (see [`crate::aws::is_throttling`]).
    pub fn is_throttling(&self) -> bool {
        crate::aws::is_throttling_code(self.code.as_deref(), Some(&self.message))
    }

    /// True when the call may succeed later as it is: AWS throttled it, failed on its side, or
    /// never answered. A deploy that meets one is put off (Lambda's retry or the queue's next
    /// delivery does it), not failed.
    pub fn is_transient(&self) -> bool {
        self.transient || self.is_throttling()
    }

    /// Wraps an SDK error with the service, operation and resource it was about.
    pub fn from_sdk<E>(
        service: &'static str,
        operation: &'static str,
        resource: impl Into<String>,
        err: aws_sdk_ecs::error::SdkError<E, aws_sdk_ecs::config::http::HttpResponse>,
    ) -> Self
    where
        E: std::error::Error + aws_sdk_ecs::error::ProvideErrorMetadata + Send + Sync + 'static,
    {
        use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
        let code = err.code().map(str::to_owned);
        let transient = match &err {
            // A lost or refused connection, or a timeout; not a credentials provider that was
            // refused (an `other` dispatch failure: a denied AssumeRole does not heal).
            SdkError::DispatchFailure(failure) => failure.is_io() || failure.is_timeout(),
            SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
            SdkError::ServiceError(service) => service.raw().status().is_server_error(),
            _ => false,
        };
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
            transient,
        }
    }
}
