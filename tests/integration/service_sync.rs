//! `service-sync` against the AWS emulator: a fresh world, every drift repaired, a second run
//! with zero writes, other applications' routes untouched; routes and integrations the deployer
//! did not make left alone as conflicts; overlapping runs that make everything once.

use deployer::aws::apigw::Route;
use deployer::job::Settings;
use deployer::lease::LeaseConfig;
use deployer::ownership::ApiRecordStore;
use deployer::service_sync;
use deployer::service_sync::Outcome as SyncOutcome;
use deployer::AwsClients;
use deployer_devkit::emulator::{count_op, count_writes};
use deployer_devkit::world::{self, deployment_event, invoke_job, invoke_service_sync, ApiWorld, AppWorld, World};
use deployer_devkit::Emulator;
use serde_json::json;

struct Setup {
    emulator: Emulator,
    kit: World,
    app: AppWorld,
    api: ApiWorld,
    config: String,
}

/// The state bucket of the tests: leases and the record of what the deployer made.
const STATE: &str = "deployer-state";

/// service-sync's settings as the template gives them: leases, the API record and the deploy
/// records in the state bucket.
fn with_state() -> Settings {
    Settings {
        lease: Some(LeaseConfig::in_bucket(STATE)),
        owned: Some(ApiRecordStore::in_bucket(STATE)),
        records: Some(deployer::records::RecordStore::in_bucket(STATE)),
        ..Settings::default()
    }
}

async fn sync_with_state(clients: &AwsClients, config: &str, payload: &serde_json::Value) -> service_sync::Answer {
    invoke_job::<service_sync::ServiceSync>(clients, config, payload, &with_state())
        .await
        .unwrap()
}

async fn setup() -> Setup {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_bucket(&kit.clients, STATE).await;
    let (app, _) = kit.orders().await;
    let api = kit.api().await;
    let config = json!({"apps": [api.app_config(&app, &["GET", "POST"], "/orders/{proxy+}")]}).to_string();
    Setup {
        emulator,
        kit,
        app,
        api,
        config,
    }
}

impl Setup {
    async fn sync(&self) -> deployer::service_sync::Report {
        let response = sync_with_state(&self.kit.clients, &self.config, &json!({"sync": {}})).await;
        response.results.into_iter().next().unwrap()
    }

    /// Syncs and checks the run after it writes nothing.
    async fn sync_then_quiet(&self) -> deployer::service_sync::Report {
        let result = self.sync().await;
        self.emulator.start_recording();
        let again = self.sync().await;
        let calls = self.emulator.stop_recording();
        assert_eq!(again.outcome, SyncOutcome::Unchanged, "{again:?}");
        assert_eq!(count_writes(&calls), 0, "second run wrote: {calls:?}");
        result
    }

    /// An HTTP_PROXY integration made outside the deployer (another team, Terraform) on the API
    /// of the world; its ID.
    async fn plain_integration(&self, uri: &str, description: Option<&str>) -> String {
        let made = self
            .kit
            .clients
            .apigw
            .create_integration()
            .api_id(&self.api.api_id)
            .integration_type(aws_sdk_apigatewayv2::types::IntegrationType::HttpProxy)
            .integration_uri(uri)
            .integration_method("ANY")
            .payload_format_version("1.0")
            .set_description(description.map(str::to_owned))
            .send()
            .await
            .unwrap();
        made.integration_id().unwrap().to_owned()
    }

    /// Deploys six images through image-push (orders:2..=7, the service ends on orders:7) and
    /// returns the sync configuration with `keep_revisions`.
    async fn deploy_six_revisions(&self, keep_revisions: u32) -> String {
        let clients = &self.kit.clients;
        let image_config = world::config_for(&[&self.app]);
        for n in 2..=7 {
            let digest = world::push_image(clients, "orders", "latest", &format!("v{n}")).await;
            let response =
                world::invoke_image_push(clients, &image_config, &world::push_event("orders", "latest", &digest))
                    .await
                    .unwrap();
            assert_eq!(response.results[0].outcome, deployer::image_push::Outcome::Deployed);
        }
        let mut config: serde_json::Value = serde_json::from_str(&self.config).unwrap();
        config["apps"][0]["keep_revisions"] = json!(keep_revisions);
        config.to_string()
    }

