//! The safety rules of the hardening issue, each against the emulator: AWS limits, ownership,
//! clean-up, overlap and DNS bounds.

use deployer::aws::ecr::{self, ImageQuery};
use deployer_devkit::emulator::count_op;
use deployer_devkit::world::{self, World};
use deployer_devkit::Emulator;

#[tokio::test]
async fn describe_images_asks_at_most_100_ids_a_call() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_repository(&kit.clients, "orders").await;
    let mut queries = Vec::new();
    for i in 0..150 {
        let digest = world::push_image(&kit.clients, "orders", &format!("build-{i}"), &format!("s{i}")).await;
        queries.push(ImageQuery::Digest(digest));
    }
    emulator.start_recording();
    let found = ecr::describe_images(&kit.clients.ecr, None, "orders", &queries)
        .await
        .unwrap();
    let calls = emulator.stop_recording();
    assert_eq!(found.len(), 150);
    assert_eq!(count_op(&calls, "DescribeImages"), 2, "{calls:?}");
}

#[tokio::test]
async fn a_copy_that_would_carry_more_than_50_tags_fails_before_any_write() {
    use aws_sdk_ecs::types::{ContainerDefinition, Tag};
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let (app, _) = kit.orders().await;
    // Terraform gave the revision 50 tags, ECS's limit: the managed tag would be the 51st.
    let tags: Vec<Tag> = (0..50)
        .map(|i| Tag::builder().key(format!("tag-{i}")).value("x").build())
        .collect();
    let registered = kit
        .clients
        .ecs
        .register_task_definition()
        .family("orders")
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image(format!("{}/orders:latest", world::registry()))
                .memory(256)
                .build(),
        )
        .set_tags(Some(tags))
        .send()
        .await
        .unwrap();
    let arn = registered.task_definition().unwrap().task_definition_arn().unwrap();
    kit.clients
        .ecs
        .update_service()
        .cluster("sss")
        .service("orders")
        .task_definition(arn)
        .send()
        .await
        .unwrap();
    let config = world::config_for(&[&app]);
    let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;

    emulator.start_recording();
    let answer = world::invoke_image_push(&kit.clients, &config, &world::push_event("orders", "latest", &digest))
        .await
        .unwrap();
    let calls = emulator.stop_recording();
    let report = &answer.results[0];
    assert_eq!(report.outcome, deployer::image_push::Outcome::Failed, "{report:?}");
    let reason = report.reason.as_deref().unwrap();
    assert!(
        reason.contains("50 tags") && reason.contains("ecs-deployer:managed"),
        "{reason}"
    );
    assert_eq!(deployer_devkit::emulator::count_writes(&calls), 0, "{calls:?}");
}

#[tokio::test]
async fn a_5_mb_repository_name_comes_back_cut_and_asks_aws_nothing() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let (app, _) = kit.orders().await;
    let config = world::config_for(&[&app]);
    let name = "x".repeat(5 * 1024 * 1024);
    let mut event = world::push_event("orders", "latest", &format!("sha256:{}", "ab".repeat(32)));
    event["detail"]["repository-name"] = name.clone().into();

    emulator.start_recording();
    let answer = world::invoke_image_push(&kit.clients, &config, &event).await.unwrap();
    let calls = emulator.stop_recording();
    let reason = answer.results[0].reason.as_deref().unwrap();
    assert!(reason.len() < 300, "{} bytes of reason", reason.len());
    assert!(reason.contains(&format!("({} bytes)", name.len())), "{reason}");
    assert!(calls.is_empty(), "{calls:?}");
}

#[tokio::test]
async fn a_retry_with_the_same_request_id_takes_the_lease_it_gave_back() {
    use deployer::job::{Invocation, Settings};
    use deployer::lease::LeaseConfig;
    use deployer::service_sync::{Outcome, ServiceSync};
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let (app, _) = kit.orders().await;
    let api = kit.api().await;
    world::create_bucket(&kit.clients, "deployer-state").await;
    let config = serde_json::json!({"apps": [api.app_config(&app, &["GET"], "/orders")]}).to_string();
    let settings = Settings {
        lease: Some(LeaseConfig::in_bucket("deployer-state")),
        ..Settings::default()
    };
    // Lambda's retries of an asynchronous invocation keep its request id: the second run's lease
    // owner is the one whose lease the first run gave back.
    let invocation = Invocation::local();
    let payload = serde_json::json!({"sync": {}});
    let sync = || world::invoke_job_as::<ServiceSync>(&kit.clients, &config, &payload, &settings, &invocation);
    assert_eq!(sync().await.unwrap().results[0].outcome, Outcome::Synced);
    let routes = deployer::aws::apigw::get_routes(&kit.clients.apigw, &api.api_id)
        .await
        .unwrap();
    kit.clients
        .apigw
        .delete_route()
        .api_id(&api.api_id)
        .route_id(&routes[0].id)
        .send()
        .await
        .unwrap();
    let again = sync().await.unwrap();
    assert_eq!(again.results[0].outcome, Outcome::Synced, "{:?}", again.results[0]);
}

/// Puts `body` as the `orders` deploy index in the state bucket.
async fn put_index(kit: &World, body: Vec<u8>) {
    kit.clients
        .s3
        .put_object()
        .bucket("deployer-state")
        .key("deploys/orders/index.json")
        .body(body.into())
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_deploy_index_too_large_or_not_an_index_steers_nothing() {
    use deployer::image_push::{ImagePush, Outcome};
    use deployer::job::Settings;
    use deployer::records::RecordStore;
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_bucket(&kit.clients, "deployer-state").await;
    let (app, _) = kit.orders().await;
    let config = world::config_for(&[&app]);
    let settings = Settings {
        records: Some(RecordStore::in_bucket("deployer-state")),
        ..Settings::default()
    };
    let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;
    let event = world::push_event("orders", "latest", &digest);
    // Over the 1 MiB a state object may weigh (refused before its body is read), and a
    // small object that is not an index: neither is trusted, so nothing is deployed.
    let too_large = format!("{{\"records\": [], \"pad\": \"{}\"}}", "x".repeat(1_100_000));
    for (body, said) in [
        (too_large.into_bytes(), "at most 1048576"),
        (b"{\"records\": 7}".to_vec(), "not a deploy index"),
    ] {
        put_index(&kit, body).await;
        emulator.start_recording();
        let answer = world::invoke_job::<ImagePush>(&kit.clients, &config, &event, &settings)
            .await
            .unwrap();
        let calls = emulator.stop_recording();
        let report = &answer.results[0];
        assert_eq!(report.outcome, Outcome::Failed, "{report:?}");
        assert!(report.reason.as_deref().unwrap().contains(said), "{report:?}");
        for op in ["RegisterTaskDefinition", "UpdateService"] {
            assert_eq!(count_op(&calls, op), 0, "{op}");
        }
    }
}
