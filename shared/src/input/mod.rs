//! Everything users and AWS send the deployer: the configuration document, EventBridge events
//! and manual payloads. Parsing is strict and happens before any AWS call; every error names the
//! field and what was expected.

pub mod config;
pub mod env;
pub mod events;
pub mod function_url;
pub mod json;

/// Characters of a user's value quoted in an answer or an error; longer values are cut.
pub const QUOTE_MAX_CHARS: usize = 80;

/// `value` in backticks, as answers and errors quote what a user or an event sent: cut to
/// [`QUOTE_MAX_CHARS`] with its full length said, so a 5 MB name does not come back whole.
pub fn quoted(value: &str) -> String {
    match value.char_indices().nth(QUOTE_MAX_CHARS) {
        None => format!("`{value}`"),
        Some((cut, _)) => format!("`{}…` ({} bytes)", &value[..cut], value.len()),
    }
}

/// True for an AWS account ID: 12 digits.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.chars().all(|c| c.is_ascii_digit())
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_quoted_whole_and_long_ones_cut_with_their_length() {
        assert_eq!(quoted("orders"), "`orders`");
        let long = "é".repeat(100);
        let cut = quoted(&long);
        assert!(cut.starts_with(&format!("`{}…`", "é".repeat(QUOTE_MAX_CHARS))), "{cut}");
        assert!(cut.ends_with("(200 bytes)"), "{cut}");
    }
}
