//! Accounts and regions: one push to the central ECR deploys services in another account
//! (through the application's role) and in another region, against the emulator (whose assumed
//! roles act in their own account, and whose regions keep their own resources).

use deployer::image_push::Outcome;
use deployer::AwsClients;
use deployer_devkit::emulator::REGION;
use deployer_devkit::world::{self, invoke_image_push, push_event, registry, World};
use deployer_devkit::Emulator;
use serde_json::json;

/// A cluster `cluster` with service `orders` on its own `orders` family in `clients`' account and
/// region, following the central repository.
async fn remote_service(clients: &AwsClients, cluster: &str) {
    world::create_cluster(clients, cluster).await;
    let image = format!("{}/orders:latest", registry());
    let task_definition = world::register_rich_task_definition(
        clients,
        "orders",
        vec![world::app_container("app", &image), world::sidecar_container()],
    )
    .await;
    let (vpc, subnets) = world::create_vpc(clients).await;
    let ec2 = deployer::aws::ec2::Ec2Client::new(&clients.sdk_config);
    let group = world::create_security_group(&ec2, &vpc).await;
    world::create_service(clients, cluster, "orders", &task_definition, &subnets, &group).await;
}

/// The same emulator as `clients`, in `region`.
fn in_region(clients: &AwsClients, region: &str) -> AwsClients {
    AwsClients::from_sdk_config(
        &clients
            .sdk_config
            .to_builder()
            .region(aws_sdk_ecs::config::Region::new(region.to_owned()))
            .build(),
    )
}

/// The central registry's account, its reader role, and the host of its ECR in `region`.
const REGISTRY_ACCOUNT: &str = "333333333333";
const REGISTRY_ROLE: &str = "arn:aws:iam::333333333333:role/registry-reader";
fn registry_host(region: &str) -> String {
    format!("{REGISTRY_ACCOUNT}.dkr.ecr.{region}.amazonaws.com")
}

#[tokio::test]
async fn one_push_to_a_central_registry_deploys_into_two_accounts_and_two_regions() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    // The image lives in a third account's registry (the function's region), replicated to eu-west-1.
    let central = world::clients_as(&kit.clients, REGISTRY_ROLE).await;
    let central_eu = in_region(&central, "eu-west-1");
    world::create_repository(&central, "orders").await;
    world::create_repository(&central_eu, "orders").await;
    // Services: one in account 222222222222 (the function's region), one in the function's account in eu-west-1.
    let role = "arn:aws:iam::222222222222:role/deployer";
    let prod = world::clients_as(&kit.clients, role).await;
    remote_service(&prod, "prod").await;
    let europe = in_region(&kit.clients, "eu-west-1");
    remote_service(&europe, "sss-eu").await;
    let app = |name: &str, cluster: &str, extra: serde_json::Value| {
        let mut app = json!({"name": name, "cluster": cluster, "service": "orders", "container": "app",
            "tags": ["latest"], "registry_role_arn": REGISTRY_ROLE});
        app.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        app
    };
    let config = json!({"apps": [
        app("orders-prod", "prod", json!({"role_arn": role, "external_id": "deployer-ext",
            "repository": "orders", "registry_id": REGISTRY_ACCOUNT})),
        // The replica in the service's region, named by its URI.
        app("orders-eu", "sss-eu", json!({"region": "eu-west-1",
            "repository": format!("{}/orders", registry_host("eu-west-1"))})),
    ]})
    .to_string();

    let digest = world::push_image(&central, "orders", "latest", "v2").await;
    world::push_image_with_digest(&central_eu, "orders", "latest", &digest).await;
    let mut event = push_event("orders", "latest", &digest);
    event["account"] = json!(REGISTRY_ACCOUNT);

    // A push of the same repository name in an account no application names is not theirs.
    let mut foreign = event.clone();
    foreign["account"] = json!("444444444444");
    foreign["id"] = json!("evt-foreign");
    let ignored = invoke_image_push(&kit.clients, &config, &foreign).await.unwrap();
    assert_eq!(ignored.results.len(), 1, "{ignored:?}");
    assert_eq!(ignored.results[0].outcome, Outcome::Ignored, "{ignored:?}");
    assert!(
        ignored.results[0].reason.as_deref().unwrap().contains("444444444444"),
        "{ignored:?}"
    );

    emulator.start_recording();
    let answer = invoke_image_push(&kit.clients, &config, &event).await.unwrap();
    let report = |name: &str| answer.results.iter().find(|r| r.app.as_deref() == Some(name)).unwrap();
    let (prod_report, eu_report) = (report("orders-prod"), report("orders-eu"));
    assert_eq!(prod_report.outcome, Outcome::Deployed, "{prod_report:?}");
    assert_eq!(eu_report.outcome, Outcome::Deployed, "{eu_report:?}");
    assert_eq!(prod_report.account.as_deref(), Some("222222222222"));
    assert_eq!(eu_report.region.as_deref(), Some("eu-west-1"));
    assert!(
        prod_report
            .new_task_definition
            .as_deref()
            .unwrap()
            .contains(":222222222222:"),
        "{prod_report:?}"
    );
    assert!(
        eu_report
            .new_task_definition
            .as_deref()
            .unwrap()
            .contains(":eu-west-1:"),
        "{eu_report:?}"
    );
    // The digest was asked of the registry that holds it: DescribeImages naming its account.
    let describes: Vec<serde_json::Value> = emulator
        .stop_recording()
        .into_iter()
        .filter(|call| call.operation == "DescribeImages")
        .map(|call| call.json_body())
        .collect();
    assert_eq!(describes.len(), 2, "one per registry region: {describes:?}");
    assert!(
        describes.iter().all(|body| body["registryId"] == REGISTRY_ACCOUNT),
        "{describes:?}"
    );

    // Each service runs the central image by digest, from the registry of its own region.
    for (clients, cluster, region) in [(&prod, "prod", REGION), (&europe, "sss-eu", "eu-west-1")] {
        let running = world::service_task_definition(clients, cluster, "orders").await;
        let image = world::container_image(clients, &running, "app").await;
        assert_eq!(image, format!("{}/orders@{digest}", registry_host(region)), "{cluster}");
    }
    // Nothing was deployed in the function's own account and region.
    let own = deployer::aws::ecs::list_services(&kit.clients.ecs, "prod").await;
    assert!(own.is_err() || own.unwrap().is_empty());
}