    async fn routes(&self) -> Vec<Route> {
        deployer::aws::apigw::get_routes(&self.kit.clients.apigw, &self.api.api_id)
            .await
            .unwrap()
    }

    async fn route(&self, key: &str) -> Route {
        let matching: Vec<Route> = self.routes().await.into_iter().filter(|r| r.key == key).collect();
        assert_eq!(matching.len(), 1, "{key}: {matching:?}");
        matching.into_iter().next().unwrap()
    }

    async fn integration(&self) -> deployer::aws::apigw::Integration {
        let all = deployer::aws::apigw::get_integrations(&self.kit.clients.apigw, &self.api.api_id)
            .await
            .unwrap();
        let ours: Vec<_> = all
            .into_iter()
            .filter(|i| i.description.as_deref() == Some("ecs-deployer:app=orders"))
            .collect();
        assert_eq!(ours.len(), 1, "{ours:?}");
        ours.into_iter().next().unwrap()
    }

    async fn cloud_map_arn(&self) -> String {
        let services = deployer::aws::cloudmap::list_services(&self.kit.clients.cloud_map, &self.api.namespace_id)
            .await
            .unwrap();
        services
            .into_iter()
            .find(|s| s.name == "orders")
            .expect("cloud map service")
            .arn
    }

    async fn registries(&self) -> Vec<(Option<String>, Option<String>, Option<i32>)> {
        let found = deployer::aws::ecs::describe_services(&self.kit.clients.ecs, "sss", &["orders".into()])
            .await
            .unwrap();
        found[0]
            .registries
            .iter()
            .map(|r| {
                (
                    r.registry_arn().map(str::to_owned),
                    r.container_name().map(str::to_owned),
                    r.container_port(),
                )
            })
            .collect()
    }
}

#[tokio::test]
async fn a_fresh_world_gets_everything_and_a_second_run_writes_nothing() {
    let s = setup().await;
    let result = s.sync_then_quiet().await;
    assert_eq!(result.outcome, SyncOutcome::Synced, "{result:?}");
    assert!(
        result
            .actions
            .iter()
            .any(|a| a.starts_with("+ cloud map service orders.sss.internal (SRV, TTL 300")),
        "{:?}",
        result.actions
    );
    assert!(result
        .actions
        .iter()
        .any(|a| a.starts_with("+ route GET /orders/{proxy+} -> the new integration (JWT")));

    let arn = s.cloud_map_arn().await;
    assert_eq!(
        s.registries().await,
        vec![(Some(arn.clone()), Some("app".into()), Some(8080))]
    );
    let integration = s.integration().await;
    assert_eq!(integration.uri.as_deref(), Some(arn.as_str()));
    assert_eq!(integration.connection_id.as_deref(), Some(s.api.vpc_link_id.as_str()));
    assert_eq!(integration.payload_format_version.as_deref(), Some("1.0"));
    // The request's own path reaches the service, not `/<stage>/...`.
    assert_eq!(integration.path_mapping.as_deref(), Some("$request.path"));
    for key in ["GET /orders/{proxy+}", "POST /orders/{proxy+}"] {
        let route = s.route(key).await;
        assert_eq!(route.target, Some(format!("integrations/{}", integration.id)));
        assert_eq!(
            (route.authorization_type.as_str(), route.authorizer_id.as_deref()),
            ("JWT", Some(s.api.authorizer_id.as_str()))
        );
    }
    assert_eq!(s.routes().await.len(), 2);
}

