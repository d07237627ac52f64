//! Least privilege, checked: the IAM actions `template.yaml` grants each function against the
//! AWS calls that function made in the integration tests (the emulators' ledger in
//! `target/aws-calls/`, see [`crate::emulator::calls_dir`]).

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::Value;

mod implied;
mod ledger;
pub use crate::emulator::{json_resource, ledger_operation, ASSUMED};
pub use implied::DOCUMENTED;
use implied::IMPLIED;
pub use ledger::{read_ledger, resource_of};

/// The IAM actions one recorded call needs (`service`, `operation` as in the ledger).
pub fn actions_of(service: &str, operation: &str) -> Vec<String> {
    let named = match (service, operation.split_once(' ')) {
        ("s3", Some((method, path))) => {
            let has_key = path.trim_start_matches('/').contains('/');
            let action = match (method, has_key) {
                ("GET" | "HEAD", true) => "GetObject",
                ("PUT", true) => "PutObject",
                ("DELETE", true) => "DeleteObject",
                ("GET", false) => "ListBucket",
                _ => "UnknownS3Request",
            };
            format!("s3:{action}")
        }
        // A batch is authorized as its single action.
        ("sqs", _) if operation.starts_with("SendMessageBatch") => "sqs:SendMessage".to_owned(),
        // CloudWatch signs as `monitoring`; its IAM actions are `cloudwatch:`.
        ("monitoring", _) => format!("cloudwatch:{}", operation.split(' ').next().unwrap_or(operation)),
        // EventBridge Scheduler's REST API: the schedules' read and update.
        ("scheduler", Some((method, path))) if path.starts_with("/schedules/") => {
            format!(
                "scheduler:{}",
                if method == "PUT" {
                    "UpdateSchedule"
                } else {
                    "GetSchedule"
                }
            )
        }
        // API Gateway's management API is authorized by HTTP method.
        ("apigateway", Some((method, _))) => format!("apigateway:{method}"),
        // JSON and query protocols: the signing name is the IAM prefix for these services (the
        // ledger may follow the operation with the resource it named).
        (service, _) => format!("{service}:{}", operation.split(' ').next().unwrap_or(operation)),
    };
    let mut actions = vec![named.clone()];
    actions.extend(
        IMPLIED
            .iter()
            .filter(|(call, _, _)| *call == named)
            .map(|(_, implied, _)| (*implied).to_owned()),
    );
    // A session given a source identity: STS authorizes that as its own action too.
    if named == "sts:AssumeRole" && operation.ends_with(crate::emulator::WITH_SOURCE_IDENTITY) {
        actions.push("sts:SetSourceIdentity".to_owned());
    }
    actions
}

/// One condition of a statement: (operator, key, values).
pub type Condition = (String, String, Vec<String>);

/// One statement's grant of an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The statement's `Sid`.
    pub sid: String,
    /// Its resources as IAM wildcard patterns: CloudFormation parameters, references and
    /// attributes (`${ConfigBucket}`, `!GetAtt StateBucket.Arn`) become `*`.
    pub resources: Vec<String>,
    /// Its `Condition`: every one must hold.
    pub conditions: Vec<Condition>,
}

impl Grant {
    /// True when every condition holds for a request with `context` (condition key → value).
    /// `StringEquals`, `StringLike` and `ArnLike` (and their `IfExists` forms, which an absent key passes)
    /// are evaluated; any other operator is taken as not holding, so a grant this check cannot
    /// read never counts.
    pub fn holds(&self, context: &BTreeMap<&str, String>) -> bool {
        self.conditions.iter().all(|(operator, key, values)| {
            let (base, if_exists) = match operator.strip_suffix("IfExists") {
                Some(base) => (base, true),
                None => (operator.as_str(), false),
            };
            let Some(value) = context.get(key.as_str()) else {
                return if_exists;
            };
            match base {
                "StringEquals" => values.iter().any(|v| v == value),
                "StringLike" | "ArnLike" => values.iter().any(|v| deployer::glob::matches(v, value)),
                _ => false,
            }
        })
    }

    /// True when it covers `arn` (any resource when `None`) under `context`.
    pub fn covers(&self, arn: Option<&str>, context: &BTreeMap<&str, String>) -> bool {
        self.holds(context) && arn.is_none_or(|arn| self.resources.iter().any(|p| deployer::glob::matches(p, arn)))
    }
}