#[tokio::test]
async fn an_app_whose_role_cannot_be_assumed_fails_alone_naming_the_role() {
    use deployer_devkit::faults::{Fault, FaultPlan, FaultProxy};
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let (own, _) = kit.orders().await;
    let role = "arn:aws:iam::222222222222:role/deployer";
    let prod = world::clients_as(&kit.clients, role).await;
    remote_service(&prod, "prod").await;
    let mut config: serde_json::Value = serde_json::from_str(&world::config_for(&[&own])).unwrap();
    config["apps"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "orders-prod", "cluster": "prod", "service": "orders",
        "container": "app", "repository": "orders", "tags": ["latest"], "role_arn": role}));
    let config = deployer::Config::parse(&config.to_string(), "test").unwrap();

    // STS refuses the role (its trust policy does not name the deployer, say); everything else
    // reaches the emulator.
    let proxy = FaultProxy::start_with(
        emulator.port,
        FaultPlan {
            only: Some("Action=AssumeRole".into()),
            ..FaultPlan::always(Fault::Denied)
        },
    )
    .await;
    let mut clients = world::job_clients::<deployer::image_push::ImagePush>(&kit.clients);
    clients.sdk_config = clients.sdk_config.to_builder().endpoint_url(proxy.endpoint()).build();

    let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;
    let request = deployer::input::events::parse_image_push(&push_event("orders", "latest", &digest)).unwrap();
    let answer = deployer::image_push::handle(
        &clients,
        &config,
        &request,
        &deployer::job::Settings::default(),
        &deployer::job::Invocation::local(),
    )
    .await
    .unwrap();
    let mine = answer
        .results
        .iter()
        .find(|r| r.app.as_deref() == Some("orders"))
        .unwrap();
    let theirs = answer
        .results
        .iter()
        .find(|r| r.app.as_deref() == Some("orders-prod"))
        .unwrap();
    assert_eq!(mine.outcome, Outcome::Deployed, "{mine:?}");
    assert_eq!(theirs.outcome, Outcome::Failed, "{theirs:?}");
    assert!(theirs.reason.as_deref().unwrap().contains(role), "{theirs:?}");
    let err = deployer::job::settle::<deployer::image_push::ImagePush>(answer).unwrap_err();
    assert_eq!(err.error_type(), "DeployFailed");
    // Nothing changed in the other account.
    let running = world::service_task_definition(&prod, "prod", "orders").await;
    assert!(running.ends_with("orders:1"), "{running}");
}

