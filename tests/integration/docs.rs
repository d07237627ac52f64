//! Every JSON example of the README and `docs/` is what it says it is: a configuration passes
//! the functions' own validation, an application entry does inside a document, a payload or an
//! event is taken by the parser of the function it is for. A block none of these describe fails
//! the test, so a new example is checked from the start. (Lifecycle policies are checked against
//! ECR's rules by `lifecycle.rs`; the schema side of the configurations by `make lint`.)

use deployer::input::events::{parse_image_push, parse_nlb_sync, parse_service_sync};
use deployer::Config;
use deployer_devkit::emulator::repo_root;
use serde_json::{json, Value};

/// (file, index, block) of every ```json block of the README and the docs.
pub fn json_blocks() -> Vec<(String, usize, String)> {
    let mut files = vec![repo_root().join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(repo_root().join("docs"))
        .expect("docs/ exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut blocks = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.strip_prefix(repo_root()).unwrap().display().to_string();
        for (i, block) in text.split("```json").skip(1).enumerate() {
            let block = block.split("```").next().unwrap_or_default();
            blocks.push((name.clone(), i, block.to_owned()));
        }
    }
    blocks
}

/// An application entry shown alone, in a document of its own (with the application it is
/// promoted from, when it names one).
fn document_of_app(app: &Value) -> String {
    let mut apps = vec![app.clone()];
    if let Some(source) = app["promote_from"].as_str() {
        apps.push(json!({
            "name": source, "cluster": "c", "service": source, "container": "app",
            "repository": app["repository"], "tags": ["latest"]
        }));
    }
    json!({ "apps": apps }).to_string()
}

/// What the block is, checked; `Err` says why it is not what it looks like.
fn check(block: &Value) -> Result<&'static str, String> {
    let has = |key: &str| block.get(key).is_some();
    if has("apps") {
        Config::parse(&block.to_string(), "docs").map_err(|e| e.to_string())?;
        return Ok("configuration");
    }
    if has("repository") && has("name") {
        Config::parse(&document_of_app(block), "docs").map_err(|e| e.to_string())?;
        return Ok("application");
    }
    if has("rules") {
        return Ok("lifecycle policy");
    }
    if has("results") || (has("outcome") && has("app")) {
        // An answer the functions give: its outcome is one they answer.
        let outcomes: Vec<&str> = match block["results"].as_array() {
            Some(results) => results.iter().filter_map(|r| r["outcome"].as_str()).collect(),
            None => block["outcome"].as_str().into_iter().collect(),
        };
        if outcomes.is_empty() {
            return Err("an answer without an outcome".into());
        }
        return Ok("answer");
    }
    if has("detail-type") || has("detail") {
        let image_push = parse_image_push(block).map(|_| ());
        let service_sync = parse_service_sync(block).map(|_| ());
        return image_push.or(service_sync).map(|()| "event").map_err(|e| e.to_string());
    }
    if has("sync") {
        let nlb = parse_nlb_sync(block).map(|_| ());
        return nlb
            .or(parse_service_sync(block).map(|_| ()))
            .map(|()| "payload")
            .map_err(|e| e.to_string());
    }
    parse_image_push(block).map(|_| "payload").map_err(|e| e.to_string())
}

#[test]
fn every_json_example_of_the_docs_is_what_it_says() {
    let blocks = json_blocks();
    assert!(blocks.len() >= 10, "{} blocks", blocks.len());
    let mut problems = Vec::new();
    let mut kinds = std::collections::BTreeMap::new();
    for (file, i, text) in &blocks {
        let verdict = serde_json::from_str::<Value>(text)
            .map_err(|e| format!("not JSON: {e}"))
            .and_then(|block| check(&block));
        match verdict {
            Ok(kind) => *kinds.entry(kind).or_insert(0) += 1,
            Err(err) => problems.push(format!("{file} block {i}: {err}")),
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(kinds.get("configuration").is_some_and(|n| *n >= 2), "{kinds:?}");
}

#[test]
fn the_checks_refuse_what_is_not_what_it_says() {
    let bad_app = json!({"name": "a", "cluster": "c", "service": "s", "repository": "R", "tags": []});
    assert!(check(&bad_app).is_err());
    assert!(check(&json!({"deploy": {"app": "orders"}})).is_err());
    assert!(check(&json!({"colour": "blue"})).is_err());
    assert!(check(&json!({"results": [{"app": "a"}]})).is_err());
    assert_eq!(check(&json!({"status": {"app": "orders"}})), Ok("payload"));
}
