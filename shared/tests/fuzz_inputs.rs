//! Bad input, fuzzed: every input parser (image-push, service-sync and nlb-sync invocations, the
//! configuration document) gets random JSON and mutations of valid documents. None may panic;
//! every refusal must name a field that is in the input (or the field missing from it) and say
//! what was expected. `FUZZ_CASES` sets the cases per property (4,000 in `make test`; `make
//! fuzz` runs a million). Hand-written nasty cases live in `shared/tests/corpus/nasty.jsonl`.

use deployer::input::config::Config;
use deployer::input::events::parse_nlb_sync as parse_request;
use deployer::input::events::{parse_image_push, parse_service_sync};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};
use serde_json::{json, Value};

/// Every field name the parsers know, so random documents often hit real fields.
const VOCABULARY: &[&str] = &[
    "version",
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
    "action-type",
    "result",
    "repository-name",
    "image-digest",
    "image-tag",
    "deploy",
    "rollback",
    "app",
    "tag",
    "digest",
    "revision",
    "dry_run",
    "sync",
    "apps",
    "target_groups",
    "eventType",
    "eventName",
    "deploymentId",
    "updatedAt",
    "reason",
    "nlb",
    "name",
    "cluster",
    "service",
    "container",
    "repository",
    "tags",
    "circuit_breaker",
    "keep_revisions",
    "cloud_map",
    "namespace",
    "record_type",
    "ttl",
    "failure_threshold",
    "port",
    "api",
    "api_id",
    "vpc_link_id",
    "authorizer_id",
    "methods",
    "path",
    "state_bucket",
    "state_prefix",
    "lookups_per_run",
    "missing_runs_before_deregister",
    "max_deregister_share",
    "remove_untracked",
    "dns_servers",
    "target_group_arn",
    "alb_dns_name",
    "same_vpc",
];

/// Values the parsers treat specially.
const SPECIAL_STRINGS: &[&str] = &[
    "ECR Image Action",
    "ECS Deployment State Change",
    "Scheduled Event",
    "aws.ecr",
    "aws.ecs",
    "aws.events",
    "PUSH",
    "DELETE",
    "SUCCESS",
    "SERVICE_DEPLOYMENT_COMPLETED",
    "SERVICE_DEPLOYMENT_FAILED",
    "latest",
    "release-*",
    "orders",
    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "arn:aws:ecs:ap-northeast-1:123456789012:service/sss/orders",
    "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:targetgroup/nlb-443/abc",
    "",
    " ",
    "\u{0}",
    "注文",
    "😀",
    "\u{202e}evil",
    "a.b[0]",
];

/// The repository root (the sample events live in `events/`).
fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// This crate's test corpus.
fn corpus(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(name)
}

type Parser = fn(&Value) -> Result<(), Vec<(String, String)>>;

fn image_push(v: &Value) -> Result<(), Vec<(String, String)>> {
    parse_image_push(v).map(|_| ()).map_err(|e| vec![(e.field, e.expected)])
}

fn service_sync(v: &Value) -> Result<(), Vec<(String, String)>> {
    parse_service_sync(v)
        .map(|_| ())
        .map_err(|e| vec![(e.field, e.expected)])
}

fn nlb_sync(v: &Value) -> Result<(), Vec<(String, String)>> {
    parse_request(v).map(|_| ()).map_err(|e| vec![(e.field, e.expected)])
}

fn config(v: &Value) -> Result<(), Vec<(String, String)>> {
    config_text(&v.to_string())
}

fn config_text(text: &str) -> Result<(), Vec<(String, String)>> {
    Config::parse(text, "fuzz")
        .map(|_| ())
        .map_err(|e| e.problems.into_iter().map(|p| (p.path, p.message)).collect())
}

const PARSERS: [(&str, Parser); 4] = [
    ("image-push", image_push),
    ("service-sync", service_sync),
    ("nlb-sync", nlb_sync),
    ("config", config),
];

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4_000)
}

fn runner() -> TestRunner {
    TestRunner::new(RunnerConfig {
        cases: cases(),
        failure_persistence: None,
        ..RunnerConfig::default()
    })
}

