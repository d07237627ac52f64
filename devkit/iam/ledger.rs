//! The ledger of AWS calls the functions made in the tests (`target/aws-calls/`): each call's
//! service, operation and, where IAM authorizes it on one, the ARN it named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The ledger: for each function, the `(service, operation)` pairs it called.
pub fn read_ledger(dir: &Path) -> BTreeMap<String, BTreeSet<(String, String)>> {
    let mut ledger: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return ledger;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((function, _)) = name.split_once('.') else {
            continue;
        };
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        let calls = ledger.entry(function.to_owned()).or_default();
        for line in text.lines() {
            if let Some((service, operation)) = line.split_once('\t') {
                calls.insert((service.to_owned(), operation.to_owned()));
            }
        }
    }
    ledger
}

/// The ARN a recorded REST call acts on (S3 and API Gateway, whose paths name the resource);
/// `None` for JSON and query protocols, whose resource is in the body.
pub fn resource_of(service: &str, operation: &str) -> Option<String> {
    let (_, path) = operation.split_once(' ')?;
    match service {
        "s3" => Some(format!("arn:aws:s3:::{}", path.trim_start_matches('/'))),
        "apigateway" => Some(format!(
            "arn:aws:apigateway:{}::{}",
            crate::emulator::REGION,
            path.strip_prefix("/v2").unwrap_or(path)
        )),
        // JSON protocols: the ledger wrote the ARN the body named.
        _ => path.starts_with("arn:").then(|| path.to_owned()),
    }
}

/// How the ledger marks a call made with an assumed role's credentials: the action is needed
/// (the same code runs with the function's own role for its own account), but the resource and
/// conditions are another account's policy's to allow.
pub const ASSUMED: &str = "@assumed";

/// A recorded call's operation as the ledger keeps it: for a JSON call made with the functions'
/// own credentials (not an assumed role's, which another account's policy authorizes), followed
/// by the ARN IAM authorizes it on, where its body names one.
pub fn ledger_operation(call: &crate::emulator::Call) -> String {
    if call.operation.contains(' ') {
        return call.operation.clone();
    }
    if call.access_key != "testing" {
        return format!("{} {ASSUMED}", call.operation);
    }
    match json_resource(&call.service, &call.operation, &call.region, &call.json_body()) {
        Some(arn) => format!("{} {arn}", call.operation),
        None => call.operation.clone(),
    }
}

/// The ARN IAM authorizes a JSON call on, from its body (the stack's own account where the body
/// names only a name): ECS services and task definitions, ECR repositories, Cloud Map services.
pub fn json_resource(service: &str, operation: &str, region: &str, body: &serde_json::Value) -> Option<String> {
    let account = crate::emulator::ACCOUNT;
    let text = |field: &str| body[field].as_str().map(str::to_owned);
    let last = |arn_or_name: &str| arn_or_name.rsplit('/').next().unwrap_or(arn_or_name).to_owned();
    match (service, operation) {
        ("ecs", "UpdateService" | "DescribeServices") => {
            let named = text("service").or_else(|| body["services"][0].as_str().map(str::to_owned))?;
            if named.starts_with("arn:") {
                return Some(named);
            }
            let cluster = last(&text("cluster").unwrap_or_else(|| "default".into()));
            Some(format!("arn:aws:ecs:{region}:{account}:service/{cluster}/{named}"))
        }
        ("ecs", "TagResource" | "ListTagsForResource" | "UntagResource") => text("resourceArn"),
        // ListServices is authorized on "*" with the cluster as the `ecs:cluster` condition key.
        ("ecs", "ListServices") => {
            let cluster = text("cluster").unwrap_or_else(|| "default".into());
            Some(if cluster.starts_with("arn:") {
                cluster
            } else {
                format!("arn:aws:ecs:{region}:{account}:cluster/{cluster}")
            })
        }
        // The revision it creates (its number is ECS's to choose): what tag-on-create tags.
        ("ecs", "RegisterTaskDefinition") => Some(format!(
            "arn:aws:ecs:{region}:{account}:task-definition/{}:1",
            text("family")?
        )),
        ("ecr", _) => Some(format!(
            "arn:aws:ecr:{region}:{}:repository/{}",
            text("registryId").unwrap_or_else(|| account.to_owned()),
            text("repositoryName")?
        )),
        ("servicediscovery", "UpdateService" | "GetService") => Some(format!(
            "arn:aws:servicediscovery:{region}:{account}:service/{}",
            text("Id")?
        )),
        _ => None,
    }
}