#[tokio::test]
async fn every_drift_is_repaired_and_the_next_run_is_quiet() {
    let s = setup().await;
    s.sync_then_quiet().await;
    let apigw = &s.kit.clients.apigw;
    let api_id = s.api.api_id.as_str();
    let integration = s.integration().await;
    let target = format!("integrations/{}", integration.id);

    // A route deleted by hand comes back.
    let get = s.route("GET /orders/{proxy+}").await;
    apigw
        .delete_route()
        .api_id(api_id)
        .route_id(&get.id)
        .send()
        .await
        .unwrap();
    let result = s.sync_then_quiet().await;
    assert_eq!(result.actions.len(), 1, "{:?}", result.actions);
    assert_eq!(
        s.route("GET /orders/{proxy+}").await.target.as_deref(),
        Some(target.as_str())
    );

    // A route pointed at another integration is pointed back.
    let foreign = s.plain_integration("https://example.com", None).await;
    let post = s.route("POST /orders/{proxy+}").await;
    let foreign_target = format!("integrations/{}", foreign);
    apigw
        .update_route()
        .api_id(api_id)
        .route_id(&post.id)
        .target(&foreign_target)
        .send()
        .await
        .unwrap();
    s.sync_then_quiet().await;
    assert_eq!(
        s.route("POST /orders/{proxy+}").await.target.as_deref(),
        Some(target.as_str())
    );

    // A wrong authorizer is corrected.
    apigw
        .update_route()
        .api_id(api_id)
        .route_id(&post.id)
        .authorizer_id(&s.api.other_authorizer_id)
        .send()
        .await
        .unwrap();
    s.sync_then_quiet().await;
    assert_eq!(
        s.route("POST /orders/{proxy+}").await.authorizer_id.as_deref(),
        Some(s.api.authorizer_id.as_str())
    );

    // An extra route of this application's integration goes away.
    apigw
        .create_route()
        .api_id(api_id)
        .route_key("DELETE /orders/{proxy+}")
        .target(&target)
        .send()
        .await
        .unwrap();
    let result = s.sync_then_quiet().await;
    assert!(
        result
            .actions
            .iter()
            .any(|a| a.starts_with("- route DELETE /orders/{proxy+}")),
        "{:?}",
        result.actions
    );
    assert!(s.routes().await.iter().all(|r| r.key != "DELETE /orders/{proxy+}"));

    // A wrong integration URI is corrected in place (routes keep their target).
    apigw
        .update_integration()
        .api_id(api_id)
        .integration_id(&integration.id)
        .integration_uri("arn:aws:servicediscovery:ap-northeast-1:123456789012:service/srv-wrong")
        .send()
        .await
        .unwrap();
    s.sync_then_quiet().await;
    assert_eq!(s.integration().await.uri, Some(s.cloud_map_arn().await));
    assert_eq!(s.integration().await.id, integration.id);

    // A missing service registry is set again.
    s.kit
        .clients
        .ecs
        .update_service()
        .cluster("sss")
        .service("orders")
        .set_service_registries(Some(vec![]))
        .send()
        .await
        .unwrap();
    assert_eq!(s.registries().await, vec![]);
    s.sync_then_quiet().await;
    assert_eq!(s.registries().await.len(), 1);

    // A changed TTL is updated in place.
    let mut config: serde_json::Value = serde_json::from_str(&s.config).unwrap();
    config["apps"][0]["cloud_map"]["ttl"] = json!(60);
    let s = Setup {
        config: config.to_string(),
        ..s
    };
    let result = s.sync_then_quiet().await;
    assert_eq!(
        result.actions,
        vec!["~ cloud map service orders.sss.internal: TTL 300 -> 60".to_string()]
    );
}