/// One step of a field path: `detail.image-digest`, `apps[2].tags[0]`.
#[derive(Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Splits a reported field path into steps; `None` when it is not a path at all.
fn steps(field: &str) -> Option<Vec<Step>> {
    let mut out = Vec::new();
    for part in field.split('.') {
        let (key, mut rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        match key {
            "" => {}
            // How an empty key is shown.
            "\"\"" => out.push(Step::Key(String::new())),
            key => out.push(Step::Key(key.to_owned())),
        }
        while !rest.is_empty() {
            let (index, tail) = rest.split_once(']')?;
            out.push(Step::Index(index.parse().ok()?));
            rest = tail.strip_prefix('[').unwrap_or(tail);
        }
    }
    Some(out)
}

/// True when `field` names a place in `input`: `$` (the whole input), or a path whose every step
/// but the last exists in `input` (the last may be the missing or unknown field itself).
fn names_a_field_of(field: &str, input: &Value) -> bool {
    if field == "$" {
        return true;
    }
    let Some(steps) = steps(field) else {
        return false;
    };
    if steps.is_empty() {
        return false;
    }
    let mut at = input;
    for step in &steps[..steps.len() - 1] {
        let next = match step {
            Step::Key(k) => at.get(k.as_str()),
            Step::Index(i) => at.get(*i),
        };
        match next {
            Some(v) => at = v,
            None => return false,
        }
    }
    true
}

/// The property every parser must hold for `input`: no panic (a panic fails the run), and a
/// refusal names a field of the input and what was expected.
fn check(name: &str, parser: Parser, input: &Value) -> Result<(), TestCaseError> {
    if let Err(problems) = parser(input) {
        prop_assert!(!problems.is_empty(), "{name}: a refusal without a problem for {input}");
        for (field, expected) in problems {
            prop_assert!(
                names_a_field_of(&field, input),
                "{name}: field `{field}` is not a place in the input {input}"
            );
            prop_assert!(!expected.trim().is_empty(), "{name}: no expectation for `{field}`");
        }
    }
    Ok(())
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(VOCABULARY).prop_map(str::to_owned),
        1 => "[a-zA-Z_-]{0,10}",
        1 => "\\PC{0,6}".prop_filter("no path punctuation", |k: &String| !k.contains(['.', '[', ']'])),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        2 => any::<i64>().prop_map(|n| json!(n)),
        1 => any::<f64>().prop_map(|f| json!(f)),
        4 => prop::sample::select(SPECIAL_STRINGS).prop_map(|s| json!(s)),
        3 => "\\PC{0,40}".prop_map(Value::String),
        1 => (1usize..100_000).prop_map(|n| json!("x".repeat(n))),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..8).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn samples_for(parser: &str) -> Vec<Value> {
    let read = |path: std::path::PathBuf| -> Value {
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap_or_else(|e| panic!("{path:?}: {e}"))
    };
    if parser == "config" {
        return vec![read(corpus("config-valid.json"))];
    }
    let mut samples = Vec::new();
    for entry in std::fs::read_dir(repo_root().join("events")).unwrap() {
        samples.push(read(entry.unwrap().path()));
    }
    samples.sort_by_key(|v| v.to_string());
    samples
}

/// Every place in a document (JSON pointers), the root included.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                pointers(v, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                pointers(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// One change to a document: replace, remove or rename at a place, or add a key.
#[derive(Debug, Clone)]
enum Mutation {
    Replace(usize, Value),
    Remove(usize),
    Rename(usize, String),
    AddKey(usize, String, Value),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<usize>(), value()).prop_map(|(at, v)| Mutation::Replace(at, v)),
        2 => any::<usize>().prop_map(Mutation::Remove),
        1 => (any::<usize>(), key()).prop_map(|(at, k)| Mutation::Rename(at, k)),
        1 => (any::<usize>(), key(), leaf()).prop_map(|(at, k, v)| Mutation::AddKey(at, k, v)),
    ]
}

