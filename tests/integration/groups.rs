//! Release groups: `orders` and `payments` follow one image in group `shop`, so one push is
//! one release of both; when ECS fails `payments`' deploy of a release, `orders` rolls back to
//! its last good, once, and the group's status says it in one line.

use deployer::image_push::{ImagePush, Outcome, Report};
use deployer::job::Settings;
use deployer::records::{DeployIndex, RecordStore, TriggerKind};
use deployer_devkit::emulator::count_op;
use deployer_devkit::events::recorded_ecs_event;
use deployer_devkit::world::{self, invoke_job, push_event, World};
use deployer_devkit::Emulator;
use serde_json::json;

const BUCKET: &str = "deployer-state";

fn of<'a>(reports: &'a [Report], app: &str) -> &'a Report {
    reports
        .iter()
        .find(|r| r.app.as_deref() == Some(app))
        .unwrap_or_else(|| panic!("no report of {app}: {reports:?}"))
}

async fn index(kit: &World, app: &str) -> DeployIndex {
    RecordStore::in_bucket(BUCKET).read(&kit.clients.s3, app).await.unwrap()
}

#[tokio::test]
async fn a_group_whose_second_member_fails_rolls_the_first_back() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_bucket(&kit.clients, BUCKET).await;
    let (orders, _) = kit.orders().await;
    let payments = kit.create_app("sss", "orders", "payments").await;
    let entries: Vec<serde_json::Value> = [&orders, &payments]
        .iter()
        .map(|app| {
            let mut entry = app.config();
            entry["group"] = json!("shop");
            entry
        })
        .collect();
    let config = json!({"apps": entries}).to_string();
    let settings = Settings {
        records: Some(RecordStore::in_bucket(BUCKET)),
        ..Settings::default()
    };
    let run = |event: serde_json::Value| {
        let (clients, config, settings) = (kit.clients.clone(), config.clone(), settings.clone());
        async move {
            invoke_job::<ImagePush>(&clients, &config, &event, &settings)
                .await
                .unwrap()
                .results
        }
    };

    // Release 1 completes in both: each member's last good.
    let v2 = world::push_image(&kit.clients, "orders", "latest", "v2").await;
    let first = run(push_event("orders", "latest", &v2)).await;
    for app in ["orders", "payments"] {
        let deployed = of(&first, app);
        assert_eq!(deployed.outcome, Outcome::Deployed, "{first:?}");
        let id = deployed.ecs_deployment_id.as_deref().unwrap();
        run(recorded_ecs_event("ecs-deployment-completed.json", "sss", app, id)).await;
    }
    let good = world::service_task_definition(&kit.clients, "sss", "orders").await;

    // Release 2 reaches both; ECS fails it in `payments`.
    let v3 = world::push_image(&kit.clients, "orders", "latest", "v3").await;
    let second = run(push_event("orders", "latest", &v3)).await;
    assert!(second.iter().all(|r| r.outcome == Outcome::Deployed), "{second:?}");
    assert_ne!(
        world::service_task_definition(&kit.clients, "sss", "orders").await,
        good
    );
    let failed = recorded_ecs_event(
        "ecs-deployment-failed.json",
        "sss",
        "payments",
        of(&second, "payments").ecs_deployment_id.as_deref().unwrap(),
    );
    emulator.start_recording();
    let heard = run(failed.clone()).await;
    let calls = emulator.stop_recording();
    // `orders` of the same release rolls back to its last good: one UpdateService, its own.
    let rolled = of(&heard, "orders");
    assert_eq!(rolled.outcome, Outcome::Deployed, "{heard:?}");
    assert_eq!(count_op(&calls, "UpdateService"), 1);
    assert_eq!(
        world::service_task_definition(&kit.clients, "sss", "orders").await,
        good
    );
    let newest = index(&kit, "orders").await.records[0].clone();
    assert_eq!(newest.trigger.kind, TriggerKind::Rollback);
    assert!(
        newest.trigger.by.as_deref().unwrap_or_default().contains("`payments`"),
        "{newest:?}"
    );

    // The failure's replay, and the settle run, roll back nothing more.
    emulator.start_recording();
    run(failed).await;
    run(json!({
        "version": "0", "id": "settle-1", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-12-07T12:00:00Z", "region": "ap-northeast-1",
        "resources": [], "detail": {}
    }))
    .await;
    assert_eq!(count_op(&emulator.stop_recording(), "UpdateService"), 0);

    // The group's status in one line, on each member.
    let status = run(json!({"status": {"app": "orders"}})).await;
    let line = status[0].status.as_ref().unwrap().group.clone().unwrap();
    assert!(
        line.starts_with("group shop, release push ")
            && line.contains("orders rolled back by the group")
            && line.contains("payments failed"),
        "{line}"
    );
}

