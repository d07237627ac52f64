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
        // `/schedules/<name>?groupName=<group>` (the emulator's ledger keeps the group).
        "scheduler" => {
            let (name, group) = path.strip_prefix("/schedules/")?.split_once("?groupName=")?;
            Some(format!(
                "arn:aws:scheduler:{}:{}:schedule/{group}/{name}",
                crate::emulator::REGION,
                crate::emulator::ACCOUNT
            ))
        }
        // JSON protocols: the ledger wrote the ARN the body named (before any `#` condition value).
        _ => path
            .starts_with("arn:")
            .then(|| path.split('#').next().unwrap_or(path).to_owned()),
    }
}
