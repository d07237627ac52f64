//! Planning and selection over hand-made observations.

use super::*;
use aws_sdk_ecs::types::ServiceRegistry;

use crate::aws::apigw::{Integration, Route};
use crate::aws::cloudmap::{CloudMapService, Namespace};
use crate::input::config::{AppConfig, Config};
use crate::input::events::EcsDeploymentDetail;
use crate::ownership::integration_marker;
use crate::testing::{app, service};

/// The function's place in these tests: the account of the events' ARNs (`1`) is not checked
/// outside Lambda.
const OWN: OwnPlace<'static> = OwnPlace {
    account: None,
    region: "ap-northeast-1",
};

const CM_ARN: &str = "arn:aws:servicediscovery:ap-northeast-1:123456789012:service/srv-1";

fn synced_app() -> AppConfig {
    let mut app = app();
    app.cloud_map =
        serde_json::from_value(serde_json::json!({"namespace": "sss.internal", "service": "orders", "port": 8080}))
            .unwrap();
    app.api = serde_json::from_value(serde_json::json!({
        "api_id": "api1", "vpc_link_id": "vl1", "authorizer_id": "au1", "methods": ["GET", "POST"]
    }))
    .unwrap();
    app
}

fn route(id: &str, key: &str, target: &str, authorizer: Option<&str>) -> Route {
    Route {
        id: id.into(),
        key: key.into(),
        target: Some(target.into()),
        authorization_type: if authorizer.is_some() { "JWT" } else { "NONE" }.into(),
        authorizer_id: authorizer.map(str::to_owned),
    }
}

/// A world where everything is as configured.
fn in_step() -> Observation {
    let mut svc = service("arn:td/orders:3");
    svc.registries = vec![ServiceRegistry::builder()
        .registry_arn(CM_ARN)
        .container_name("app")
        .container_port(8080)
        .build()];
    Observation {
        service: Some(svc),
        namespaces: vec![Namespace {
            id: "ns-1".into(),
            name: "sss.internal".into(),
            kind: "DNS_PRIVATE".into(),
        }],
        cloud_map_services: vec![CloudMapService {
            id: "srv-1".into(),
            arn: CM_ARN.into(),
            name: "orders".into(),
            namespace_id: "ns-1".into(),
            record_type: Some("SRV".into()),
            ttl: Some(300),
            custom_health_check: true,
        }],
        integrations: vec![Integration {
            id: "int1".into(),
            integration_type: "HTTP_PROXY".into(),
            connection_type: "VPC_LINK".into(),
            connection_id: Some("vl1".into()),
            uri: Some(CM_ARN.into()),
            method: Some("ANY".into()),
            payload_format_version: Some("1.0".into()),
            description: Some(integration_marker("orders")),
            path_mapping: Some("$request.path".into()),
        }],
        routes: vec![
            route("r1", "GET /{proxy+}", "integrations/int1", Some("au1")),
            route("r2", "POST /{proxy+}", "integrations/int1", Some("au1")),
        ],
        api_record: serde_json::from_value(serde_json::json!({
            "routes": {"r1": {"app": "orders", "key": "GET /{proxy+}"}, "r2": {"app": "orders", "key": "POST /{proxy+}"}},
            "integrations": {"int1": {"app": "orders"}}
        }))
        .unwrap(),
        recording: true,
        revisions: None,
        revisions_in_use: Default::default(),
        last_good: None,
        completed_revisions: Vec::new(),
    }
}

#[test]
fn a_world_in_step_plans_nothing() {
    let plan = plan_app(&synced_app(), &in_step()).unwrap();
    assert_eq!(plan, Plan::default());
}