/// Staging's `orders` and `payments` both deploy one push; production's members of group
/// `shop` are promoted from them, together: not when the first source completes, both when
/// the second does, under one trigger (one release).
#[tokio::test]
async fn a_group_is_promoted_together_once_every_source_completed() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_bucket(&kit.clients, BUCKET).await;
    let (orders, _) = kit.orders().await;
    let payments = kit.create_app("sss", "orders", "payments").await;
    let mut entries = vec![orders.config(), payments.config()];
    for (source, prod) in [("orders", "orders-prod"), ("payments", "payments-prod")] {
        let app = kit.create_app("sss", "orders", prod).await;
        let mut entry = app.config();
        entry.as_object_mut().unwrap().remove("tags");
        entry["promote_from"] = json!(source);
        entry["group"] = json!("shop");
        entries.push(entry);
    }
    let config = json!({"apps": entries}).to_string();
    let settings = Settings {
        records: Some(RecordStore::in_bucket(BUCKET)),
        ..Settings::default()
    };
    let run = |event: serde_json::Value| {
        let (clients, config, settings) = (kit.clients.clone(), config.clone(), settings.clone());
        async move {
            invoke_job::<ImagePush>(&clients, &config, &event, &settings)
                .await
                .unwrap()
                .results
        }
    };
    let prod_before = world::service_task_definition(&kit.clients, "sss", "orders-prod").await;

    let v2 = world::push_image(&kit.clients, "orders", "latest", "v2").await;
    let staged = run(push_event("orders", "latest", &v2)).await;
    assert_eq!(staged.len(), 2, "{staged:?}");
    let completed = |app: &str| {
        let id = of(&staged, app).ecs_deployment_id.clone().unwrap();
        recorded_ecs_event("ecs-deployment-completed.json", "sss", app, &id)
    };
    // `orders` completes: `payments` still deploys the release, so production waits.
    let heard = run(completed("orders")).await;
    assert!(
        heard
            .iter()
            .all(|r| !r.app.as_deref().unwrap_or_default().ends_with("-prod")),
        "{heard:?}"
    );
    assert_eq!(
        world::service_task_definition(&kit.clients, "sss", "orders-prod").await,
        prod_before
    );
    // `payments` completes: both production members are promoted, as one release.
    let heard = run(completed("payments")).await;
    for prod in ["orders-prod", "payments-prod"] {
        assert_eq!(of(&heard, prod).outcome, Outcome::Deployed, "{heard:?}");
        let running = world::service_task_definition(&kit.clients, "sss", prod).await;
        assert!(world::container_image(&kit.clients, &running, "app")
            .await
            .ends_with(&v2));
    }
    let (first, second) = (
        index(&kit, "orders-prod").await.records[0].trigger.clone(),
        index(&kit, "payments-prod").await.records[0].trigger.clone(),
    );
    assert_eq!((first.kind, &first.id), (second.kind, &second.id));
    assert!(first.id.starts_with("group-shop:"), "{first:?}");
    // The completion's replay promotes nothing again.
    emulator.start_recording();
    run(completed("payments")).await;
    assert_eq!(count_op(&emulator.stop_recording(), "UpdateService"), 0);
}
