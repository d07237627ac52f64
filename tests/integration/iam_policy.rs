//! Least privilege, proven: `template.yaml` grants each function every AWS action it called in
//! the integration tests, and nothing that neither a test nor a documented path uses.

use std::collections::BTreeSet;

use deployer_devkit::emulator::{calls_dir, repo_root};
use deployer_devkit::iam::{
    actions_of, check_function, grants_on, read_ledger, resource_of, template_grants, uncommented_wildcard_resources,
};

const FUNCTIONS: [&str; 4] = ["image-push", "service-sync", "nlb-sync", "deploy-worker"];

fn template() -> String {
    std::fs::read_to_string(repo_root().join("template.yaml")).expect("template.yaml")
}

#[test]
#[ignore = "reads the AWS calls the other integration tests record: `make test` runs it after them"]
fn template_grants_each_function_exactly_what_the_tests_called() {
    let ledger = read_ledger(&calls_dir());
    let grants = template_grants(&template()).unwrap();
    let mut problems = Vec::new();
    for function in FUNCTIONS {
        let calls = ledger.get(function).cloned().unwrap_or_default();
        assert!(
            calls.len() >= 3,
            "only {} recorded calls of {function} in {}: run the integration tests first (make test)",
            calls.len(),
            calls_dir().display()
        );
        let function_grants = grants
            .get(function)
            .unwrap_or_else(|| panic!("no function {function} in the template"));
        problems.extend(check_function(function, function_grants, &calls));
        let actions: BTreeSet<String> = calls.iter().flat_map(|(s, o)| actions_of(s, o)).collect();
        println!("{function}: {} recorded operations need {actions:?}", calls.len());
    }
    assert!(
        problems.is_empty(),
        "template.yaml IAM does not match the calls:\n{}",
        problems.join("\n")
    );
}

#[test]
fn a_policy_missing_an_action_fails_the_check() {
    let template = template();
    let grants = template_grants(&template).unwrap();
    let calls: BTreeSet<(String, String)> = [("ecs", "DescribeServices"), ("ecs", "UpdateService")]
        .into_iter()
        .map(|(s, o)| (s.to_owned(), o.to_owned()))
        .collect();
    let without_update = template.replacen("                - ecs:UpdateService\n", "", 1);
    assert_ne!(
        without_update, template,
        "the template grants image-push ecs:UpdateService"
    );
    let weakened = template_grants(&without_update).unwrap();
    let problems = check_function("image-push", &weakened["image-push"], &calls);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("calls ecs UpdateService") && p.contains("ecs:UpdateService")),
        "{problems:?}"
    );
    // And the unweakened grants report the actions these two calls do not use as unused.
    let problems = check_function("image-push", &grants["image-push"], &calls);
    assert!(
        problems.iter().any(|p| p.contains("grants ecr:DescribeImages")),
        "{problems:?}"
    );
    assert!(!problems.iter().any(|p| p.contains("UpdateService")), "{problems:?}");
}

#[test]
fn a_policy_scoped_to_the_wrong_resource_fails_the_check() {
    let template = template();
    let calls: BTreeSet<(String, String)> = [("s3", "PUT /deployer-state/leases/sss/orders.json")]
        .into_iter()
        .map(|(s, o)| (s.to_owned(), o.to_owned()))
        .collect();
    let grants = template_grants(&template).unwrap();
    let problems = check_function("image-push", &grants["image-push"], &calls);
    assert!(!problems.iter().any(|p| p.contains("PutObject")), "{problems:?}");
    let narrowed = template.replacen(
        r#"- !Sub ["arn:${AWS::Partition}:s3:::${Bucket}/leases/*", {Bucket: !If [CreateStateBucket, !Ref StateBucket, !Ref ExistingStateBucket]}]"#,
        r#"- !Sub ["arn:${AWS::Partition}:s3:::${Bucket}/locks/*", {Bucket: !If [CreateStateBucket, !Ref StateBucket, !Ref ExistingStateBucket]}]"#,
        1,
    );
    assert_ne!(narrowed, template, "the template scopes the leases to leases/*");
    let problems = check_function("image-push", &template_grants(&narrowed).unwrap()["image-push"], &calls);
    assert!(
        problems.iter().any(|p| p.contains("grants s3:PutObject only on")),
        "{problems:?}"
    );
}

#[test]
fn recorded_calls_map_to_the_iam_actions_aws_authorizes() {
    assert_eq!(actions_of("s3", "GET /deployer-config/config.json"), ["s3:GetObject"]);
    assert_eq!(actions_of("s3", "PUT /state/tg/alb-80.json"), ["s3:PutObject"]);
    assert_eq!(actions_of("s3", "GET /state"), ["s3:ListBucket"]);
    assert_eq!(
        actions_of("apigateway", "PATCH /v2/apis/a1/routes/r1"),
        ["apigateway:PATCH"]
    );
    assert_eq!(
        actions_of("elasticloadbalancing", "RegisterTargets"),
        ["elasticloadbalancing:RegisterTargets"]
    );
    assert_eq!(
        resource_of("apigateway", "PATCH /v2/apis/a1/routes/r1").as_deref(),
        Some("arn:aws:apigateway:ap-northeast-1::/apis/a1/routes/r1")
    );
    assert_eq!(resource_of("ecs", "UpdateService"), None);
    assert_eq!(
        actions_of("ecs", "RegisterTaskDefinition"),
        ["ecs:RegisterTaskDefinition", "ecs:TagResource", "iam:PassRole"]
    );
}

