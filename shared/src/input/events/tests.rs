//! Parsing tests over the sample files in `events/` and hand-made bad inputs.

use super::*;
use serde_json::json;

fn sample(name: &str) -> Value {
    let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn field_of(value: Value) -> String {
    parse_image_push(&value).unwrap_err().field
}

#[test]
fn the_sample_events_parse() {
    let ImagePushRequest::Push { detail, .. } = parse_image_push(&sample("ecr-push.json")).unwrap() else {
        panic!("not a push")
    };
    assert_eq!(
        (detail.action_type.as_str(), detail.repository_name.as_str()),
        ("PUSH", "orders")
    );
    assert_eq!(detail.image_tag.as_deref(), Some("latest"));
    // A replica's arrival in its own region is a push there.
    let ImagePushRequest::Push { detail, .. } = parse_image_push(&sample("ecr-replication.json")).unwrap() else {
        panic!("not a push")
    };
    assert_eq!(
        (detail.action_type.as_str(), detail.image_tag.as_deref()),
        ("REPLICATE", Some("latest"))
    );
    assert!(matches!(
        parse_image_push(&sample("ecr-delete.json")),
        Ok(ImagePushRequest::Push { .. })
    ));
    assert_eq!(
        parse_image_push(&sample("manual-deploy-tag.json")).unwrap(),
        ImagePushRequest::Deploy {
            app: "orders".into(),
            target: DeployTarget::Tag("latest".into()),
            override_gate: false,
            by: Some("alice".into()),
            dry_run: false
        }
    );
    assert!(parse_image_push(&sample("manual-deploy-dry-run.json"))
        .unwrap()
        .dry_run());
    assert!(matches!(
        parse_image_push(&sample("manual-deploy-digest.json")).unwrap(),
        ImagePushRequest::Deploy {
            target: DeployTarget::Digest(_),
            ..
        }
    ));
    assert_eq!(
        parse_image_push(&sample("manual-rollback-revision-dry-run.json")).unwrap(),
        ImagePushRequest::Rollback {
            app: "orders".into(),
            revision: Some(1),
            force: false,
            by: None,
            dry_run: true
        }
    );
    assert_eq!(
        parse_image_push(&sample("manual-deploy-revision.json")).unwrap(),
        ImagePushRequest::Deploy {
            app: "orders".into(),
            target: DeployTarget::Revision {
                revision: 3,
                digest: None
            },
            override_gate: false,
            by: Some("alice".into()),
            dry_run: false
        }
    );
}

#[test]
fn a_gate_task_stop_parses_with_its_containers_exit_codes() {
    let ImagePushRequest::Task { detail } = parse_image_push(&sample("ecs-task-stopped.json")).unwrap() else {
        panic!("not a task state change")
    };
    assert_eq!(
        (
            detail.last_status.as_str(),
            detail.started_by.as_deref(),
            detail.stop_code.as_deref()
        ),
        ("STOPPED", Some("ecs-deployer/gate"), Some("EssentialContainerExited"))
    );
    assert_eq!(
        (detail.containers[0].name.as_str(), detail.containers[0].exit_code),
        ("app", Some(1))
    );
    // A task event without its task names the field.
    let mut event = sample("ecs-task-stopped.json");
    event["detail"].as_object_mut().unwrap().remove("taskArn");
    assert!(field_of(event).contains("taskArn"));
}

#[test]
fn a_deploy_of_a_revision_takes_a_digest_never_a_tag() {
    let parse = |deploy: serde_json::Value| parse_image_push(&json!({ "deploy": deploy }));
    let digest = format!("sha256:{}", "a".repeat(64));
    assert_eq!(
        parse(json!({"app": "orders", "revision": 3, "digest": digest})).unwrap(),
        ImagePushRequest::Deploy {
            app: "orders".into(),
            target: DeployTarget::Revision {
                revision: 3,
                digest: Some(digest)
            },
            override_gate: false,
            by: None,
            dry_run: false
        }
    );
    assert!(matches!(
        parse(json!({"app": "orders", "tag": "v1", "override": true})).unwrap(),
        ImagePushRequest::Deploy {
            override_gate: true,
            ..
        }
    ));
    let field = |deploy| parse(deploy).unwrap_err().field;
    assert_eq!(
        field(json!({"app": "orders", "revision": 3, "tag": "v1"})),
        "deploy.tag"
    );
    assert_eq!(field(json!({"app": "orders", "revision": 0})), "deploy.revision");
    assert_eq!(
        field(json!({"app": "orders", "revision": 3, "digest": "md5:1"})),
        "deploy.digest"
    );
    let forced = parse_image_push(&json!({"rollback": {"app": "orders", "revision": 3, "force": true}})).unwrap();
    assert!(
        matches!(forced, ImagePushRequest::Rollback { force: true, .. }),
        "{forced:?}"
    );
}

#[test]
fn errors_name_the_field() {
    let mut event = sample("ecr-push.json");
    event["detail"]["image-digest"] = json!("md5:1");
    assert_eq!(field_of(event), "detail.image-digest");
    let mut event = sample("ecr-push.json");
    event["detail"].as_object_mut().unwrap().remove("action-type");
    assert_eq!(field_of(event), "detail.action-type");
    let mut event = sample("ecr-push.json");
    event["detail"]["result"] = json!(7);
    assert_eq!(field_of(event), "detail.result");
    let mut event = sample("ecr-push.json");
    event["source"] = json!("aws.s3");
    assert_eq!(field_of(event), "source");
    let mut event = sample("ecr-push.json");
    event.as_object_mut().unwrap().remove("detail");
    assert_eq!(field_of(event), "detail");
    assert_eq!(field_of(json!({"deploy": {"tag": "x"}})), "deploy.app");
    assert_eq!(
        field_of(json!({"deploy": {"app": "a", "tag": "bad tag"}})),
        "deploy.tag"
    );
    assert_eq!(
        field_of(json!({"deploy": {"app": "a", "digest": "sha256:12"}})),
        "deploy.digest"
    );
    assert_eq!(
        field_of(json!({"deploy": {"app": "a", "tag": "v", "extra": 1}})),
        "deploy.extra"
    );
    assert_eq!(
        field_of(json!({"rollback": {"app": "a", "revision": 0}})),
        "rollback.revision"
    );
    assert_eq!(field_of(json!({"dry_run": true})), "$");
    assert_eq!(field_of(json!("deploy")), "$");
}

#[test]
fn the_service_sync_samples_parse() {
    let ServiceSyncRequest::Deployment { service_arn, detail } =
        parse_service_sync(&sample("ecs-deployment-completed.json")).unwrap()
    else {
        panic!("not a deployment event")
    };
    assert_eq!(
        service_arn,
        "arn:aws:ecs:ap-northeast-1:123456789012:service/sss/orders"
    );
    assert_eq!(detail.event_name, "SERVICE_DEPLOYMENT_COMPLETED");
    let failed = parse_service_sync(&sample("ecs-deployment-failed.json")).unwrap();
    assert!(
        matches!(failed, ServiceSyncRequest::Deployment { detail, .. } if detail.reason.as_deref().is_some_and(|r| r.contains("circuit breaker")))
    );
    assert_eq!(
        parse_service_sync(&sample("scheduled.json")).unwrap(),
        ServiceSyncRequest::Scheduled
    );
    assert_eq!(
        parse_service_sync(&sample("manual-sync.json")).unwrap(),
        ServiceSyncRequest::Manual {
            apps: Some(vec!["orders".into()]),
            dry_run: false
        }
    );
    assert!(parse_service_sync(&sample("manual-sync-dry-run.json"))
        .unwrap()
        .dry_run());
    assert_eq!(
        parse_service_sync(&sample("manual-retention-dry-run.json")).unwrap(),
        ServiceSyncRequest::Retention {
            app: Some("orders".into()),
            dry_run: true
        }
    );
    let err = parse_service_sync(&json!({"retention": {"app": "orders", "keep": 3}})).unwrap_err();
    assert!(err.to_string().contains("keep"), "{err}");
    assert_eq!(
        parse_service_sync(&sample("ecr-push.json")).unwrap_err().field,
        "detail-type"
    );
    let mut event = sample("ecs-deployment-completed.json");
    event["detail"].as_object_mut().unwrap().remove("deploymentId");
    assert_eq!(parse_service_sync(&event).unwrap_err().field, "detail.deploymentId");
}

#[test]
fn digests_and_tags_are_checked() {
    assert!(is_digest(&format!("sha256:{}", "a".repeat(64))));
    assert!(!is_digest(&format!("sha256:{}", "A".repeat(64))));
    assert!(!is_digest("sha256:abc"));
    assert!(is_tag("release-1.2_3"));
    assert!(!is_tag(""));
    // ECR takes tags of up to 300 characters (Docker's stop at 128).
    assert!(is_tag(&"x".repeat(300)));
    assert!(!is_tag(&"x".repeat(301)));
    assert!(!is_tag("a/b"));
}

#[test]
fn a_manual_payload_naming_one_item_twice_is_refused_with_both_places() {
    let err = parse_service_sync(&serde_json::json!({"sync": {"apps": ["orders", "billing", "orders"]}})).unwrap_err();
    assert_eq!(err.field, "sync.apps[2]");
    assert!(err.to_string().contains("`orders` is already at sync.apps[0]"), "{err}");
    let arn = "arn:aws:elasticloadbalancing:r:1:targetgroup/nlb/1";
    let err = parse_nlb_sync(&serde_json::json!({"sync": {"target_groups": [arn, arn]}})).unwrap_err();
    assert_eq!(err.field, "sync.target_groups[1]");
}

#[test]
fn a_push_of_a_long_tag_parses_and_is_left_to_the_selection() {
    // ECR allows 300-character tags: such a push is an event like any other, never an error
    // that Lambda would retry and alarm on.
    for tag in ["x".repeat(200), "a/b".into()] {
        let mut event = sample("ecr-push.json");
        event["detail"]["image-tag"] = tag.clone().into();
        let request = parse_image_push(&event).unwrap();
        assert!(
            matches!(&request, ImagePushRequest::Push { detail, .. } if detail.image_tag.as_deref() == Some(tag.as_str())),
            "{request:?}"
        );
    }
}

#[test]
fn by_keeps_printable_characters_and_80_of_them() {
    let by = parse_manual_by;
    assert_eq!(by("alice").unwrap(), "alice");
    // A newline would forge a log line; escape sequences would repaint a terminal.
    assert_eq!(
        by("alice\n2026-12-06 INFO approved by root").unwrap(),
        "alice2026-12-06 INFO approved by root"
    );
    assert_eq!(by("\u{1b}[2Jmallory").unwrap(), "[2Jmallory");
    assert_eq!(
        by(&"a".repeat(200)).unwrap().chars().count(),
        super::manual::MAX_BY_CHARS
    );
    assert_eq!(by(" \n\t ").unwrap_err(), "by");
}

/// The `by` a deploy payload keeps.
fn parse_manual_by(by: &str) -> Result<String, String> {
    match parse_image_push(&json!({"deploy": {"app": "orders", "tag": "v1"}, "by": by})) {
        Ok(ImagePushRequest::Deploy { by, .. }) => Ok(by.unwrap()),
        Ok(other) => panic!("{other:?}"),
        Err(err) => Err(err.field),
    }
}