fn apply(doc: &mut Value, mutation: &Mutation) {
    let mut places = Vec::new();
    pointers(doc, String::new(), &mut places);
    let pick = |at: usize| places[at % places.len()].clone();
    match mutation {
        Mutation::Replace(at, v) => {
            if let Some(slot) = doc.pointer_mut(&pick(*at)) {
                *slot = v.clone();
            }
        }
        Mutation::Remove(at) | Mutation::Rename(at, _) => {
            let pointer = pick(*at);
            let Some((parent, last)) = pointer.rsplit_once('/') else {
                return;
            };
            let last = last.replace("~1", "/").replace("~0", "~");
            let Some(parent) = doc.pointer_mut(parent) else {
                return;
            };
            let removed = match parent {
                Value::Object(map) => map.remove(&last),
                Value::Array(items) => last
                    .parse::<usize>()
                    .ok()
                    .filter(|&i| i < items.len())
                    .map(|i| items.remove(i)),
                _ => None,
            };
            if let (Mutation::Rename(_, new_key), Some(v), Value::Object(map)) = (mutation, removed, parent) {
                map.insert(new_key.clone(), v);
            }
        }
        Mutation::AddKey(at, k, v) => {
            if let Some(Value::Object(map)) = doc.pointer_mut(&pick(*at)) {
                map.insert(k.clone(), v.clone());
            }
        }
    }
}

#[test]
fn random_json_never_panics_and_every_refusal_names_a_field() {
    for (name, parser) in PARSERS {
        runner()
            .run(&value(), |input| check(name, parser, &input))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn mutated_valid_documents_never_panic_and_every_refusal_names_a_field() {
    for (name, parser) in PARSERS {
        let samples = samples_for(name);
        let strategy = (0..samples.len(), prop::collection::vec(mutation(), 1..4));
        runner()
            .run(&strategy, |(index, mutations)| {
                let mut doc = samples[index].clone();
                for m in &mutations {
                    apply(&mut doc, m);
                }
                check(name, parser, &doc)
            })
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn configuration_text_that_is_not_json_is_refused_at_the_root() {
    runner()
        .run(&"\\PC{0,200}", |text| {
            if serde_json::from_str::<Value>(&text).is_err() {
                let problems = config_text(&text).expect_err("not JSON is refused");
                prop_assert_eq!(problems.len(), 1);
                prop_assert_eq!(problems[0].0.as_str(), "$");
                prop_assert!(problems[0].1.starts_with("not valid JSON"));
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_valid_samples_parse() {
    for (name, parser) in PARSERS {
        let accepted = samples_for(name).iter().filter(|s| parser(s).is_ok()).count();
        assert!(
            accepted >= 1,
            "{name}: no sample parses, so mutations start from nothing valid"
        );
    }
}

#[test]
fn the_nasty_corpus_is_refused_naming_the_field() {
    let text = std::fs::read_to_string(corpus("nasty.jsonl")).unwrap();
    let mut cases: Vec<(String, String, String, Value)> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let case: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            let s = |k: &str| case[k].as_str().unwrap().to_owned();
            (s("parser"), s("why"), s("field"), case["input"].clone())
        })
        .collect();
    // Cases too big to write by hand.
    let huge = "é".repeat(5_000_000);
    cases.push((
        "image-push".into(),
        "a 10 MB tag".into(),
        "deploy.tag".into(),
        json!({"deploy": {"app": "orders", "tag": huge}}),
    ));
    cases.push((
        "config".into(),
        "10,000 applications, the last one broken".into(),
        "apps[9999].repository".into(),
        {
            let mut apps: Vec<Value> = (0..10_000)
                .map(|i| {
                    json!({"name": format!("a{i}"), "cluster": "c", "service": format!("s{i}"),
                    "container": "app", "repository": "r", "tags": ["latest"]})
                })
                .collect();
            apps[9_999]["repository"] = json!(null);
            json!({ "apps": apps })
        },
    ));
    let mut deep = json!("bottom");
    for _ in 0..100 {
        deep = json!({ "sync": deep });
    }
    cases.push((
        "service-sync".into(),
        "100 levels of nesting".into(),
        "sync.sync".into(),
        deep,
    ));
    assert!(cases.len() >= 25, "the corpus holds {} cases", cases.len());

    for (parser_name, why, field, input) in cases {
        let parser = PARSERS
            .iter()
            .find(|(n, _)| *n == parser_name)
            .expect("a known parser")
            .1;
        let problems = parser(&input).expect_err(&format!("{parser_name}: {why}: refused"));
        assert!(
            problems.iter().any(|(f, e)| *f == field && !e.is_empty()),
            "{parser_name}: {why}: expected a problem at `{field}`, got {problems:?}"
        );
    }
}