#[tokio::test]
async fn other_applications_routes_are_left_alone_and_a_dry_run_writes_nothing() {
    let s = setup().await;
    let apigw = &s.kit.clients.apigw;
    let other = s
        .plain_integration("https://payments.example.com", Some("payments"))
        .await;
    let other_target = format!("integrations/{}", other);
    apigw
        .create_route()
        .api_id(&s.api.api_id)
        .route_key("GET /payments/{proxy+}")
        .target(&other_target)
        .send()
        .await
        .unwrap();
    apigw
        .create_route()
        .api_id(&s.api.api_id)
        .route_key("$default")
        .target(&other_target)
        .send()
        .await
        .unwrap();
    let before: Vec<Route> = s.routes().await;

    s.emulator.start_recording();
    let response = invoke_service_sync(
        &s.kit.clients,
        &s.config,
        &json!({"sync": {"apps": ["orders"]}, "dry_run": true}),
    )
    .await
    .unwrap();
    let calls = s.emulator.stop_recording();
    assert!(response.dry_run);
    assert_eq!(response.results[0].outcome, SyncOutcome::Planned);
    assert_eq!(
        response.results[0].actions.len(),
        5,
        "{:?}",
        response.results[0].actions
    );
    assert_eq!(count_writes(&calls), 0, "{calls:?}");

    s.sync_then_quiet().await;
    let after = s.routes().await;
    for route in &before {
        assert!(after.contains(route), "{route:?} changed");
    }
    assert_eq!(after.len(), before.len() + 2);
}