#[tokio::test]
async fn service_sync_makes_the_cloud_map_service_and_routes_of_another_account_through_its_role() {
    use deployer::service_sync::{Outcome as SyncOutcome, ServiceSync};
    use deployer_devkit::emulator::count_writes;
    const STATE: &str = "deployer-state";
    let emulator = Emulator::start();
    let own = World::new(&emulator).await;
    world::create_bucket(&own.clients, STATE).await;
    let role = "arn:aws:iam::222222222222:role/deployer";
    let prod = World::in_account(&emulator, role).await;
    let (app, _) = prod.orders().await;
    let api = prod.api().await;
    let mut app_config = api.app_config(&app, &["GET"], "/orders/{proxy+}");
    app_config["role_arn"] = json!(role);
    let config = json!({"apps": [app_config], "source_identity": true}).to_string();
    let settings = deployer::job::Settings {
        lease: Some(deployer::lease::LeaseConfig::in_bucket(STATE)),
        owned: Some(deployer::ownership::ApiRecordStore::in_bucket(STATE)),
        ..deployer::job::Settings::default()
    };
    let sync = || async {
        world::invoke_job::<ServiceSync>(&own.clients, &config, &json!({"sync": {}}), &settings)
            .await
            .unwrap()
    };

    let first = sync().await;
    assert_eq!(first.results[0].outcome, SyncOutcome::Synced, "{first:?}");
    // The route and the service registry are in the workload account.
    let routes = deployer::aws::apigw::get_routes(&prod.clients.apigw, &api.api_id)
        .await
        .unwrap();
    assert!(routes.iter().any(|r| r.key == "GET /orders/{proxy+}"), "{routes:?}");
    let services = deployer::aws::ecs::describe_services(&prod.clients.ecs, "sss", &["orders".to_string()])
        .await
        .unwrap();
    assert_eq!(services[0].registries.len(), 1, "{services:?}");
    // The second run finds everything in place through the same role: nothing written.
    emulator.start_recording();
    let second = sync().await;
    let calls = emulator.stop_recording();
    assert_eq!(second.results[0].outcome, SyncOutcome::Unchanged, "{second:?}");
    // Each run here is a cold function: one AssumeRole for its credentials (its session
    // carrying service-sync's source identity), then reads only.
    let (assumed, rest): (Vec<_>, Vec<_>) = calls.into_iter().partition(|c| c.operation == "AssumeRole");
    assert_eq!(assumed.len(), 1, "{assumed:?}");
    assert!(
        assumed[0].body.contains("SourceIdentity=ecs-deployer.service-sync"),
        "{assumed:?}"
    );
    assert_eq!(count_writes(&rest), 0, "{rest:?}");

    // The application leaves the configuration: its routes are orphans in the workload
    // account's API (the record says where that API is), pruned there.
    let pruning = json!({"apps": [], "prune": true}).to_string();
    let pruned = world::invoke_job::<ServiceSync>(&own.clients, &pruning, &json!({"sync": {}}), &settings)
        .await
        .unwrap();
    let report = pruned
        .results
        .iter()
        .find(|r| r.app.as_deref() == Some("orders"))
        .unwrap();
    assert_eq!(report.outcome, SyncOutcome::Pruned, "{pruned:?}");
    let routes = deployer::aws::apigw::get_routes(&prod.clients.apigw, &api.api_id)
        .await
        .unwrap();
    assert!(routes.is_empty(), "{routes:?}");
}

