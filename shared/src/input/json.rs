//! JSON helpers every parser shares: errors that name the field path and say what was expected.

use serde_json::Value;

use crate::input::InputError;

/// Serde fills a struct from an array too (`{"sync": [["x"]]}` reads as `sync.apps`), which
/// would name fields the input does not have: where a struct is expected under one of `keys`,
/// only an object (or null) is accepted.
pub fn require_objects(value: &Value, base: &str, keys: &[&str]) -> Result<(), InputError> {
    for key in keys {
        match value.get(*key) {
            None | Some(Value::Null) | Some(Value::Object(_)) => {}
            Some(other) => {
                let field = if base.is_empty() {
                    (*key).to_owned()
                } else {
                    format!("{base}.{key}")
                };
                return Err(InputError::new(field, format!("an object (got {})", json_kind(other))));
            }
        }
    }
    Ok(())
}

/// `a string`, `an array`, ... for messages.
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A key as it appears in an error's field path (an empty key is shown as `""`).
pub fn key_in_path(key: &str) -> String {
    if key.is_empty() {
        "\"\"".to_owned()
    } else {
        key.to_owned()
    }
}

/// Deserializes `value`, turning serde's error into one that names the field path.
pub fn deserialize_at<T: serde::de::DeserializeOwned>(value: &Value, base: &str) -> Result<T, InputError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let inner = err.path().to_string();
        let field = match (base.is_empty(), inner == ".") {
            (true, true) => "$".to_owned(),
            (true, false) => inner,
            (false, true) => base.to_owned(),
            (false, false) => format!("{base}.{inner}"),
        };
        let message = err.into_inner().to_string();
        // serde names the missing or unknown field in its message; lift it into the path.
        let field = match missing_or_unknown_field(&message) {
            Some(name) if field == "$" => name,
            Some(name) if field != name && !field.ends_with(&format!(".{name}")) => {
                format!("{field}.{name}")
            }
            _ => field,
        };
        InputError::new(field, describe_serde_message(&message))
    })
}

fn missing_or_unknown_field(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("missing field `")
        .or_else(|| message.strip_prefix("unknown field `"))?;
    Some(key_in_path(rest.split('`').next()?))
}

/// Turns serde's "invalid type: X, expected Y" into "Y (got X)", the shape of every message here.
fn describe_serde_message(message: &str) -> String {
    if message.starts_with("missing field") {
        return "a value: the field is required".into();
    }
    // serde adds " at line L column C" for text input; values carry no position.
    let message = message.split(" at line ").next().unwrap_or(message);
    match message.split_once(", expected ") {
        Some((got, expected)) if message.starts_with("unknown field") => {
            format!("{expected} ({got})")
        }
        Some((got, expected)) => format!(
            "{expected} (got {})",
            got.trim_start_matches("invalid type: ")
                .trim_start_matches("invalid value: ")
        ),
        None => message.to_owned(),
    }
}

/// Refuses a list that names one item twice: a manual payload acts on each item once, and a
/// repeated name is more likely a mistake than a wish to act twice. The error names the second
/// place and the first.
pub fn require_distinct(items: &[String], field: &str) -> Result<(), InputError> {
    for (i, item) in items.iter().enumerate() {
        if let Some(first) = items[..i].iter().position(|earlier| earlier == item) {
            return Err(InputError::new(
                format!("{field}[{i}]"),
                format!(
                    "each name once; {} is already at {field}[{first}]",
                    crate::input::quoted(item)
                ),
            ));
        }
    }
    Ok(())
}
