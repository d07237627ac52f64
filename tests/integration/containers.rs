//! Several containers per application (`containers`): `app` follows `orders`, the
//! `log-router` sidecar follows its own repository; a push of either deploys the service with
//! that container moved and the other kept on the digest it runs, and the records name each
//! container's image.

use deployer::image_push::{ImagePush, Outcome};
use deployer::job::Settings;
use deployer::records::RecordStore;
use deployer_devkit::emulator::count_op;
use deployer_devkit::world::{self, invoke_job, push_event, registry, World};
use deployer_devkit::Emulator;
use serde_json::json;

const BUCKET: &str = "deployer-state";

#[tokio::test]
async fn a_two_container_app_deploys_each_repository_keeping_the_other_pinned() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_bucket(&kit.clients, BUCKET).await;
    let (app, _) = kit.orders().await;
    world::create_repository(&kit.clients, "log-router").await;
    let mut entry = app.config();
    entry.as_object_mut().unwrap().remove("container");
    entry["containers"] = json!(["app", {"name": "log-router", "repository": "log-router", "tags": ["stable"]}]);
    let config = json!({"apps": [entry]}).to_string();
    let settings = Settings {
        records: Some(RecordStore::in_bucket(BUCKET)),
        ..Settings::default()
    };
    let sidecar_before = world::container_image(&kit.clients, &app.task_definition, "log-router").await;

    // `orders` pushed: `app` moves, the sidecar keeps what it runs.
    let orders = world::push_image(&kit.clients, "orders", "latest", "v2").await;
    let pushed = invoke_job::<ImagePush>(
        &kit.clients,
        &config,
        &push_event("orders", "latest", &orders),
        &settings,
    )
    .await
    .unwrap();
    let report = &pushed.results[0];
    assert_eq!(report.outcome, Outcome::Deployed, "{pushed:?}");
    let first = world::service_task_definition(&kit.clients, "sss", "orders").await;
    let app_image = format!("{}/orders@{orders}", registry());
    assert_eq!(world::container_image(&kit.clients, &first, "app").await, app_image);
    assert_eq!(
        world::container_image(&kit.clients, &first, "log-router").await,
        sidecar_before
    );

    // `log-router:stable` pushed: the same application deploys, only its sidecar moving.
    let router = world::push_image(&kit.clients, "log-router", "stable", "r1").await;
    let event = push_event("log-router", "stable", &router);
    let pushed = invoke_job::<ImagePush>(&kit.clients, &config, &event, &settings)
        .await
        .unwrap();
    let report = &pushed.results[0];
    assert_eq!(
        (report.outcome, report.app.as_deref()),
        (Outcome::Deployed, Some("orders")),
        "{pushed:?}"
    );
    let second = world::service_task_definition(&kit.clients, "sss", "orders").await;
    assert_ne!(second, first);
    let router_image = format!("{}/log-router@{router}", registry());
    assert_eq!(
        world::container_image(&kit.clients, &second, "log-router").await,
        router_image
    );
    assert_eq!(world::container_image(&kit.clients, &second, "app").await, app_image);
    // The record names each container's image.
    let index = RecordStore::in_bucket(BUCKET)
        .read(&kit.clients.s3, "orders")
        .await
        .unwrap();
    let images = &index.records[0].images;
    assert_eq!(
        (images.get("app"), images.get("log-router")),
        (Some(&app_image), Some(&router_image)),
        "{:?}",
        index.records[0]
    );
    // A tag `log-router` does not follow deploys nothing; the push's replay changes nothing.
    let other = world::push_image(&kit.clients, "log-router", "latest", "r2").await;
    let ignored = invoke_job::<ImagePush>(
        &kit.clients,
        &config,
        &push_event("log-router", "latest", &other),
        &settings,
    )
    .await
    .unwrap();
    assert_eq!(ignored.results[0].outcome, Outcome::Ignored, "{ignored:?}");
    emulator.start_recording();
    let replay = invoke_job::<ImagePush>(&kit.clients, &config, &event, &settings)
        .await
        .unwrap();
    let calls = emulator.stop_recording();
    assert_eq!(replay.results[0].outcome, Outcome::Unchanged, "{replay:?}");
    assert_eq!(
        count_op(&calls, "RegisterTaskDefinition") + count_op(&calls, "UpdateService"),
        0
    );
}