#[tokio::test]
async fn a_replica_that_does_not_hold_the_push_yet_waits_and_its_replication_event_deploys_it() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let central = world::clients_as(&kit.clients, REGISTRY_ROLE).await;
    let central_eu = in_region(&central, "eu-west-1");
    world::create_repository(&central, "orders").await;
    world::create_repository(&central_eu, "orders").await;
    let europe = in_region(&kit.clients, "eu-west-1");
    remote_service(&europe, "sss-eu").await;
    let config = json!({"apps": [{"name": "orders-eu", "cluster": "sss-eu", "service": "orders",
        "container": "app", "tags": ["latest"], "region": "eu-west-1", "registry_role_arn": REGISTRY_ROLE,
        "repository": format!("{}/orders", registry_host("eu-west-1"))}]})
    .to_string();
    let digest = world::push_image(&central, "orders", "latest", "v2").await;
    let mut event = push_event("orders", "latest", &digest);
    event["account"] = json!(REGISTRY_ACCOUNT);

    // Replication has not arrived: waiting, not a failure (no retries, no alarm), nothing changed.
    let answer = invoke_image_push(&kit.clients, &config, &event).await.unwrap();
    assert_eq!(answer.results[0].outcome, Outcome::Waiting, "{answer:?}");
    assert!(answer.results[0]
        .reason
        .as_deref()
        .unwrap()
        .contains("not replicated yet"));
    assert!(deployer::job::settle::<deployer::image_push::ImagePush>(answer).is_ok());
    let running = world::service_task_definition(&europe, "sss-eu", "orders").await;
    assert!(running.ends_with("orders:1"), "{running}");

    // The replica catches up; ECR's event for it, in the replica's region, deploys from it.
    world::push_image_with_digest(&central_eu, "orders", "latest", &digest).await;
    let replicated = json!({
        "version": "0", "id": "replication-1", "detail-type": "ECR Replication Action", "source": "aws.ecr",
        "account": REGISTRY_ACCOUNT, "time": event["time"], "region": "eu-west-1", "resources": [],
        "detail": {"result": "SUCCESS", "repository-name": "orders", "image-digest": digest, "action-type": "REPLICATE",
                   "image-tag": "latest", "source-account": REGISTRY_ACCOUNT, "source-region": "ap-northeast-1"}
    });
    let answer = invoke_image_push(&kit.clients, &config, &replicated).await.unwrap();
    assert_eq!(answer.results[0].outcome, Outcome::Deployed, "{answer:?}");
    let running = world::service_task_definition(&europe, "sss-eu", "orders").await;
    let image = world::container_image(&europe, &running, "app").await;
    assert_eq!(image, format!("{}/orders@{digest}", registry_host("eu-west-1")));
}

