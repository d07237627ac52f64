//! The configuration's JSON Schema, generated from its types: what an editor checks a document
//! against as it is typed (`"$schema"` is allowed for that). The schema says the shape (fields,
//! kinds, enumerations); the values AWS constrains and the claims two applications must not
//! share are checked by [`super::Config::parse`] alone, with path-precise messages.

use super::Config;

/// The schema of a configuration document, as committed in `schema/config.schema.json`.
pub fn config_schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Config)).expect("a schema is JSON");
    if let Some(object) = schema.as_object_mut() {
        object.insert("title".into(), "ecs-deployer configuration".into());
        // An editor's pointer to the schema is part of the document it checks.
        if let Some(properties) = object.get_mut("properties").and_then(|p| p.as_object_mut()) {
            properties.insert(
                "$schema".into(),
                serde_json::json!({"type": "string", "description": "The schema an editor checks this document against."}),
            );
        }
    }
    schema
}

/// The committed schema's text: [`config_schema`], pretty, with a final newline.
pub fn config_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&config_schema()).expect("a schema is JSON");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_schema_matches_the_types() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/config.schema.json");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == config_schema_text(),
            "schema/config.schema.json differs from the configuration's types: run `make schema` and commit it"
        );
    }

    #[test]
    fn the_schema_describes_every_application_field_and_refuses_unknown_ones() {
        let schema = config_schema();
        let app = &schema["$defs"]["AppConfig"];
        assert_eq!(app["additionalProperties"], false, "{app}");
        for field in [
            "name",
            "cluster",
            "service",
            "family",
            "containers",
            "schedules",
            "before_deploy",
        ] {
            assert!(app["properties"].get(field).is_some(), "{field}: {app}");
        }
        assert!(app["properties"].get("assume_with_source_identity").is_none());
        let required: Vec<&str> = app["required"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert_eq!(required, ["name", "cluster", "repository"]);
        assert!(schema["properties"].get("$schema").is_some());
    }

    #[test]
    fn every_example_passes_the_functions_own_validation() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).expect("examples/ exists") {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path).unwrap();
                if let Err(err) = Config::parse(&text, &path.display().to_string()) {
                    panic!("{err}");
                }
                checked += 1;
            }
        }
        assert!(checked >= 5, "{checked} examples");
    }
}