/// The condition keys AWS sets when it authorizes `action` for a call of `operation` (those the
/// template's statements test).
pub fn request_context(operation: &str, action: &str) -> BTreeMap<&'static str, String> {
    let (operation, resource) = operation.split_once(' ').unwrap_or((operation, ""));
    let mut context = BTreeMap::new();
    if action == "ecs:ListServices" && !resource.is_empty() {
        context.insert("ecs:cluster", resource.to_owned());
    }
    if action == "ecs:TagResource" && operation != "TagResource" {
        context.insert("ecs:CreateAction", operation.to_owned());
    }
    if action == "ecs:RunTask" {
        if let Some((_, cluster)) = resource.split_once("#cluster=") {
            context.insert("ecs:cluster", cluster.to_owned());
        }
    }
    if action == "iam:PassRole" && matches!(operation, "RegisterTaskDefinition" | "RunTask") {
        context.insert("iam:PassedToService", "ecs-tasks.amazonaws.com".to_owned());
    }
    if action == "iam:PassRole" && operation == "PutTargets" {
        context.insert("iam:PassedToService", "events.amazonaws.com".to_owned());
    }
    if action == "iam:PassRole" && operation.starts_with("PUT") {
        context.insert("iam:PassedToService", "scheduler.amazonaws.com".to_owned());
    }
    // The account of the resource: an ECR repository's registry; the emulator's buckets are all
    // the test account's (another account's calls go through an assumed role, not checked here).
    if action.starts_with("s3:") {
        context.insert("aws:ResourceAccount", crate::emulator::ACCOUNT.to_owned());
    }
    if action.starts_with("ecr:") {
        if let Some(account) = resource.split(':').nth(4).filter(|a| !a.is_empty()) {
            context.insert("aws:ResourceAccount", account.to_owned());
        }
    }
    if action == "events:PutEvents" {
        if let Some((_, source)) = resource.split_once("#source=") {
            context.insert("events:source", source.to_owned());
        }
    }
    context
}

/// One function's grants: action → the statements that allow it.
pub type Grants = BTreeMap<String, Vec<Grant>>;

/// A template value (string, `!Sub`, `!If`, list...) as resource patterns.
fn resource_patterns(value: &Value, out: &mut Vec<String>) {
    // The stack's own pseudo parameters are what a deployed stack has (the emulator's region and
    // account): a statement pinned to `${AWS::Region}` does not cover another region. Other
    // references (parameters, resources) read as `*`.
    let template_string = |s: &str| {
        let mut pattern = String::new();
        let mut rest = s;
        while let Some(start) = rest.find("${") {
            pattern.push_str(&rest[..start]);
            let (name, tail) = rest[start + 2..].split_once('}').unwrap_or(("", ""));
            pattern.push_str(match name {
                "AWS::Region" => crate::emulator::REGION,
                "AWS::AccountId" => crate::emulator::ACCOUNT,
                "AWS::Partition" => "aws",
                _ => "*",
            });
            rest = tail;
        }
        pattern.push_str(rest);
        pattern
    };
    match value {
        Value::String(s) => out.push(template_string(s)),
        Value::Sequence(items) => items.iter().for_each(|item| resource_patterns(item, out)),
        Value::Tagged(tagged) => match (tagged.tag.to_string().as_str(), &tagged.value) {
            ("!Sub", Value::String(s)) => out.push(template_string(s)),
            ("!Sub", Value::Sequence(parts)) => {
                if let Some(Value::String(s)) = parts.first() {
                    out.push(template_string(s));
                }
            }
            // Both branches may apply; `AWS::NoValue` adds nothing narrower than its sibling.
            ("!If", Value::Sequence(parts)) => parts.iter().skip(1).for_each(|p| resource_patterns(p, out)),
            // ARNs built from list parameters: each listed name reads as `*`.
            ("!Split", _) => match list_value(value, &template_string) {
                Some(items) => out.extend(items),
                None => out.push("*".into()),
            },
            _ => out.push("*".into()),
        },
        _ => out.push("*".into()),
    }
}

