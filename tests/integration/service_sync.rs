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

mod events;
mod ownership;
mod pruning;

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
