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
                milestone: None,
            }]
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_blue_green_deploy_baking_90_minutes_is_never_timed_out() {
    let emulator = Emulator::start();
    let (kit, tap, settings, config) = deployed(&emulator).await;

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
    assert_eq!(
        types,
        vec!["Deploy Started", "Deploy Live"],
        "baking: production traffic is on the new revision; no Deploy Timed Out while ECS bakes"
    );

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

/// The world of the pause tests: `orders` deployed once (v2), its deploy in flight.
async fn deployed(emulator: &Emulator) -> (World, EventTap, Settings, String) {
    let kit = World::new(emulator).await;
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
    push(&kit, &config, &settings, "v2").await;
    (kit, tap, settings, config)
}

async fn push(kit: &World, config: &str, settings: &Settings, seed: &str) {
    let digest = world::push_image(&kit.clients, "orders", "latest", seed).await;
    let pushed = run(&kit.clients, config, &push_event("orders", "latest", &digest), settings).await;
    assert_eq!(pushed.results[0].outcome, Outcome::Deployed, "{pushed:?}");
}

/// ECS pauses the newest deployment of `orders` at a hook awaiting action.
fn pause(emulator: &Emulator, hook: &str) {
    emulator.set_service_deployment(
        "sss",
        "orders",
        json!({"lifecycleStage": "POST_TEST_TRAFFIC_SHIFT", "lifecycleHookDetails": [{
            "hookId": hook, "targetType": "PAUSE", "status": "AWAITING_ACTION",
            "expiresAt": 1_900_000_000.0, "timeoutAction": "ROLLBACK"}]}),
    );
}

/// `config` with a settle time of 0: every deploy in progress is due.
fn settled_at_once(config: &str) -> String {
    let mut config: Value = serde_json::from_str(config).unwrap();
    config["settle_after_minutes"] = json!(0);
    config.to_string()
}

fn hook_event() -> Value {
    deployer_devkit::events::recorded_ecs_event("ecs-hook-state-change.json", "sss", "orders", "")
}

fn payload(file: &str) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(deployer_devkit::host::repo_root().join("events").join(file)).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_paused_deploy_publishes_deploy_paused_once_and_continues_or_rolls_back_from_the_payloads() {
    let emulator = Emulator::start();
    let (kit, tap, settings, config) = deployed(&emulator).await;
    let running_before = world::service_task_definition(&kit.clients, "sss", "orders").await;

    // Nothing paused yet: a `continue` is refused, saying why, before any ECS write.
    emulator.start_recording();
    let refused = invoke_job::<ImagePush>(&kit.clients, &config, &payload("manual-continue.json"), &settings).await;
    assert_eq!(count_writes(&emulator.stop_recording()), 0);
    let err = refused.unwrap_err().to_string();
    assert!(
        err.contains("continue.app") && err.contains("no hook of it awaits"),
        "{err}"
    );

    // ECS pauses at a hook and says so: one Deploy Paused, with the payloads that answer it.
    pause(&emulator, "approve-prod");
    let heard = run(&kit.clients, &config, &hook_event(), &settings).await;
    assert_eq!(heard.results[0].outcome, Outcome::Followed, "{heard:?}");
    run(&kit.clients, &config, &hook_event(), &settings).await;
    let settle_config = settled_at_once(&config);
    run(&kit.clients, &settle_config, &settle_event(), &settings).await;
    let (types, details) = tap.detail_types().await;
    assert_eq!(types, vec!["Deploy Started", "Deploy Paused"], "once, whoever looked");
    let paused = &details[1]["detail"];
    assert_eq!(paused["hooks"][0]["hook_id"], "approve-prod");
    assert_eq!(paused["hooks"][0]["timeout_action"], "ROLLBACK");
    assert_eq!(paused["lifecycle_stage"], "POST_TEST_TRAFFIC_SHIFT");
    assert_eq!(paused["continue"]["continue"]["app"], "orders");
    assert_eq!(index(&kit.clients).await.records[0].outcome, DeployOutcome::InProgress);

    // `continue`: ECS is told to go on, the deploy notes who and where.
    emulator.start_recording();
    let answer = run(&kit.clients, &config, &payload("manual-continue.json"), &settings).await;
    let calls = emulator.stop_recording();
    assert_eq!(answer.results[0].outcome, Outcome::Followed, "{answer:?}");
    let continued: Vec<Value> = calls
        .iter()
        .filter(|c| c.operation == "ContinueServiceDeployment")
        .map(|c| c.json_body())
        .collect();
    assert_eq!(continued.len(), 1, "{calls:?}");
    assert_eq!(
        (continued[0]["hookId"].as_str(), continued[0]["action"].as_str()),
        (Some("approve-prod"), Some("CONTINUE"))
    );
    let record = index(&kit.clients).await.records.remove(0);
    assert!(
        record
            .notes
            .iter()
            .any(|n| n.contains("continued at stage POST_TEST_TRAFFIC_SHIFT (hook approve-prod) by alice")),
        "{record:?}"
    );
    assert_eq!(record.outcome, DeployOutcome::InProgress, "ECS takes it on from there");

    // A second deploy pauses; `abort` rolls it back: ECS puts the service back itself.
    emulator.set_service_deployment("sss", "orders", json!({"status": "SUCCESSFUL"}));
    push(&kit, &config, &settings, "v3").await;
    let v2 = world::service_task_definition(&kit.clients, "sss", "orders").await;
    assert_ne!(v2, running_before);
    pause(&emulator, "approve-prod-2");
    let aborted = run(&kit.clients, &config, &payload("manual-abort.json"), &settings).await;
    assert_eq!(aborted.results[0].outcome, Outcome::Followed, "{aborted:?}");
    assert!(aborted.results[0].actions[0].contains("ROLLBACK"), "{aborted:?}");
    let deployment = emulator.set_service_deployment("sss", "orders", json!({}));
    assert_eq!(deployment["status"], "ROLLBACK_IN_PROGRESS");
    assert_ne!(world::service_task_definition(&kit.clients, "sss", "orders").await, v2);
}

#[tokio::test]
async fn rollback_of_a_deploy_in_flight_is_ecs_own_stop_and_ends_rolled_back() {
    let emulator = Emulator::start();
    let (kit, tap, settings, config) = deployed(&emulator).await;
    let rollback = payload("manual-rollback.json");
    assert_eq!(rollback["rollback"].get("revision"), None, "{rollback}");

    emulator.start_recording();
    let answer = run(&kit.clients, &config, &rollback, &settings).await;
    let calls = emulator.stop_recording();
    assert_eq!(answer.results[0].outcome, Outcome::Followed, "{answer:?}");
    let ops: Vec<&str> = calls.iter().map(|c| c.operation.as_str()).collect();
    assert!(ops.contains(&"StopServiceDeployment"), "{ops:?}");
    assert!(
        !ops.iter()
            .any(|op| *op == "UpdateService" || *op == "RegisterTaskDefinition"),
        "no second deploy: {ops:?}"
    );
    let deployment = emulator.set_service_deployment("sss", "orders", json!({}));
    assert_eq!(deployment["status"], "ROLLBACK_IN_PROGRESS");

    // ECS finishes the rollback; the settle run ends the deploy rolled back.
    emulator.set_service_deployment(
        "sss",
        "orders",
        json!({"status": "ROLLBACK_SUCCESSFUL", "rollback": {"reason": "StopServiceDeployment"}}),
    );
    run(&kit.clients, &settled_at_once(&config), &settle_event(), &settings).await;
    let record = index(&kit.clients).await.records.remove(0);
    assert_eq!(record.outcome, DeployOutcome::RolledBack, "{record:?}");
    assert!(
        record.notes.iter().any(|n| n.contains("rollback asked by")),
        "{record:?}"
    );
    let (types, _) = tap.detail_types().await;
    assert_eq!(types, vec!["Deploy Started", "Deploy Rolled Back"]);
}

#[tokio::test]
async fn the_settle_run_finds_a_pause_no_event_told_of() {
    let emulator = Emulator::start();
    let (kit, tap, settings, config) = deployed(&emulator).await;
    // A young deploy, no pause yet: the settle run (30 minutes by default) writes nothing.
    emulator.start_recording();
    run(&kit.clients, &config, &settle_event(), &settings).await;
    assert_eq!(count_writes(&emulator.stop_recording()), 0);
    // ECS pauses it; the hook event is lost. The next settle run finds the pause, once.
    pause(&emulator, "approve-prod");
    run(&kit.clients, &config, &settle_event(), &settings).await;
    run(&kit.clients, &config, &settle_event(), &settings).await;
    let (types, details) = tap.detail_types().await;
    assert_eq!(types, vec!["Deploy Started", "Deploy Paused"]);
    assert_eq!(details[1]["detail"]["hooks"][0]["hook_id"], "approve-prod");
    assert_eq!(index(&kit.clients).await.records[0].outcome, DeployOutcome::InProgress);
}
