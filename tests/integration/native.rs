//! ECS's native deployments (blue/green, linear, canary; bake time, lifecycle and pause hooks)
//! followed through the service deployments API, which the emulator's stand-in
//! (`devkit/ecs_deployments.py`) answers: a deployment ECS still moves is never `timed_out`.

use std::time::{Duration, SystemTime};

use deployer::image_push::{ImagePush, Outcome};
use deployer::job::Settings;
use deployer::lease::LeaseConfig;
use deployer::records::{format_time, Change, DeployIndex, DeployOutcome, RecordStore};
use deployer::AwsClients;
use deployer_devkit::emulator::count_writes;
use deployer_devkit::events::EventTap;
use deployer_devkit::world::{self, invoke_job, push_event, World};
use deployer_devkit::Emulator;
use serde_json::{json, Value};

const BUCKET: &str = "deployer-state";

fn settle_event() -> Value {
    json!({
        "version": "0", "id": "settle-native", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-11-22T10:40:00Z", "region": "ap-northeast-1",
        "resources": [], "detail": {}
    })
}

async fn run(clients: &AwsClients, config: &str, payload: &Value, settings: &Settings) -> deployer::image_push::Answer {
    invoke_job::<ImagePush>(clients, config, payload, settings)
        .await
        .unwrap()
}

async fn index(clients: &AwsClients) -> DeployIndex {
    RecordStore::in_bucket(BUCKET)
        .read(&clients.s3, "orders")
        .await
        .unwrap()
}

/// Makes the newest deploy of `orders` look `minutes` old (the settle run reads the age from
/// the record).
async fn age_newest_deploy(clients: &AwsClients, minutes: u64) {
    let started = format_time(SystemTime::now() - Duration::from_secs(minutes * 60));
    RecordStore::in_bucket(BUCKET)
        .update(&clients.s3, "orders", |index| {
            index.records[0].started_at = started.clone();
            vec![Change {
                record: index.records[0].clone(),
                from: None,
            }]
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_blue_green_deploy_baking_90_minutes_is_never_timed_out() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_bucket(&kit.clients, BUCKET).await;
    let tap = EventTap::new(&kit.clients, "deploys").await;
    let settings = Settings {
        lease: Some(LeaseConfig::in_bucket(BUCKET)),
        records: Some(RecordStore::in_bucket(BUCKET)),
        event_bus: Some("deploys".into()),
        ..Settings::default()
    };
    let (app, _) = kit.orders().await;
    let config = world::config_for(&[&app]);
    let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;
    let pushed = run(
        &kit.clients,
        &config,
        &push_event("orders", "latest", &digest),
        &settings,
    )
    .await;
    assert_eq!(pushed.results[0].outcome, Outcome::Deployed, "{pushed:?}");

    // 95 minutes after the push, ECS has baked the new revision for 90 (its bake time is 120):
    // DescribeServices alone shows a deployment IN_PROGRESS for ever (the emulator never rolls
    // out), which the settle time (30 minutes) would call timed out.
    age_newest_deploy(&kit.clients, 95).await;
    let ninety_ago = SystemTime::now() - Duration::from_secs(90 * 60);
    let epoch = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs_f64();
    emulator.set_service_deployment(
        "sss",
        "orders",
        json!({"lifecycleStage": "BAKE_TIME", "updatedAt": epoch(ninety_ago),
            "deploymentConfiguration": {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 120}}),
    );
    let answer = run(&kit.clients, &config, &settle_event(), &settings).await;
    assert!(
        answer.results.iter().all(|r| r.outcome != Outcome::Failed),
        "{answer:?}"
    );
    let record = index(&kit.clients).await.records.remove(0);
    assert_eq!(record.outcome, DeployOutcome::InProgress, "{record:?}");
    let native = record.native.expect("the stage is recorded");
    assert_eq!(
        (native.status.as_str(), native.lifecycle_stage.as_str()),
        ("IN_PROGRESS", "BAKE_TIME")
    );

    // The next runs, still baking: nothing written, nothing published.
    emulator.start_recording();
    run(&kit.clients, &config, &settle_event(), &settings).await;
    assert_eq!(count_writes(&emulator.stop_recording()), 0);
    let (types, _) = tap.detail_types().await;
    assert_eq!(types, vec!["Deploy Started"], "no Deploy Timed Out while ECS bakes");

    // ECS ends the bake: the deploy completed.
    emulator.set_service_deployment(
        "sss",
        "orders",
        json!({"status": "SUCCESSFUL", "lifecycleStage": "CLEAN_UP"}),
    );
    run(&kit.clients, &config, &settle_event(), &settings).await;
    assert_eq!(index(&kit.clients).await.records[0].outcome, DeployOutcome::Completed);
    let (types, _) = tap.detail_types().await;
    assert_eq!(types, vec!["Deploy Succeeded"]);
}
