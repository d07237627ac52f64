//! ECS Express Mode services (`"express": true`), against the emulator's Express stand-in
//! (`devkit/ecs_express.py`: moto has none): a push moves the primary container to the pinned
//! digest with every other member kept, is recorded with the service's deployment and followed
//! by ECS's completion like any deploy; a replay calls no update.

use aws_sdk_ecs::types::{ExpressGatewayContainer, ExpressGatewayServiceNetworkConfiguration, KeyValuePair};
use deployer::image_push::{ImagePush, Outcome};
use deployer::job::Settings;
use deployer::records::{DeployOutcome, RecordStore};
use deployer_devkit::emulator::count_op;
use deployer_devkit::events::recorded_ecs_event;
use deployer_devkit::world::{self, invoke_job, push_event, registry, World};
use deployer_devkit::Emulator;
use serde_json::json;

const BUCKET: &str = "deployer-state";

#[tokio::test]
async fn a_push_moves_an_express_service_and_is_followed_like_any_deploy() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_bucket(&kit.clients, BUCKET).await;
    world::create_cluster(&kit.clients, "sss").await;
    world::create_repository(&kit.clients, "orders").await;
    world::push_image(&kit.clients, "orders", "latest", "v1").await;
    let created = kit
        .clients
        .ecs
        .create_express_gateway_service()
        .service_name("web")
        .cluster("sss")
        .execution_role_arn("arn:aws:iam::123456789012:role/execution")
        .infrastructure_role_arn("arn:aws:iam::123456789012:role/express-infrastructure")
        .primary_container(
            ExpressGatewayContainer::builder()
                .image(format!("{}/orders:latest", registry()))
                .container_port(8080)
                .environment(KeyValuePair::builder().name("MODE").value("prod").build())
                .build()
                .unwrap(),
        )
        .network_configuration(
            ExpressGatewayServiceNetworkConfiguration::builder()
                .set_subnets(Some(kit.subnets.clone()))
                .build(),
        )
        .send()
        .await
        .expect("CreateExpressGatewayService");
    let arn = created.service.unwrap().service_arn.unwrap();
    let config = json!({"apps": [{
        "name": "web", "cluster": "sss", "service": arn, "express": true,
        "repository": "orders", "tags": ["latest"]
    }]})
    .to_string();
    let settings = Settings {
        records: Some(RecordStore::in_bucket(BUCKET)),
        ..Settings::default()
    };
    let primary = || async {
        let described = kit
            .clients
            .ecs
            .describe_express_gateway_service()
            .service_arn(&arn)
            .send()
            .await
            .unwrap();
        let service = described.service.unwrap();
        service.active_configurations.unwrap()[0]
            .primary_container
            .clone()
            .unwrap()
    };

    // A dry run says what would move and moves nothing.
    let v2 = world::push_image(&kit.clients, "orders", "latest", "v2").await;
    let planned = invoke_job::<ImagePush>(
        &kit.clients,
        &config,
        &json!({"deploy": {"app": "web", "tag": "latest"}, "dry_run": true}),
        &settings,
    )
    .await
    .unwrap();
    assert_eq!(planned.results[0].outcome, Outcome::Planned, "{planned:?}");
    assert!(
        planned.results[0].actions[0].starts_with("~ Express service"),
        "{planned:?}"
    );
    assert!(primary().await.image.ends_with(":latest"));

    // The push: the primary container on the digest, its other members kept.
    let event = push_event("orders", "latest", &v2);
    let pushed = invoke_job::<ImagePush>(&kit.clients, &config, &event, &settings)
        .await
        .unwrap();
    let report = &pushed.results[0];
    assert_eq!(report.outcome, Outcome::Deployed, "{pushed:?}");
    let container = primary().await;
    assert_eq!(container.image, format!("{}/orders@{v2}", registry()));
    assert_eq!(
        (
            container.container_port,
            container.environment.unwrap()[0].value.clone()
        ),
        (Some(8080), Some("prod".to_owned()))
    );
    let running = world::service_task_definition(&kit.clients, "sss", "web").await;
    assert_eq!(report.new_task_definition.as_deref(), Some(running.as_str()));

    // Recorded with the service's deployment; ECS's completion ends it.
    let deployment = report.ecs_deployment_id.clone().expect("the deployment to follow");
    let completed = recorded_ecs_event("ecs-deployment-completed.json", "sss", "web", &deployment);
    let heard = invoke_job::<ImagePush>(&kit.clients, &config, &completed, &settings)
        .await
        .unwrap();
    assert_eq!(heard.results[0].outcome, Outcome::Followed, "{heard:?}");
    let index = RecordStore::in_bucket(BUCKET)
        .read(&kit.clients.s3, "web")
        .await
        .unwrap();
    assert_eq!(index.records[0].outcome, DeployOutcome::Completed);

    // A replay of the push updates nothing.
    emulator.start_recording();
    let replay = invoke_job::<ImagePush>(&kit.clients, &config, &event, &settings)
        .await
        .unwrap();
    let calls = emulator.stop_recording();
    assert_eq!(replay.results[0].outcome, Outcome::Unchanged, "{replay:?}");
    assert_eq!(count_op(&calls, "UpdateExpressGatewayService"), 0);
}
