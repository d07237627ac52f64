//! Facts of `template.yaml` that AWS would hold against it and no emulator shows: alarms that
//! can reach their topic, push rules that leave the deployer's own tags out.

use deployer_devkit::emulator::repo_root;
use serde_yaml::Value;

fn template() -> Value {
    serde_yaml::from_str(&std::fs::read_to_string(repo_root().join("template.yaml")).unwrap()).unwrap()
}

/// Every statement of every function's inline policies (those under `!If` left out).
fn function_statements(doc: &Value) -> Vec<&Value> {
    doc["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .flat_map(|r| r["Properties"]["Policies"].as_sequence().into_iter().flatten())
        .flat_map(|p| p["Statement"].as_sequence().into_iter().flatten())
        .collect()
}

/// The logical id a `!Ref X` names.
fn ref_of(value: &Value) -> Option<&str> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "!Ref" => tagged.value.as_str(),
        _ => None,
    }
}

/// Every alarm's topic is unencrypted or encrypted with a key of the template whose policy lets
/// CloudWatch use it: with the AWS-managed `alias/aws/sns` key CloudWatch cannot publish, and no
/// alarm is ever delivered.
#[test]
fn every_alarm_topic_is_one_cloudwatch_can_publish_to() {
    let doc = template();
    let resources = doc["Resources"].as_mapping().unwrap();
    let mut topics = Vec::new();
    for (_, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::CloudWatch::Alarm") {
            continue;
        }
        for action in resource["Properties"]["AlarmActions"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            topics.push(
                ref_of(action)
                    .expect("an alarm action names a topic of the template")
                    .to_owned(),
            );
        }
    }
    assert!(!topics.is_empty(), "the template has alarms");
    for topic in topics {
        let key = &doc["Resources"][topic.as_str()]["Properties"]["KmsMasterKeyId"];
        if key.is_null() {
            continue;
        }
        assert_ne!(
            key.as_str(),
            Some("alias/aws/sns"),
            "{topic}: CloudWatch cannot use the AWS-managed key"
        );
        let key_id = ref_of(key).unwrap_or_else(|| panic!("{topic}: a key of the template, got {key:?}"));
        let statements = doc["Resources"][key_id]["Properties"]["KeyPolicy"]["Statement"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{key_id}: a key policy"));
        let allows_cloudwatch = statements.iter().any(|s| {
            let actions: Vec<&str> = match &s["Action"] {
                Value::Sequence(list) => list.iter().filter_map(Value::as_str).collect(),
                other => other.as_str().into_iter().collect(),
            };
            s["Effect"] == "Allow"
                && s["Principal"]["Service"] == "cloudwatch.amazonaws.com"
                && actions.contains(&"kms:Decrypt")
                && actions.iter().any(|a| a.starts_with("kms:GenerateDataKey"))
        });
        assert!(
            allows_cloudwatch,
            "{key_id}: CloudWatch may Decrypt and GenerateDataKey"
        );
    }
}

/// Every rule that sends ECR pushes to image-push leaves out the `live-`/`prev-` tags the
/// deployer moves itself (a `PutImage` is a push).
#[test]
fn every_push_rule_leaves_out_the_deployers_own_tags() {
    let doc = template();
    let mut patterns = Vec::new();
    fn walk<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
        match value {
            Value::Mapping(map) => {
                if map
                    .get("detail-type")
                    .and_then(Value::as_sequence)
                    .is_some_and(|types| types.iter().any(|t| t.as_str() == Some("ECR Image Action")))
                {
                    out.push(value);
                }
                map.values().for_each(|v| walk(v, out));
            }
            Value::Sequence(items) => items.iter().for_each(|v| walk(v, out)),
            Value::Tagged(tagged) => walk(&tagged.value, out),
            _ => {}
        }
    }
    walk(&doc["Resources"], &mut patterns);
    assert!(patterns.len() >= 2, "the push rule and the sources bus's rule");
    for pattern in patterns {
        let excluded = &pattern["detail"]["image-tag"][0]["anything-but"]["wildcard"];
        let excluded: Vec<&str> = excluded
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let reserved: Vec<String> = deployer::input::events::RESERVED_TAG_PREFIXES
            .iter()
            .map(|prefix| format!("{prefix}*"))
            .collect();
        assert_eq!(excluded, reserved, "{pattern:?}");
    }
}