#[tokio::test]
async fn bad_configuration_and_input_make_no_call() {
    let s = setup().await;
    let mut no_cloud_map = s.api.app_config(&s.app, &["GET"], "/{proxy+}");
    no_cloud_map.as_object_mut().unwrap().remove("cloud_map");
    let mut underscore = s.api.app_config(&s.app, &["GET"], "/{proxy+}");
    underscore["cloud_map"]["namespace"] = json!("sss_internal");
    let mut bad_method = s.api.app_config(&s.app, &["GET", "FETCH"], "/{proxy+}");
    bad_method["api"]["path"] = json!("orders");

    s.emulator.start_recording();
    for (config, path) in [
        (no_cloud_map, "apps[0].api"),
        (underscore, "apps[0].cloud_map.namespace"),
        (bad_method, "apps[0].api.methods[1]"),
    ] {
        let config = json!({"apps": [config]}).to_string();
        let err = invoke_service_sync(&s.kit.clients, &config, &json!({"sync": {}}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains(path), "{err}");
    }
    for (payload, field) in [
        (json!({"sync": {"apps": ["nope"]}}), "sync.apps[0]"),
        (json!({"sync": {"apps": "orders"}}), "sync.apps"),
        (json!({"sync": {}, "dry_run": 1}), "dry_run"),
        (
            json!({"detail-type": "ECS Deployment State Change", "source": "aws.ecs", "id": "1", "detail": {"eventName": "X", "deploymentId": "d"}, "resources": []}),
            "resources",
        ),
    ] {
        let err = invoke_service_sync(&s.kit.clients, &s.config, &payload)
            .await
            .unwrap_err();
        assert!(err.to_string().contains(&format!("`{field}`")), "{payload}: {err}");
    }
    assert_eq!(s.emulator.stop_recording(), vec![]);
}

#[tokio::test]
async fn deployment_events_sync_report_or_ignore() {
    let s = setup().await;
    let clients = &s.kit.clients;

    s.emulator.start_recording();
    let in_progress = invoke_service_sync(
        clients,
        &s.config,
        &deployment_event("sss", "orders", "SERVICE_DEPLOYMENT_IN_PROGRESS", "ecs-svc/1"),
    )
    .await
    .unwrap();
    let unknown = invoke_service_sync(
        clients,
        &s.config,
        &deployment_event("sss", "billing", "SERVICE_DEPLOYMENT_COMPLETED", "ecs-svc/1"),
    )
    .await
    .unwrap();
    let failed = invoke_service_sync(
        clients,
        &s.config,
        &deployment_event("sss", "orders", "SERVICE_DEPLOYMENT_FAILED", "ecs-svc/1"),
    )
    .await
    .unwrap();
    let calls = s.emulator.stop_recording();
    assert_eq!(in_progress.results[0].outcome, SyncOutcome::Ignored);
    assert_eq!(unknown.results[0].outcome, SyncOutcome::Ignored);
    let failure = &failed.results[0];
    assert_eq!(failure.outcome, SyncOutcome::DeploymentFailed);
    assert!(failure.reason.as_deref().unwrap().contains("circuit breaker"));
    // ECS no longer lists `ecs-svc/1`: the report does not guess its revision, and names the
    // one the service really runs.
    assert_eq!(failure.task_definition, None, "{failure:?}");
    assert_eq!(
        failure.running_task_definition.as_deref(),
        Some(s.app.task_definition.as_str())
    );
    assert_eq!(count_writes(&calls), 0, "{calls:?}");
    assert_eq!(count_op(&calls, "DescribeServices"), 1);
    // A deployment ECS lists is named by its own revision.
    let service = deployer::aws::ecs::describe_services(&clients.ecs, "sss", &["orders".to_owned()])
        .await
        .unwrap()
        .remove(0);
    let listed = &service.deployments[0];
    let failed = invoke_service_sync(
        clients,
        &s.config,
        &deployment_event("sss", "orders", "SERVICE_DEPLOYMENT_FAILED", &listed.id),
    )
    .await
    .unwrap();
    assert_eq!(
        failed.results[0].task_definition.as_deref(),
        Some(listed.task_definition.as_str())
    );

    let completed = invoke_service_sync(
        clients,
        &s.config,
        &deployment_event("sss", "orders", "SERVICE_DEPLOYMENT_COMPLETED", "ecs-svc/2"),
    )
    .await
    .unwrap();
    assert_eq!(completed.results[0].outcome, SyncOutcome::Synced);
    assert!(s.routes().await.len() == 2);
}

#[tokio::test]
async fn a_completed_deploy_deregisters_only_old_revisions_the_deployer_registered() {
    let s = setup().await;
    let clients = &s.kit.clients;
    // orders:1 is Terraform's; orders:2..=7 are the deployer's; the service runs orders:7.
    let config = s.deploy_six_revisions(3).await;
    let response = invoke_service_sync(
        clients,
        &config,
        &deployment_event("sss", "orders", "SERVICE_DEPLOYMENT_COMPLETED", "ecs-svc/7"),
    )
    .await
    .unwrap();
    let result = &response.results[0];
    assert_eq!(result.outcome, SyncOutcome::Synced, "{result:?}");

    let active: Vec<i32> = deployer_devkit::world::family_revisions(clients, "orders")
        .await
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        active,
        vec![7, 6, 5, 1],
        "keeps the running one, two more of the deployer's, and Terraform's"
    );
    let again = invoke_service_sync(
        clients,
        &config,
        &deployment_event("sss", "orders", "SERVICE_DEPLOYMENT_COMPLETED", "ecs-svc/7"),
    )
    .await
    .unwrap();
    assert_eq!(
        again.results[0].outcome,
        SyncOutcome::Unchanged,
        "{:?}",
        again.results[0]
    );
}

/// An integration and a route made outside the deployer (Terraform, say), on the API of the
/// world.
async fn foreign_route(s: &Setup, key: &str) -> (String, String) {
    let apigw = &s.kit.clients.apigw;
    let integration = s
        .plain_integration("https://terraform.example.com", Some("managed by terraform"))
        .await;
    let target = format!("integrations/{}", integration);
    let route = apigw
        .create_route()
        .api_id(&s.api.api_id)
        .route_key(key)
        .target(&target)
        .send()
        .await
        .unwrap();
    (route.route_id().unwrap().to_owned(), target)
}