/// A push waiting for its replica is remembered; the settle run deploys it once the replica
/// holds it (its event lost), and one still missing past `replica_wait_minutes` fails clearly.
#[tokio::test]
async fn the_settle_run_deploys_a_late_replica_and_fails_one_past_its_bound() {
    use deployer::job::Settings;
    use deployer::records::RecordStore;
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_bucket(&kit.clients, "deployer-state").await;
    let settings = Settings {
        records: Some(RecordStore::in_bucket("deployer-state")),
        ..Settings::default()
    };
    let central = world::clients_as(&kit.clients, REGISTRY_ROLE).await;
    let central_eu = in_region(&central, "eu-west-1");
    world::create_repository(&central, "orders").await;
    world::create_repository(&central_eu, "orders").await;
    let europe = in_region(&kit.clients, "eu-west-1");
    remote_service(&europe, "sss-eu").await;
    let config = json!({"apps": [{"name": "orders-eu", "cluster": "sss-eu", "service": "orders",
        "container": "app", "tags": ["latest"], "region": "eu-west-1", "registry_role_arn": REGISTRY_ROLE,
        "replica_wait_minutes": 30, "repository": format!("{}/orders", registry_host("eu-west-1"))}]})
    .to_string();
    let settle = json!({"version": "0", "id": "settle-1", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-12-06T10:00:00Z", "region": REGION, "resources": [], "detail": {}});
    let run = |payload: serde_json::Value| {
        let (clients, config, settings) = (kit.clients.clone(), config.clone(), settings.clone());
        async move {
            world::invoke_image_push_with(&clients, &config, &payload, &settings)
                .await
                .unwrap()
        }
    };
    let push = |seed: &'static str, minutes_ago: u64| {
        let central = central.clone();
        async move {
            let digest = world::push_image(&central, "orders", "latest", seed).await;
            let mut event = push_event("orders", "latest", &digest);
            event["account"] = json!(REGISTRY_ACCOUNT);
            let at = std::time::SystemTime::now() - std::time::Duration::from_secs(minutes_ago * 60);
            event["time"] = json!(deployer::records::format_time(at));
            (digest, event)
        }
    };

    // A push 40 minutes ago whose replica never came: failed past the 30-minute bound, once.
    let (_, event) = push("v3", 40).await;
    assert_eq!(run(event).await.results[0].outcome, Outcome::Waiting);
    let answer = run(settle.clone()).await;
    let failed = answer
        .results
        .iter()
        .find(|r| r.outcome == Outcome::Failed)
        .expect("failed");
    assert!(
        failed.reason.as_deref().unwrap().contains("within 30 minutes"),
        "{failed:?}"
    );
    let error = deployer::job::settle::<deployer::image_push::ImagePush>(answer).expect_err("an alarm");
    assert_eq!(error.error_type(), "DeployFailed");
    let answer = run(settle.clone()).await;
    assert!(
        answer.results.iter().all(|r| r.outcome != Outcome::Failed),
        "{answer:?}"
    );
    let running = world::service_task_definition(&europe, "sss-eu", "orders").await;
    assert!(running.ends_with("orders:1"), "nothing changed: {running}");

    // A fresh push waits; the settle run finds the replica still missing: waiting, nothing changed.
    let (digest, event) = push("v2", 1).await;
    assert_eq!(run(event).await.results[0].outcome, Outcome::Waiting);
    let answer = run(settle.clone()).await;
    assert_eq!(answer.results[0].outcome, Outcome::Waiting, "{answer:?}");
    // The replica arrives, its event lost: the settle run deploys it, once.
    world::push_image_with_digest(&central_eu, "orders", "latest", &digest).await;
    let answer = run(settle.clone()).await;
    assert_eq!(answer.results[0].outcome, Outcome::Deployed, "{answer:?}");
    let running = world::service_task_definition(&europe, "sss-eu", "orders").await;
    assert!(world::container_image(&europe, &running, "app")
        .await
        .ends_with(&digest));
    let answer = run(settle.clone()).await;
    assert!(
        answer.results.iter().all(|r| r.outcome != Outcome::Deployed),
        "{answer:?}"
    );
}

/// With `source_identity`, each application's role sessions carry `ecs-deployer.<app>` (what
/// CloudTrail in the workload account names) and their own session name, even when two
/// applications share the role; without it, they share one session.
#[tokio::test]
async fn with_source_identity_each_apps_sessions_name_the_app() {
    let emulator = Emulator::start();
    let own = World::new(&emulator).await;
    world::create_repository(&own.clients, "orders").await;
    let role = "arn:aws:iam::222222222222:role/deployer";
    let prod = World::in_account(&emulator, role).await;
    world::create_cluster(&prod.clients, "sss").await;
    let apps = [
        prod.create_app("sss", "orders", "orders-a").await,
        prod.create_app("sss", "orders", "orders-b").await,
    ];
    let config = |source_identity: bool| {
        let apps: Vec<serde_json::Value> = apps
            .iter()
            .map(|app| {
                let mut config = app.config();
                config["role_arn"] = json!(role);
                config
            })
            .collect();
        json!({"apps": apps, "source_identity": source_identity}).to_string()
    };
    let assumed = |calls: Vec<deployer_devkit::Call>| -> Vec<String> {
        calls
            .into_iter()
            .filter(|c| c.operation == "AssumeRole")
            .map(|c| c.body)
            .collect()
    };

    for (source_identity, version) in [(false, "v2"), (true, "v3")] {
        let digest = world::push_image(&own.clients, "orders", "latest", version).await;
        emulator.start_recording();
        let answer = invoke_image_push(
            &own.clients,
            &config(source_identity),
            &push_event("orders", "latest", &digest),
        )
        .await
        .unwrap();
        let sessions = assumed(emulator.stop_recording());
        assert!(
            answer.results.iter().all(|r| r.outcome == Outcome::Deployed),
            "{answer:?}"
        );
        if source_identity {
            assert_eq!(sessions.len(), 2, "one session per application: {sessions:?}");
            for app in ["orders-a", "orders-b"] {
                assert!(
                    sessions
                        .iter()
                        .any(|body| body.contains(&format!("SourceIdentity=ecs-deployer.{app}"))
                            && body.contains(&format!("RoleSessionName=image-push-{app}"))),
                    "{app}: {sessions:?}"
                );
            }
        } else {
            assert_eq!(
                sessions.len(),
                1,
                "the applications share the role's session: {sessions:?}"
            );
            assert!(!sessions[0].contains("SourceIdentity"), "{sessions:?}");
        }
    }
}
