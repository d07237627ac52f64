//! Everything users and AWS send the deployer: the configuration document, EventBridge events
//! and manual payloads. Parsing is strict and happens before any AWS call; every error names the
//! field and what was expected.

pub mod config;
pub mod env;
pub mod events;
pub mod json;

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