#[tokio::test]
async fn a_route_the_deployer_never_made_is_a_conflict_left_alone_and_a_failure() {
    let s = setup().await;
    let (route_id, foreign_target) = foreign_route(&s, "GET /orders/{proxy+}").await;

    let answer = sync_with_state(&s.kit.clients, &s.config, &json!({"sync": {}})).await;
    let result = &answer.results[0];
    assert_eq!(result.outcome, SyncOutcome::Failed, "{result:?}");
    let reason = result.reason.as_deref().unwrap();
    assert!(
        reason.contains(&format!("route GET /orders/{{proxy+}} ({route_id})")) && reason.contains("did not make it"),
        "{reason}"
    );
    let err = deployer::job::settle::<service_sync::ServiceSync>(answer).unwrap_err();
    assert_eq!(err.error_type(), "SyncFailed");
    // The foreign route still targets its own integration; the rest of the application is done.
    let get = s.route("GET /orders/{proxy+}").await;
    assert_eq!(
        (get.id.as_str(), get.target.as_deref()),
        (route_id.as_str(), Some(foreign_target.as_str()))
    );
    let integration = s.integration().await;
    assert_eq!(
        s.route("POST /orders/{proxy+}").await.target,
        Some(format!("integrations/{}", integration.id))
    );

    // Every later run says the same and writes nothing.
    s.emulator.start_recording();
    let again = s.sync().await;
    assert_eq!(count_writes(&s.emulator.stop_recording()), 0);
    assert_eq!(again.outcome, SyncOutcome::Failed);

    // Once the owner removes it, the deployer makes its own.
    s.kit
        .clients
        .apigw
        .delete_route()
        .api_id(&s.api.api_id)
        .route_id(&route_id)
        .send()
        .await
        .unwrap();
    let result = s.sync_then_quiet().await;
    assert_eq!(result.outcome, SyncOutcome::Synced, "{result:?}");
    assert_eq!(
        s.route("GET /orders/{proxy+}").await.target,
        Some(format!("integrations/{}", integration.id))
    );
}