#[test]
fn an_empty_world_plans_everything_in_order() {
    let mut obs = in_step();
    obs.cloud_map_services.clear();
    obs.integrations.clear();
    obs.routes.clear();
    obs.service.as_mut().unwrap().registries.clear();
    let plan = plan_app(&synced_app(), &obs).unwrap();
    let kinds: Vec<&str> = plan
        .steps
        .iter()
        .map(|s| match s {
            Step::CreateCloudMapService(_) => "cloud map",
            Step::SetServiceRegistry {
                registry: CloudMapRef::Created,
                ..
            } => "registry",
            Step::CreateIntegration {
                uri: CloudMapRef::Created,
                ..
            } => "integration",
            Step::CreateRoute {
                integration: IntegrationRef::Created,
                ..
            } => "route",
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(kinds, vec!["cloud map", "registry", "integration", "route", "route"]);
    assert_eq!(
        plan.actions[3],
        "+ route GET /{proxy+} -> the new integration (JWT au1)"
    );
}

#[test]
fn routes_are_corrected_and_only_this_applications_extras_deleted() {
    let mut obs = in_step();
    obs.routes = vec![
        route("r1", "GET /{proxy+}", "integrations/other", Some("au1")),
        route("r2", "POST /{proxy+}", "integrations/int1", None),
        route("r3", "POST /{proxy+}", "integrations/int1", Some("au1")),
        route("r4", "DELETE /{proxy+}", "integrations/int1", Some("au1")),
        route("r5", "PUT /payments", "integrations/other", None),
    ];
    let plan = plan_app(&synced_app(), &obs).unwrap();
    let touched: Vec<String> = plan
        .steps
        .iter()
        .map(|s| match s {
            Step::UpdateRoute { route_id, .. } => format!("~{route_id}"),
            Step::DeleteRoute { route_id, .. } => format!("-{route_id}"),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    // r1 is pointed back, r2 kept (ours) and corrected, r3 its duplicate deleted, r4 stale.
    assert_eq!(touched, vec!["~r1", "~r2", "-r3", "-r4"]);
}

#[test]
fn what_cloud_map_fixes_at_creation_is_refused_before_any_write() {
    let mut obs = in_step();
    obs.cloud_map_services[0].record_type = Some("A".into());
    obs.service.as_mut().unwrap().registries.clear();
    let err = plan_app(&synced_app(), &obs).unwrap_err();
    assert!(
        err.contains("has A records, configured SRV") && err.contains("Nothing was changed"),
        "{err}"
    );
    obs.cloud_map_services[0].record_type = Some("SRV".into());
    obs.cloud_map_services[0].custom_health_check = false;
    let err = plan_app(&synced_app(), &obs).unwrap_err();
    assert!(err.contains("no custom health check"), "{err}");
    obs.cloud_map_services[0].custom_health_check = true;
    obs.cloud_map_services[0].ttl = Some(60);
    obs.service.as_mut().unwrap().registries = in_step().service.unwrap().registries;
    let plan = plan_app(&synced_app(), &obs).unwrap();
    assert!(matches!(plan.steps[..], [Step::UpdateTtl { ttl: 300, .. }]));
}

#[test]
fn a_route_the_deployer_never_made_is_a_conflict_and_left_alone() {
    let mut obs = in_step();
    obs.api_record = Default::default();
    // GET is Terraform's (another integration, not recorded); POST targets our marked
    // integration, so it is ours and gets recorded with the integration.
    obs.routes[0].target = Some("integrations/terraform".into());
    let plan = plan_app(&synced_app(), &obs).unwrap();
    assert_eq!(plan.conflicts.len(), 1, "{plan:?}");
    assert!(plan.conflicts[0].contains("route GET /{proxy+} (r1)") && plan.conflicts[0].contains("did not make it"));
    assert!(
        matches!(&plan.steps[..], [Step::Record { routes, integrations, .. }]
            if routes == &vec![("r2".to_string(), "POST /{proxy+}".to_string())] && integrations == &vec!["int1".to_string()]),
        "{:?}",
        plan.steps
    );

    // Recorded as ours, the same re-pointed route is repaired.
    obs.api_record = in_step().api_record;
    let plan = plan_app(&synced_app(), &obs).unwrap();
    assert!(plan.conflicts.is_empty());
    assert!(matches!(&plan.steps[..], [Step::UpdateRoute { route_id, .. }] if route_id == "r1"));
}

#[test]
fn an_integration_someone_else_made_is_never_taken_over_and_our_unused_ones_go() {
    let mut obs = in_step();
    // Terraform's integration to the same Cloud Map service, and a second one of ours that no
    // route uses (left by an overlapping run).
    obs.integrations[0].description = Some("managed by terraform".into());
    obs.api_record.integrations.clear();
    obs.integrations.push(Integration {
        id: "int2".into(),
        description: Some(integration_marker("orders")),
        ..obs.integrations[0].clone()
    });
    obs.routes.clear();
    let plan = plan_app(&synced_app(), &obs).unwrap();
    let steps: Vec<String> = plan
        .steps
        .iter()
        .map(|s| match s {
            Step::CreateRoute { integration, .. } => format!("+route->{integration:?}"),
            Step::Record { integrations, .. } => format!("record {integrations:?}"),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        steps,
        vec![
            "+route->Existing(\"int2\")",
            "+route->Existing(\"int2\")",
            "record [\"int2\"]"
        ]
    );
    assert!(!plan
        .steps
        .iter()
        .any(|s| matches!(s, Step::UpdateIntegration { id, .. } if id == "int1")));

    obs.integrations.push(Integration {
        id: "int3".into(),
        ..obs.integrations[1].clone()
    });
    obs.api_record.integrations.insert(
        "int2".into(),
        crate::ownership::Owner {
            app: "orders".into(),
            key: None,
        },
    );
    obs.api_record.integrations.insert(
        "int3".into(),
        crate::ownership::Owner {
            app: "orders".into(),
            key: None,
        },
    );
    obs.routes = vec![
        route("r1", "GET /{proxy+}", "integrations/int2", Some("au1")),
        route("r2", "POST /{proxy+}", "integrations/int2", Some("au1")),
    ];
    let plan = plan_app(&synced_app(), &obs).unwrap();
    assert!(
        matches!(&plan.steps[..], [Step::DeleteIntegration { id, .. }] if id == "int3"),
        "{:?}",
        plan.steps
    );
}

#[test]
fn missing_namespace_or_service_is_a_failure() {
    let mut obs = in_step();
    obs.namespaces.clear();
    assert!(plan_app(&synced_app(), &obs)
        .unwrap_err()
        .contains("namespace `sss.internal` not found"));
    let mut obs = in_step();
    obs.service = None;
    assert!(plan_app(&synced_app(), &obs)
        .unwrap_err()
        .contains("ECS service `orders` not found"));
}

#[test]
fn the_clean_up_keeps_the_running_newer_and_foreign_revisions() {
    let mut app = synced_app();
    app.keep_revisions = 2;
    let mut obs = in_step();
    let info = |revision, managed| RevisionInfo {
        revision,
        arn: format!("arn:td/orders:{revision}"),
        managed,
    };
    // Running: 3 (from `service("arn:td/orders:3")`); observe lists only older ones.
    obs.revisions = Some(vec![info(2, true), info(1, false)]);
    assert!(plan_app(&app, &obs).unwrap().steps.is_empty());
    obs.service.as_mut().unwrap().task_definition = "arn:td/orders:6".into();
    obs.revisions = Some(vec![
        info(5, true),
        info(4, false),
        info(3, true),
        info(2, true),
        info(1, false),
    ]);
    let plan = plan_app(&app, &obs).unwrap();
    assert_eq!(
        plan.steps,
        vec![
            Step::DeregisterRevision("arn:td/orders:3".into()),
            Step::DeregisterRevision("arn:td/orders:2".into())
        ]
    );
}

#[test]
fn deployment_events_select_by_service_arn() {
    let config = Config::parse(
        &serde_json::json!({"apps": [serde_json::to_value(synced_app()).unwrap()]}).to_string(),
        "t",
    )
    .unwrap();
    let event = |name: &str, arn: &str| ServiceSyncRequest::Deployment {
        service_arn: arn.into(),
        detail: EcsDeploymentDetail {
            event_type: None,
            event_name: name.into(),
            deployment_id: "ecs-svc/1".into(),
            updated_at: None,
            reason: Some("boom".into()),
        },
    };
    let arn = "arn:aws:ecs:ap-northeast-1:1:service/sss/orders";
    assert!(matches!(
        select(&config, &event("SERVICE_DEPLOYMENT_COMPLETED", arn), OWN),
        Ok(Selection::Sync { completed: true, .. })
    ));
    assert!(matches!(
        select(&config, &event("SERVICE_DEPLOYMENT_FAILED", arn), OWN),
        Ok(Selection::DeploymentFailed { .. })
    ));
    assert!(matches!(
        select(&config, &event("SERVICE_DEPLOYMENT_IN_PROGRESS", arn), OWN),
        Ok(Selection::Ignored(_))
    ));
    let other = "arn:aws:ecs:ap-northeast-1:1:service/other/orders";
    assert!(matches!(
        select(&config, &event("SERVICE_DEPLOYMENT_COMPLETED", other), OWN),
        Ok(Selection::Ignored(_))
    ));
}

#[test]
fn only_a_failed_sync_fails_the_invocation() {
    use crate::job::{settle, Answer};
    let report = |outcome, reason: &str| Report::new(Some("orders"), outcome, Some(reason.into()));
    let answer = |results| Answer {
        results,
        dry_run: false,
    };
    let Err(crate::error::InvokeError::ItemsFailed(err)) =
        settle::<ServiceSync>(answer(vec![report(Outcome::Failed, "CreateRoute failed")]))
    else {
        panic!("a failed sync must fail the invocation")
    };
    assert_eq!(
        (err.error_type, err.failures.as_slice()),
        ("SyncFailed", &["orders: CreateRoute failed".to_owned()][..])
    );
    // A deployment ECS reported failed is reported, not a failure of the sync itself.
    let quiet = vec![
        report(Outcome::DeploymentFailed, "circuit breaker"),
        report(Outcome::Unchanged, "-"),
        report(Outcome::Ignored, "-"),
    ];
    assert!(settle::<ServiceSync>(answer(quiet)).is_ok());
}

#[test]
fn the_clean_up_never_takes_a_revision_in_use_or_the_last_good() {
    let mut app = synced_app();
    app.keep_revisions = 1;
    let mut obs = in_step();
    obs.service.as_mut().unwrap().task_definition = "arn:td/orders:6".into();
    obs.revisions = Some(
        (1..=5)
            .rev()
            .map(|revision| RevisionInfo {
                revision,
                arn: format!("arn:td/orders:{revision}"),
                managed: true,
            })
            .collect(),
    );
    // A second service of the family runs 4, another deploys 2; the last good deploy was 5.
    obs.revisions_in_use = ["arn:td/orders:4", "arn:td/orders:2", "arn:td/orders:6"]
        .into_iter()
        .map(String::from)
        .collect();
    obs.last_good = Some("arn:td/orders:5".into());
    let plan = plan_app(&app, &obs).unwrap();
    assert_eq!(
        plan.steps,
        vec![
            Step::DeregisterRevision("arn:td/orders:3".into()),
            Step::DeregisterRevision("arn:td/orders:1".into())
        ]
    );
}

#[test]
fn an_integration_without_the_path_mapping_is_corrected() {
    // Without `overwrite:path`, API Gateway sends the stage name in the path of a private
    // integration: the deployer's own integration gets the mapping.
    let mut obs = in_step();
    obs.integrations[0].path_mapping = None;
    let plan = plan_app(&synced_app(), &obs).unwrap();
    assert!(
        plan.steps
            .iter()
            .any(|s| matches!(s, Step::UpdateIntegration { id, .. } if id == "int1")),
        "{plan:?}"
    );
    assert!(
        plan.actions
            .iter()
            .any(|a| a.contains("overwrite:path (none) -> $request.path")),
        "{plan:?}"
    );
}

#[test]
fn an_http_namespace_is_refused_before_any_write() {
    let mut obs = in_step();
    obs.namespaces[0].kind = "HTTP".into();
    let err = plan_app(&synced_app(), &obs).unwrap_err();
    assert!(
        err.contains("HTTP namespace") && err.contains("Nothing was changed"),
        "{err}"
    );
}
