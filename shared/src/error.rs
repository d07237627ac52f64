//! How an invocation fails: one variant per failure class, each with a stable `errorType` that
//! Lambda reports, CloudWatch and the failure queue keep, and alarms and users can filter on.
//! The types are part of the contract (docs/events-and-payloads.md, "Errors"): renaming one breaks users' filters.

use lambda_runtime::Diagnostic;

use crate::aws::AwsError;
use crate::input::config::{ConfigError, LoadConfigError};
use crate::input::InputError;

/// Why an invocation failed before doing anything.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The event or payload is malformed, or names something that is not configured.
    #[error(transparent)]
    EventInvalid(#[from] InputError),
    /// The configuration is missing or invalid; every problem is listed by JSON path.
    #[error(transparent)]
    ConfigInvalid(#[from] ConfigError),
    /// The configuration could not be read (S3 failed).
    #[error("the configuration could not be read: {0}")]
    ConfigUnreadable(AwsError),
    /// The invocation ran, and at least one application or target group failed; the others were
    /// handled. The message names each failure and holds the whole answer.
    #[error("{0}")]
    ItemsFailed(ItemsFailed),
}

/// Applications or target groups that failed in an invocation that otherwise ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemsFailed {
    /// The function's failure class: `DeployFailed`, `SyncFailed` or `TargetsFailed`.
    pub error_type: &'static str,
    /// `name: reason` of each failed item.
    pub failures: Vec<String>,
    /// How many items the invocation handled.
    pub total: usize,
    /// The whole answer as JSON (cut to [`ANSWER_IN_MESSAGE_MAX`] bytes).
    pub answer: String,
}

/// The most failures an error message names one by one before the answer.
pub const FAILURES_NAMED_MAX: usize = 20;

/// The most of the answer an error message carries (Lambda keeps up to 256 KB of an
/// asynchronous invocation's error in the destination record).
pub const ANSWER_IN_MESSAGE_MAX: usize = 64 * 1024;

impl std::fmt::Display for ItemsFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} of {} failed: ", self.failures.len(), self.total)?;
        let named = self.failures.len().min(FAILURES_NAMED_MAX);
        write!(f, "{}", self.failures[..named].join("; "))?;
        if self.failures.len() > named {
            write!(f, "; and {} more (all in the answer)", self.failures.len() - named)?;
        }
        write!(f, "; answer: {}", self.answer)
    }
}

/// Every `errorType` the functions report, for documentation and tests.
pub const ERROR_TYPES: [&str; 7] = [
    "EventInvalid",
    "ConfigInvalid",
    "ConfigUnreadable",
    "DeployFailed",
    "SyncFailed",
    "TargetsFailed",
    DEFERRED,
];

/// The `errorType` of an invocation that failed nothing but left work for later (AWS throttled
/// it past its retries): Lambda's retry of the event does that work. Not a failure: no record,
/// no `Deploy Failed`, and the functions' error alarms leave it out.
pub const DEFERRED: &str = "Deferred";

impl InvokeError {
    /// The stable `errorType` of this failure class.
    pub fn error_type(&self) -> &'static str {
        match self {
            InvokeError::EventInvalid(_) => ERROR_TYPES[0],
            InvokeError::ConfigInvalid(_) => ERROR_TYPES[1],
            InvokeError::ConfigUnreadable(_) => ERROR_TYPES[2],
            InvokeError::ItemsFailed(failed) => failed.error_type,
        }
    }
}

impl From<LoadConfigError> for InvokeError {
    fn from(err: LoadConfigError) -> Self {
        match err {
            LoadConfigError::Invalid(err) => InvokeError::ConfigInvalid(err),
            LoadConfigError::Aws(err) => InvokeError::ConfigUnreadable(err),
        }
    }
}

impl From<InvokeError> for Diagnostic {
    fn from(err: InvokeError) -> Self {
        Diagnostic {
            error_type: err.error_type().to_owned(),
            error_message: err.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::config::Problem;

    #[test]
    fn each_failure_class_has_its_own_stable_error_type() {
        let event = InvokeError::from(InputError::new("deploy.tag", "a tag"));
        let config = InvokeError::from(ConfigError {
            source_name: "DEPLOYER_CONFIG".into(),
            problems: vec![Problem {
                path: "apps".into(),
                message: "missing".into(),
            }],
        });
        let unreadable = InvokeError::from(LoadConfigError::Aws(AwsError {
            service: "S3",
            transient: false,
            operation: "GetObject",
            resource: "s3://b/k".into(),
            code: Some("AccessDenied".into()),
            message: "denied".into(),
        }));
        let diagnostics: Vec<Diagnostic> = vec![event.into(), config.into(), unreadable.into()];
        let types: Vec<&str> = diagnostics.iter().map(|d| d.error_type.as_str()).collect();
        assert_eq!(types, ERROR_TYPES[..3]);
        assert!(diagnostics[0].error_message.contains("`deploy.tag`"), "{diagnostics:?}");
        assert!(
            diagnostics[1].error_message.contains("apps: missing"),
            "{diagnostics:?}"
        );
        assert!(
            diagnostics[2].error_message.contains("S3 GetObject on s3://b/k"),
            "{diagnostics:?}"
        );
    }
}