#[tokio::test]
async fn routes_the_deployer_made_are_recorded_and_repaired_and_its_unused_integrations_go() {
    let s = setup().await;
    s.sync_then_quiet().await;
    let store = ApiRecordStore::in_bucket(STATE);
    let record = store.read(&s.kit.clients.s3, &s.api.api_id).await.unwrap().record;
    let integration = s.integration().await;
    for key in ["GET /orders/{proxy+}", "POST /orders/{proxy+}"] {
        let route = s.route(key).await;
        assert_eq!(record.route_owner(&route.id), Some("orders"), "{record:?}");
    }
    assert_eq!(record.integration_owner(&integration.id), Some("orders"));

    // A second integration of the application, as an overlapping run of an older version left:
    // no route uses it, so it goes (and leaves the record).
    let left = s
        .plain_integration("https://left.example.com", Some("ecs-deployer:app=orders"))
        .await;
    let left_id = left;
    let result = s.sync_then_quiet().await;
    assert_eq!(
        result.actions,
        vec![format!("- integration {left_id} (no route uses it)")]
    );
    assert_eq!(s.integration().await.id, integration.id);
    let record = store.read(&s.kit.clients.s3, &s.api.api_id).await.unwrap().record;
    assert_eq!(record.integration_owner(&left_id), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_schedule_an_ecs_event_and_a_manual_sync_at_once_make_everything_once() {
    let s = setup().await;
    let proxy =
        deployer_devkit::latency::LatencyProxy::start(s.emulator.port, std::time::Duration::from_millis(20)).await;
    let slow = AwsClients::from_sdk_config(&deployer_devkit::emulator::sdk_config_for(&proxy.endpoint()).await);
    let scheduled = json!({"version": "0", "id": "sched-1", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-12-02T00:00:00Z", "region": "ap-northeast-1", "resources": [], "detail": {}});
    let completed = deployment_event("sss", "orders", "SERVICE_DEPLOYMENT_COMPLETED", "ecs-svc/1");
    let manual = json!({"sync": {"apps": ["orders"]}});
    let (a, b, c) = tokio::join!(
        sync_with_state(&slow, &s.config, &scheduled),
        sync_with_state(&slow, &s.config, &completed),
        sync_with_state(&slow, &s.config, &manual)
    );
    for answer in [&a, &b, &c] {
        assert!(
            answer
                .results
                .iter()
                .all(|r| matches!(r.outcome, SyncOutcome::Synced | SyncOutcome::Unchanged)),
            "{answer:?}"
        );
    }
    // One integration (s.integration() asserts it), each route once, one Cloud Map service.
    s.integration().await;
    s.route("GET /orders/{proxy+}").await;
    s.route("POST /orders/{proxy+}").await;
    assert_eq!(s.routes().await.len(), 2);
    let named_orders = deployer::aws::cloudmap::list_services(&s.kit.clients.cloud_map, &s.api.namespace_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|service| service.name == "orders")
        .count();
    assert_eq!(named_orders, 1);
    s.emulator.start_recording();
    assert_eq!(s.sync().await.outcome, SyncOutcome::Unchanged);
    assert_eq!(count_writes(&s.emulator.stop_recording()), 0);
}

#[tokio::test]
async fn a_family_shared_by_two_services_is_never_cut_below_what_they_run() {
    let s = setup().await;
    let clients = &s.kit.clients;
    // The deployer registers orders:2..=7; the service runs orders:7.
    let config = s.deploy_six_revisions(1).await;
    // A second service of the cluster, not configured, runs orders:4 of the same family.
    let revisions = world::family_revisions(clients, "orders").await;
    let four = &revisions.iter().find(|(n, _)| *n == 4).unwrap().1;
    world::create_service(
        clients,
        "sss",
        "orders-worker",
        four,
        &s.kit.subnets,
        &s.kit.security_group,
    )
    .await;

    let response = sync_with_state(
        clients,
        &config,
        &deployment_event("sss", "orders", "SERVICE_DEPLOYMENT_COMPLETED", "ecs-svc/7"),
    )
    .await;
    assert_eq!(
        response.results[0].outcome,
        SyncOutcome::Synced,
        "{:?}",
        response.results[0]
    );
    let active: Vec<i32> = world::family_revisions(clients, "orders")
        .await
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        active,
        vec![7, 4, 1],
        "the running one, the one orders-worker runs, and Terraform's"
    );
}

#[tokio::test]
async fn a_removed_application_is_reported_as_an_orphan_and_pruned_only_when_asked() {
    let s = setup().await;
    let billing = s.kit.create_app("sss", "orders", "billing").await;
    let both = json!({"apps": [
        s.api.app_config(&s.app, &["GET", "POST"], "/orders/{proxy+}"),
        s.api.app_config(&billing, &["GET"], "/billing/{proxy+}"),
    ]})
    .to_string();
    sync_with_state(&s.kit.clients, &both, &json!({"sync": {}})).await;
    let billing_route = s.route("GET /billing/{proxy+}").await;

    // billing leaves the configuration: its route and integration are orphans, kept.
    let answer = sync_with_state(&s.kit.clients, &s.config, &json!({"sync": {}})).await;
    let orphan = answer
        .results
        .iter()
        .find(|r| r.app.as_deref() == Some("billing"))
        .unwrap();
    assert_eq!(orphan.outcome, SyncOutcome::Orphaned, "{orphan:?}");
    assert!(orphan
        .actions
        .iter()
        .any(|a| a.contains(&format!("route GET /billing/{{proxy+}} ({})", billing_route.id))));
    assert!(orphan.reason.as_deref().unwrap().contains("prune: true"));
    assert_eq!(s.route("GET /billing/{proxy+}").await.id, billing_route.id);
    // An orphan is not a failure.
    assert!(deployer::job::settle::<service_sync::ServiceSync>(answer).is_ok());

    // A sync of one application does not look for orphans.
    let one = sync_with_state(&s.kit.clients, &s.config, &json!({"sync": {"apps": ["orders"]}})).await;
    assert_eq!(one.results.len(), 1);

    // With prune: a dry run lists, a real run removes, the next run has nothing to say.
    let mut pruning: serde_json::Value = serde_json::from_str(&s.config).unwrap();
    pruning["prune"] = json!(true);
    let pruning = pruning.to_string();
    let dry = sync_with_state(&s.kit.clients, &pruning, &json!({"sync": {}, "dry_run": true})).await;
    assert_eq!(
        dry.results
            .iter()
            .find(|r| r.app.as_deref() == Some("billing"))
            .unwrap()
            .outcome,
        SyncOutcome::Orphaned
    );
    assert_eq!(s.route("GET /billing/{proxy+}").await.id, billing_route.id);
    let pruned = sync_with_state(&s.kit.clients, &pruning, &json!({"sync": {}})).await;
    let billing_report = pruned
        .results
        .iter()
        .find(|r| r.app.as_deref() == Some("billing"))
        .unwrap();
    assert_eq!(billing_report.outcome, SyncOutcome::Pruned, "{billing_report:?}");
    let routes = s.routes().await;
    assert!(routes.iter().all(|r| !r.key.starts_with("GET /billing")), "{routes:?}");
    let integrations = deployer::aws::apigw::get_integrations(&s.kit.clients.apigw, &s.api.api_id)
        .await
        .unwrap();
    assert!(integrations
        .iter()
        .all(|i| i.description.as_deref() != Some("ecs-deployer:app=billing")));
    // orders keeps everything.
    s.integration().await;
    assert_eq!(s.routes().await.len(), 2);
    let after = sync_with_state(&s.kit.clients, &pruning, &json!({"sync": {}})).await;
    assert_eq!(after.results.len(), 1, "{after:?}");
}

#[tokio::test]
async fn a_cloud_map_service_with_another_record_type_is_refused_before_any_write() {
    let s = setup().await;
    // Terraform made the application's Cloud Map service with A records; the configuration asks
    // for SRV, which Cloud Map cannot change in place.
    deployer::aws::cloudmap::create_service(
        &s.kit.clients.cloud_map,
        &deployer::aws::cloudmap::DesiredService {
            namespace_id: s.api.namespace_id.clone(),
            name: "orders".into(),
            record_type: "A".into(),
            ttl: 60,
            failure_threshold: 1,
        },
    )
    .await
    .unwrap();
    s.emulator.start_recording();
    let answer = sync_with_state(&s.kit.clients, &s.config, &json!({"sync": {}})).await;
    let calls = s.emulator.stop_recording();
    let result = &answer.results[0];
    assert_eq!(result.outcome, SyncOutcome::Failed, "{result:?}");
    let reason = result.reason.as_deref().unwrap();
    assert!(
        reason.contains("has A records, configured SRV") && reason.contains("Nothing was changed"),
        "{reason}"
    );
    assert_eq!(count_writes(&calls), 0, "{calls:?}");
    assert!(s.registries().await.is_empty(), "the ECS registry is not pointed at it");
    assert!(s.routes().await.is_empty());
}

/// Terraform's `health_check_custom_config {}` sends no `FailureThreshold` (deprecated: "no
/// longer supported"): the service has a custom health check all the same, and is adopted.
#[tokio::test]
async fn a_custom_health_check_without_its_deprecated_threshold_is_adopted() {
    use aws_sdk_servicediscovery::types::{DnsConfig, DnsRecord, HealthCheckCustomConfig, RecordType};
    let s = setup().await;
    s.kit
        .clients
        .cloud_map
        .create_service()
        .name("orders")
        .namespace_id(&s.api.namespace_id)
        .dns_config(
            DnsConfig::builder()
                .dns_records(DnsRecord::builder().r#type(RecordType::Srv).ttl(300).build().unwrap())
                .build()
                .unwrap(),
        )
        .health_check_custom_config(HealthCheckCustomConfig::builder().build())
        .send()
        .await
        .unwrap();
    let report = s.sync().await;
    assert_eq!(report.outcome, SyncOutcome::Synced, "{report:?}");
    assert!(
        report.actions.iter().all(|a| !a.starts_with("+ cloud map service")),
        "adopted, not created again: {report:?}"
    );
    assert_eq!(s.registries().await.len(), 1);
}
