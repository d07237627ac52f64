//! The AWS calls the emulator recorded: who made each, what it did, what IAM would check.

use super::*;

/// One AWS call the emulator received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// Signing name of the service (`ecs`, `ecr`, `s3`, ...).
    pub service: String,
    /// Operation (`RegisterTaskDefinition`; for S3, `GET /bucket/key`).
    pub operation: String,
    /// The deployer function that made the call, from its user agent (`app/<function>`).
    pub function: Option<String>,
    /// The region the call was signed for.
    pub region: String,
    /// The access key it was signed with (`testing`: the functions' own credentials; an
    /// assumed role's keys otherwise).
    pub access_key: String,
    /// The request body, decoded.
    pub body: String,
}

impl Call {
    pub(super) fn from_recorded(entry: serde_json::Value) -> Call {
        let header = |name: &str| -> String {
            entry["headers"]
                .as_object()
                .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
                .and_then(|(_, v)| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        // Authorization: AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, ...
        let scope = |part: usize| {
            header("Authorization")
                .split("Credential=")
                .nth(1)
                .and_then(|c| c.split('/').nth(part).map(str::to_owned))
                .unwrap_or_else(|| "unknown".into())
        };
        let (service, region, access_key) = (scope(3), scope(2), scope(0));
        let target = header("X-Amz-Target");
        let url = entry["url"].as_str().unwrap_or_default();
        // Smithy RPC v2 (CloudWatch over CBOR): `/service/<service>/operation/<operation>`.
        let rpc_v2 = url
            .split_once("/service/")
            .and_then(|(_, rest)| rest.split_once("/operation/"))
            .map(|(_, op)| op.split('?').next().unwrap_or(op).to_owned());
        let operation = if let Some((_, op)) = target.rsplit_once('.') {
            op.to_owned()
        } else if let Some(op) = rpc_v2 {
            op
        } else if let Some(action) = query_action(&entry) {
            action
        } else {
            let url = entry["url"].as_str().unwrap_or_default();
            let path = url
                .split("://")
                .nth(1)
                .and_then(|u| u.find('/').map(|i| &u[i..]))
                .unwrap_or(url);
            // A schedule's group is in the query (GetSchedule) or the body (UpdateSchedule):
            // IAM authorizes the schedule it names.
            let group = match service.as_str() {
                "scheduler" => path
                    .split_once('?')
                    .and_then(|(_, query)| query.split('&').find_map(|kv| kv.strip_prefix("groupName=")))
                    .map(str::to_owned)
                    .or_else(|| {
                        let body: serde_json::Value = serde_json::from_str(&body_of(&entry)?).ok()?;
                        body["GroupName"].as_str().map(str::to_owned)
                    })
                    .map(|group| format!("?groupName={group}"))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            format!(
                "{} {}{group}",
                entry["method"].as_str().unwrap_or("?"),
                path.split('?').next().unwrap_or(path)
            )
        };
        let agent = header("X-Amz-User-Agent") + " " + &header("User-Agent");
        let function = agent
            .split_whitespace()
            .find_map(|part| part.strip_prefix("app/"))
            .map(str::to_owned);
        Call {
            service,
            operation,
            function,
            region,
            access_key,
            body: body_of(&entry).unwrap_or_default(),
        }
    }

    /// The body as JSON (null when it is not JSON).
    pub fn json_body(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }

    /// True for calls that change something (everything but Describe/List/Get/Head and HTTP GET/HEAD).
    pub fn is_write(&self) -> bool {
        let op = self.operation.as_str();
        !(op.starts_with("Describe")
            || op.starts_with("List")
            || op.starts_with("Get")
            || op.starts_with("BatchGet")
            || op.starts_with("GET ")
            || op.starts_with("HEAD "))
    }
}

fn body_of(entry: &serde_json::Value) -> Option<String> {
    let body = entry["body"].as_str()?;
    if entry["body_encoded"].as_bool() == Some(true) {
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(body).ok()?).ok()
    } else {
        Some(body.to_owned())
    }
}

fn query_action(entry: &serde_json::Value) -> Option<String> {
    body_of(entry)?
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action=").map(str::to_owned))
}

/// Counts of recorded calls.
pub fn count_writes(calls: &[Call]) -> usize {
    calls.iter().filter(|c| c.is_write()).count()
}

/// Count of calls with this operation name.
pub fn count_op(calls: &[Call], operation: &str) -> usize {
    calls.iter().filter(|c| c.operation == operation).count()
}

/// How the ledger marks a call made with an assumed role's credentials: the action is needed
/// (the same code runs with the function's own role for its own account), but the resource and
/// conditions are another account's policy's to allow.
pub const ASSUMED: &str = "@assumed";

/// Follows `AssumeRole` in the ledger when the session was given a source identity (which IAM
/// authorizes as `sts:SetSourceIdentity` as well).
pub const WITH_SOURCE_IDENTITY: &str = "#source-identity";

/// A recorded call's operation as the ledger keeps it: for a JSON call made with the functions'
/// own credentials (not an assumed role's, which another account's policy authorizes), followed
/// by the ARN IAM authorizes it on, where its body names one.
pub fn ledger_operation(call: &Call) -> String {
    if call.operation.contains(' ') {
        return call.operation.clone();
    }
    if call.access_key != "testing" {
        return format!("{} {ASSUMED}", call.operation);
    }
    if call.service == "sts" && call.operation == "AssumeRole" && call.body.contains("SourceIdentity=") {
        return format!("AssumeRole {WITH_SOURCE_IDENTITY}");
    }
    match json_resource(&call.service, &call.operation, &call.region, &call.json_body()) {
        Some(arn) => format!("{} {arn}", call.operation),
        None => call.operation.clone(),
    }
}

/// The ARN IAM authorizes a JSON call on, from its body (the stack's own account where the body
/// names only a name): ECS services and task definitions, ECR repositories, Cloud Map services.
pub fn json_resource(service: &str, operation: &str, region: &str, body: &serde_json::Value) -> Option<String> {
    let account = ACCOUNT;
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
        ("ecs", "ContinueServiceDeployment" | "StopServiceDeployment") => text("serviceDeploymentArn"),
        ("ecs", "DescribeExpressGatewayService" | "UpdateExpressGatewayService") => text("serviceArn"),
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
        // RunTask authorizes the revision run, with its cluster as `ecs:cluster` (after
        // `#cluster=`); the tasks' reads and stops authorize the task.
        ("ecs", "RunTask") => {
            let revision = text("taskDefinition")?;
            let revision = match revision.starts_with("arn:") {
                true => revision,
                false => format!("arn:aws:ecs:{region}:{account}:task-definition/{revision}"),
            };
            let cluster = last(&text("cluster").unwrap_or_else(|| "default".into()));
            Some(format!(
                "{revision}#cluster=arn:aws:ecs:{region}:{account}:cluster/{cluster}"
            ))
        }
        ("ecs", "DescribeTasks" | "StopTask") => {
            let task = text("task").or_else(|| body["tasks"][0].as_str().map(str::to_owned))?;
            if task.starts_with("arn:") {
                return Some(task);
            }
            let cluster = last(&text("cluster").unwrap_or_else(|| "default".into()));
            Some(format!("arn:aws:ecs:{region}:{account}:task/{cluster}/{task}"))
        }
        ("ecr", _) => Some(format!(
            "arn:aws:ecr:{region}:{}:repository/{}",
            text("registryId").unwrap_or_else(|| account.to_owned()),
            text("repositoryName")?
        )),
        // The bus it publishes on, and the events' source (the `events:source` condition key),
        // after `#source=`.
        ("events", "PutEvents") => {
            let entry = &body["Entries"][0];
            let bus = entry["EventBusName"].as_str().unwrap_or("default");
            let arn = match bus.starts_with("arn:") {
                true => bus.to_owned(),
                false => format!("arn:aws:events:{region}:{account}:event-bus/{bus}"),
            };
            Some(format!("{arn}#source={}", entry["Source"].as_str()?))
        }
        // A rule on the default bus has no bus in its ARN.
        ("events", "ListTargetsByRule" | "PutTargets") => {
            let rule = text("Rule")?;
            Some(match body["EventBusName"].as_str().unwrap_or("default") {
                "default" => format!("arn:aws:events:{region}:{account}:rule/{rule}"),
                bus => format!("arn:aws:events:{region}:{account}:rule/{bus}/{rule}"),
            })
        }
        ("servicediscovery", "UpdateService" | "GetService") => Some(format!(
            "arn:aws:servicediscovery:{region}:{account}:service/{}",
            text("Id")?
        )),
        _ => None,
    }
}