/// A statement's `Condition` block as (operator, key, values); values read as resources do
/// (`!Sub` with the stack's pseudo parameters).
fn conditions_of(value: &Value) -> Vec<Condition> {
    let mut conditions = Vec::new();
    for (operator, keys) in value.as_mapping().into_iter().flatten() {
        for (key, values) in keys.as_mapping().into_iter().flatten() {
            let mut patterns = Vec::new();
            resource_patterns(values, &mut patterns);
            conditions.push((
                operator.as_str().unwrap_or_default().to_owned(),
                key.as_str().unwrap_or_default().to_owned(),
                patterns,
            ));
        }
    }
    conditions
}

/// A template string expression (`!Join`, `!Sub`, `!Ref`) as a pattern; references read as `*`.
fn string_value(value: &Value, template_string: &dyn Fn(&str) -> String) -> Option<String> {
    match value {
        Value::String(s) => Some(template_string(s)),
        Value::Tagged(tagged) => match (tagged.tag.to_string().as_str(), &tagged.value) {
            ("!Ref", _) => Some("*".into()),
            ("!Sub", Value::String(s)) => Some(template_string(s)),
            ("!Join", Value::Sequence(parts)) => {
                let delimiter = parts.first()?.as_str()?;
                let items = list_value(parts.get(1)?, template_string)?;
                Some(items.join(delimiter))
            }
            _ => None,
        },
        _ => None,
    }
}

/// A template list expression (a list, `!Split`, `!Ref` of a list parameter) as patterns.
fn list_value(value: &Value, template_string: &dyn Fn(&str) -> String) -> Option<Vec<String>> {
    match value {
        Value::Sequence(items) => items.iter().map(|item| string_value(item, template_string)).collect(),
        Value::Tagged(tagged) => match (tagged.tag.to_string().as_str(), &tagged.value) {
            ("!Ref", _) => Some(vec!["*".into()]),
            ("!Split", Value::Sequence(parts)) => {
                let delimiter = parts.first()?.as_str()?;
                let text = string_value(parts.get(1)?, template_string)?;
                Some(text.split(delimiter).map(str::to_owned).collect())
            }
            _ => None,
        },
        _ => None,
    }
}

/// The actions each function's inline policies allow, keyed by the function's binary name.
/// Fails on a policy form this check cannot read (a managed policy or SAM policy template),
/// so nothing is granted behind its back.
pub fn template_grants(template: &str) -> Result<BTreeMap<String, Grants>, String> {
    let doc: Value = serde_yaml::from_str(template).map_err(|e| format!("template.yaml: {e}"))?;
    let resources = doc["Resources"].as_mapping().ok_or("template.yaml has no Resources")?;
    let mut grants = BTreeMap::new();
    for (id, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let id = id.as_str().unwrap_or_default();
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .ok_or(format!("{id}: Metadata.BuildProperties.Binary missing"))?;
        let mut function: Grants = BTreeMap::new();
        let policies = resource["Properties"]["Policies"]
            .as_sequence()
            .cloned()
            .unwrap_or_default();
        for policy in &policies {
            let statements = policy["Statement"]
                .as_sequence()
                .ok_or(format!("{id}: a policy without an inline Statement list: {policy:?}"))?;
            // A statement under `!If [condition, statement, !Ref AWS::NoValue]` is granted when
            // its condition holds (a parameter is set): it counts as a grant.
            let statements = statements.iter().flat_map(|statement| match statement {
                Value::Tagged(tagged) if tagged.tag == "!If" => tagged
                    .value
                    .as_sequence()
                    .map(|parts| parts.iter().skip(1).filter(|p| p.is_mapping()).collect::<Vec<_>>())
                    .unwrap_or_default(),
                other => vec![other],
            });
            for statement in statements {
                let sid = statement["Sid"].as_str().unwrap_or("(no Sid)").to_owned();
                if statement["Effect"].as_str() != Some("Allow") {
                    continue;
                }
                let actions = match &statement["Action"] {
                    Value::String(action) => vec![action.clone()],
                    Value::Sequence(list) => list.iter().filter_map(|a| a.as_str().map(str::to_owned)).collect(),
                    other => return Err(format!("{id}/{sid}: Action is neither a string nor a list: {other:?}")),
                };
                let mut resources = Vec::new();
                resource_patterns(&statement["Resource"], &mut resources);
                let conditions = conditions_of(&statement["Condition"]);
                for action in actions {
                    function.entry(action).or_default().push(Grant {
                        sid: sid.clone(),
                        resources: resources.clone(),
                        conditions: conditions.clone(),
                    });
                }
            }
        }
        grants.insert(binary.to_owned(), function);
    }
    Ok(grants)
}