/// The image-push error alarm counts failures, not deferred invocations: the metric it
/// subtracts is the one `job::settle` writes (its namespace, name and dimension).
#[test]
fn the_image_push_error_alarm_leaves_deferred_invocations_out() {
    let doc = template();
    let metrics = doc["Resources"]["ImagePushErrorsAlarm"]["Properties"]["Metrics"]
        .as_sequence()
        .expect("a metric-math alarm");
    let expression = metrics.iter().find_map(|m| m["Expression"].as_str()).unwrap();
    assert!(expression.contains("errors - FILL(deferred, 0)"), "{expression}");
    let deferred = metrics.iter().find(|m| m["Id"].as_str() == Some("deferred")).unwrap();
    let metric = &deferred["MetricStat"]["Metric"];
    assert_eq!(metric["Namespace"].as_str(), Some(deployer::job::INVOCATIONS_NAMESPACE));
    assert_eq!(metric["MetricName"].as_str(), Some(deployer::job::DEFERRED_METRIC));
    assert_eq!(metric["Dimensions"][0]["Name"].as_str(), Some("Function"));
    assert_eq!(
        metric["Dimensions"][0]["Value"].as_str(),
        Some(deployer::image_push::NAME)
    );
}

/// The state bucket the template makes refuses writes from anyone but the functions that keep
/// state there (each function allowed to put objects in it) and the listed repairers: records
/// steer rollbacks and promotions, so no other principal of the account may forge one.
#[test]
fn only_the_deployers_functions_write_the_state_bucket() {
    let doc = template();
    let resources = doc["Resources"].as_mapping().unwrap();
    let statements = doc["Resources"]["StateBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        .as_sequence()
        .expect("the state bucket's policy");
    let deny = statements
        .iter()
        .find(|s| {
            s["Effect"].as_str() == Some("Deny")
                && s["Action"]
                    .as_sequence()
                    .is_some_and(|a| a.iter().any(|a| a.as_str() == Some("s3:PutObject")))
        })
        .expect("a statement that denies writes");
    let actions: Vec<&str> = deny["Action"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(actions.contains(&"s3:DeleteObject") && actions.contains(&"s3:DeleteObjectVersion"));
    let allowed = serde_yaml::to_string(&deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"]).unwrap();
    let writers: Vec<String> = resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .filter(|(_, r)| {
            let text = serde_yaml::to_string(&r["Properties"]).unwrap();
            text.contains("s3:PutObject") && text.contains("StateBucket")
        })
        .map(|(id, _)| format!("{}Role.Arn", id.as_str().unwrap()))
        .collect();
    assert_eq!(writers.len(), 4, "{writers:?}");
    for writer in &writers {
        assert!(
            allowed.contains(writer.as_str()),
            "{writer} may not write its state: {allowed}"
        );
    }
    assert!(allowed.contains("StateWriters"), "{allowed}");
}

/// Every statement that lets a function publish names the deployer's own event source, and every
/// ECR statement the registry accounts: a function cannot publish as another source, nor read or
/// tag images in a registry nobody listed.
#[test]
fn publishing_names_its_source_and_ecr_statements_name_their_registry_accounts() {
    let doc = template();
    let mut seen = (0, 0);
    for statement in function_statements(&doc) {
        let text = serde_yaml::to_string(&statement["Action"]).unwrap();
        let condition = &statement["Condition"]["StringEquals"];
        if text.contains("events:PutEvents") {
            seen.0 += 1;
            assert_eq!(
                condition["events:source"].as_str(),
                Some(deployer::notify::SOURCE),
                "{statement:?}"
            );
        }
        if text.contains("ecr:") {
            seen.1 += 1;
            assert!(!condition["aws:ResourceAccount"].is_null(), "{statement:?}");
        }
    }
    assert_eq!(seen, (4, 3), "the statements checked");
}

/// The configuration decides what the deployer manages: the bucket the template makes lets only
/// `ConfigWriters` change it when they are listed, and every function reads it only from a bucket
/// of the expected account (a bucket name another account claimed is never read).
#[test]
fn the_configuration_is_written_by_the_listed_and_read_from_the_expected_account() {
    let doc = template();
    let policy = serde_yaml::to_string(&doc["Resources"]["DeployerConfigBucketPolicy"]).unwrap();
    assert!(policy.contains("OnlyListedWritersChangeTheConfiguration"), "{policy}");
    assert!(policy.contains("ConfigWriters"), "{policy}");
    let reads: Vec<&Value> = function_statements(&doc)
        .into_iter()
        .filter(|s| s["Sid"].as_str() == Some("ReadConfiguration"))
        .collect();
    assert_eq!(reads.len(), 4, "every function reads the configuration");
    for statement in reads {
        assert!(
            !statement["Condition"]["StringEquals"]["aws:ResourceAccount"].is_null(),
            "{statement:?}"
        );
    }
}

/// Only what is asked for runs: nlb-sync (its function, schedule, log group and alarm) exists
/// only with `EnableNlbSync`, service-sync's API permissions only with `EnableApiSync`, both off
/// by default; service-sync is told what the stack grants, so its scheduled run can say what
/// the configuration needs beyond it.
#[test]
fn nlb_sync_and_api_sync_run_only_when_enabled_and_service_sync_knows_the_grants() {
    let doc = template();
    for (parameter, condition) in [("EnableNlbSync", "NlbSyncEnabled"), ("EnableApiSync", "ApiSyncEnabled")] {
        assert_eq!(doc["Parameters"][parameter]["Default"].as_str(), Some("false"));
        let text = serde_yaml::to_string(&doc["Conditions"][condition]).unwrap();
        assert!(text.contains(parameter), "{condition}: {text}");
    }
    for id in ["NlbSyncFunction", "NlbSyncLogGroup", "NlbSyncErrorsAlarm"] {
        assert_eq!(
            doc["Resources"][id]["Condition"].as_str(),
            Some("NlbSyncEnabled"),
            "{id}"
        );
    }
    for output in ["NlbSyncFunctionArn", "NlbSyncFunctionName", "NlbSyncRoleArn"] {
        assert_eq!(
            doc["Outputs"][output]["Condition"].as_str(),
            Some("NlbSyncEnabled"),
            "{output}"
        );
    }
    // The API statement is the one under `!If ApiSyncEnabled`; no unconditioned one grants it.
    assert!(function_statements(&doc).iter().all(|s| {
        let actions = serde_yaml::to_string(&s["Action"]).unwrap();
        !actions.contains("apigateway:")
    }));
    let service_sync = serde_yaml::to_string(&doc["Resources"]["ServiceSyncFunction"]["Properties"]).unwrap();
    assert!(service_sync.contains("ApiSyncEnabled") && service_sync.contains("apigateway:POST"));
    let variables = &doc["Resources"]["ServiceSyncFunction"]["Properties"]["Environment"]["Variables"];
    for (variable, parameter) in [
        (deployer::input::env::ENV_WATCHED_REPOSITORIES, "WatchedRepositories"),
        (deployer::input::env::ENV_GRANTED_CLUSTERS, "ClusterNames"),
    ] {
        let value = serde_yaml::to_string(&variables[variable]).unwrap();
        assert!(value.contains(parameter), "{variable}: {value}");
    }
}