#[test]
fn wildcard_resources_are_commented_and_no_action_is_a_wildcard() {
    let template = template();
    assert_eq!(uncommented_wildcard_resources(&template), Vec::<String>::new());
    let uncommented = template.replacen(
        "            # DescribeTaskDefinition, RegisterTaskDefinition and ListTaskDefinitions are granted\n            \
         # on \"*\": the deployer could not confirm from ECS's service authorization reference\n            \
         # which resource types and condition keys (`ecs:task-definition`) these actions\n            \
         # evaluate, and a scope AWS does not evaluate denies every deploy. The code\n            \
         # registers revisions only of the configured services' own families.\n",
        "",
        1,
    );
    assert_eq!(
        uncommented_wildcard_resources(&uncommented).len(),
        1,
        "removing a comment is noticed"
    );
    for (function, grants) in template_grants(&template).unwrap() {
        for action in grants.keys() {
            assert!(
                !action.contains('*'),
                "{function} is granted the wildcard action {action}"
            );
        }
    }
}

/// Applications may name another region (`region`): what a deploy there calls is granted there
/// too. The check reads the template with the stack's own region and account for the pseudo
/// parameters, so a statement pinned to `${AWS::Region}` fails it for another region.
#[test]
fn every_region_an_app_may_name_is_granted() {
    let grants = template_grants(&template()).unwrap();
    let own = deployer_devkit::emulator::ACCOUNT;
    let in_region = |region: &str, resource: &str| format!("arn:aws:ecs:{region}:{own}:{resource}");
    for region in [deployer_devkit::emulator::REGION, "eu-west-1"] {
        let revision = in_region(region, "task-definition/orders:3");
        for (function, action) in [
            ("image-push", "ecs:TagResource"),
            ("service-sync", "ecs:ListTagsForResource"),
            ("image-push", "ecs:UpdateService"),
        ] {
            let arn = if action == "ecs:UpdateService" {
                in_region(region, "service/sss/orders")
            } else {
                revision.clone()
            };
            assert!(
                grants_on(&grants[function], action, &arn),
                "{function}: {action} on {arn}"
            );
        }
        let cloud_map = format!("arn:aws:servicediscovery:{region}:{own}:service/srv-1");
        assert!(
            grants_on(&grants["service-sync"], "servicediscovery:UpdateService", &cloud_map),
            "{cloud_map}"
        );
    }
    // The pseudo parameters are the stack's, not `*`: another account's revision is not granted
    // (a workload account's calls go through its own role).
    assert!(!grants_on(
        &grants["service-sync"],
        "ecs:ListTagsForResource",
        "arn:aws:ecs:eu-west-1:999999999999:task-definition/x:1"
    ));
}

/// Conditions are evaluated, and JSON calls are checked on the ARN they name, in whatever region:
/// tag-on-create holds only under `ecs:CreateAction: RegisterTaskDefinition`; a revision or a
/// service in another region is covered; a short-ARN service is not (docs/accounts-and-regions.md says what to add).
#[test]
fn conditions_and_the_arns_of_json_calls_are_checked() {
    let template = template();
    let calls = |ops: &[&str]| -> BTreeSet<(String, String)> {
        ops.iter().map(|op| ("ecs".to_owned(), (*op).to_owned())).collect()
    };
    let grants = template_grants(&template).unwrap();
    let elsewhere = calls(&[
        "RegisterTaskDefinition arn:aws:ecs:eu-west-1:123456789012:task-definition/orders:1",
        "UpdateService arn:aws:ecs:eu-west-1:123456789012:service/sss-eu/orders",
    ]);
    let problems = check_function("image-push", &grants["image-push"], &elsewhere);
    assert!(!problems.iter().any(|p| p.contains("calls ecs")), "{problems:?}");

    let wrong_condition = template.replacen(
        "ecs:CreateAction: RegisterTaskDefinition",
        "ecs:CreateAction: CreateService",
        1,
    );
    assert_ne!(wrong_condition, template, "the template conditions tag-on-create");
    let problems = check_function(
        "image-push",
        &template_grants(&wrong_condition).unwrap()["image-push"],
        &elsewhere,
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("calls ecs RegisterTaskDefinition") && p.contains("grants ecs:TagResource only on")),
        "{problems:?}"
    );

    let short_arn = calls(&["UpdateService arn:aws:ecs:eu-west-1:123456789012:service/legacy"]);
    let problems = check_function("image-push", &grants["image-push"], &short_arn);
    assert!(
        problems.iter().any(|p| p.contains("grants ecs:UpdateService only on")),
        "{problems:?}"
    );
}