/// What is wrong with one function's grants, as readable lines (empty: exactly right).
pub fn check_function(function: &str, grants: &Grants, calls: &BTreeSet<(String, String)>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut needed: BTreeMap<String, String> = BTreeMap::new();
    for (service, operation) in calls {
        let arn = resource_of(service, operation);
        for action in actions_of(service, operation) {
            let call = format!("{service} {operation}");
            needed.entry(action.clone()).or_insert_with(|| call.clone());
            let Some(statements) = grants.get(&action) else {
                problems.push(format!("{function}: calls {call} but the template grants no {action}"));
                continue;
            };
            if operation.ends_with(ASSUMED) {
                continue;
            }
            let context = request_context(operation, &action);
            // The call's own action is authorized on the ARN it names; an implied one (tag-on-
            // create) on the resource it creates, which the ledger names for its call; PassRole
            // on the role, which it does not.
            let on = if action == "iam:PassRole" { None } else { arn.as_deref() };
            if !statements.iter().any(|g| g.covers(on, &context)) {
                let scopes: Vec<(&Vec<String>, &Vec<Condition>)> =
                    statements.iter().map(|g| (&g.resources, &g.conditions)).collect();
                problems.push(format!(
                    "{function}: calls {call} but grants {action} only on (resources, conditions) {scopes:?}, not on {} with {context:?}",
                    on.unwrap_or("its resource")
                ));
            }
        }
    }
    for (action, statements) in grants {
        let sids: Vec<&str> = statements.iter().map(|g| g.sid.as_str()).collect();
        if action.contains('*') {
            problems.push(format!("{function}: wildcard action {action} in {sids:?}"));
        }
        let documented = DOCUMENTED.iter().any(|(f, a, _)| *f == function && a == action);
        if !needed.contains_key(action) && !documented {
            problems.push(format!(
                "{function}: the template grants {action} ({sids:?}) but no test called it and no documented path needs it"
            ));
        }
    }
    problems.dedup();
    problems
}

/// True when one of the statements granting `action` covers `arn`.
pub fn grants_on(grants: &Grants, action: &str, arn: &str) -> bool {
    grants.get(action).is_some_and(|statements| {
        statements
            .iter()
            .any(|g| g.resources.iter().any(|pattern| deployer::glob::matches(pattern, arn)))
    })
}

/// Every `Resource: "*"` in the template must carry a comment above its statement saying why.
pub fn uncommented_wildcard_resources(template: &str) -> Vec<String> {
    let lines: Vec<&str> = template.lines().collect();
    let mut problems = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        if line.trim() != r#"Resource: "*""# {
            continue;
        }
        let start = (0..n).rev().find(|&i| lines[i].trim_start().starts_with("- Sid:"));
        let commented = start.is_some_and(|i| i > 0 && lines[i - 1].trim_start().starts_with('#'));
        if !commented {
            problems.push(format!(
                "template.yaml:{}: Resource \"*\" without a comment saying why",
                n + 1
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_built_from_list_parameters_read_as_one_pattern_per_kind() {
        let template = r#"
Resources:
  Sync:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: service-sync
    Properties:
      Policies:
        - Statement:
            - Sid: Routes
              Effect: Allow
              Action: apigateway:GET
              Resource: !Split
                - ","
                - !Join
                  - ""
                  - - "arn:*:apigateway:*::/apis/"
                    - !Join
                      - ",arn:*:apigateway:*::/apis/"
                      - !Split
                        - ","
                        - !Join
                          - ""
                          - - !Join ["/routes,", !Ref ApiIds]
                            - "/routes,"
                            - !Join ["/routes/*,", !Ref ApiIds]
                            - "/routes/*"
"#;
        let grants = template_grants(template).unwrap();
        let resources = &grants["service-sync"]["apigateway:GET"][0].resources;
        assert_eq!(
            resources,
            &[
                "arn:*:apigateway:*::/apis/*/routes",
                "arn:*:apigateway:*::/apis/*/routes/*"
            ]
        );
    }
}
