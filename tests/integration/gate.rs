//! A gate task before the rollout (`before_deploy`): the new revision's task runs the command
//! with the service's network configuration, and only its container's exit 0 (heard from a
//! recorded `ECS Task State Change` event) updates the service. Never run twice for one deploy.

use std::time::{Duration, SystemTime};

use deployer::image_push::{follow, ImagePush, Outcome, Report};
use deployer::job::{Invocation, Settings};
use deployer::records::{DeployOutcome, RecordStore};
use deployer_devkit::emulator::count_op;
use deployer_devkit::events::recorded_task_stop;
use deployer_devkit::world::{self, invoke_job, job_clients, push_event, World};
use deployer_devkit::Emulator;
use serde_json::json;

const BUCKET: &str = "deployer-state";

fn gated_config(entry: serde_json::Value) -> String {
    let mut entry = entry;
    entry["before_deploy"] = json!({"command": ["./migrate", "up"], "timeout_minutes": 10});
    json!({"apps": [entry]}).to_string()
}

fn settings() -> Settings {
    Settings {
        records: Some(RecordStore::in_bucket(BUCKET)),
        ..Settings::default()
    }
}

async fn push(kit: &World, config: &str, seed: &str) -> (Report, serde_json::Value) {
    let digest = world::push_image(&kit.clients, "orders", "latest", seed).await;
    let event = push_event("orders", "latest", &digest);
    let answer = invoke_job::<ImagePush>(&kit.clients, config, &event, &settings())
        .await
        .unwrap();
    (answer.results[0].clone(), event)
}

async fn record_of(kit: &World, id: &str) -> deployer::records::DeployRecord {
    let index = RecordStore::in_bucket(BUCKET)
        .read(&kit.clients.s3, "orders")
        .await
        .unwrap();
    index.get(id).cloned().expect("the deploy's record")
}

#[tokio::test]
async fn a_gate_task_that_exits_1_fails_the_deploy_without_touching_the_service_and_exit_0_rolls_out() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_bucket(&kit.clients, BUCKET).await;
    let (app, _) = kit.orders().await;
    let config = gated_config(app.config());

    // The push registers the new revision and runs the gate from it; the service waits.
    emulator.start_recording();
    let (gated, event) = push(&kit, &config, "v2").await;
    let calls = emulator.stop_recording();
    assert_eq!(gated.outcome, Outcome::Gated, "{gated:?}");
    assert_eq!((count_op(&calls, "RunTask"), count_op(&calls, "UpdateService")), (1, 0));
    let run = calls.iter().find(|c| c.operation.starts_with("RunTask")).unwrap();
    let body: serde_json::Value = serde_json::from_str(&run.body).unwrap();
    let new = gated.new_task_definition.clone().unwrap();
    assert_eq!(body["taskDefinition"], json!(new));
    assert_eq!(body["startedBy"], json!("ecs-deployer/gate"));
    assert_eq!(
        body["overrides"]["containerOverrides"][0],
        json!({"name": "app", "command": ["./migrate", "up"]})
    );
    assert_eq!(
        body["networkConfiguration"]["awsvpcConfiguration"]["subnets"],
        json!(kit.subnets),
        "the service's network configuration: {body}"
    );
    assert!(
        body["clientToken"].as_str().is_some_and(|t| t.starts_with("gate-")),
        "{body}"
    );
    let gate = gated.gate.clone().expect("the gate task");
    let deploy_id = gated.deploy_id.clone().unwrap();
    assert_eq!(record_of(&kit, &deploy_id).await.outcome, DeployOutcome::InProgress);
    assert_eq!(
        world::service_task_definition(&kit.clients, "sss", "orders").await,
        app.task_definition
    );

    // A replay of the push (Lambda's retry, EventBridge's at-least-once) runs no second gate.
    emulator.start_recording();
    let replay = invoke_job::<ImagePush>(&kit.clients, &config, &event, &settings())
        .await
        .unwrap();
    let calls = emulator.stop_recording();
    assert_eq!(replay.results[0].outcome, Outcome::Unchanged, "{replay:?}");
    assert_eq!(
        count_op(&calls, "RunTask") + count_op(&calls, "RegisterTaskDefinition"),
        0
    );

    // The gate's container exits 1: the deploy fails, the service untouched.
    let stop = recorded_task_stop("sss", &gate.task_arn, "app", Some(1));
    emulator.start_recording();
    let heard = invoke_job::<ImagePush>(&kit.clients, &config, &stop, &settings())
        .await
        .unwrap();
    let calls = emulator.stop_recording();
    let failed = &heard.results[0];
    // The event moved the deploy (`Deploy Failed` is published, as for ECS's own failures).
    assert_eq!(failed.outcome, Outcome::Followed, "{heard:?}");
    assert!(
        failed.actions.iter().any(|a| a.ends_with("in_progress -> failed")),
        "{failed:?}"
    );
    assert_eq!(count_op(&calls, "UpdateService"), 0);
    assert_eq!(
        world::service_task_definition(&kit.clients, "sss", "orders").await,
        app.task_definition
    );
    let record = record_of(&kit, &deploy_id).await;
    assert_eq!(record.outcome, DeployOutcome::Failed);
    assert!(
        record
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("container app exited 1"),
        "{record:?}"
    );
    assert_eq!(record.gate.as_ref().unwrap().exit_code, Some(1));
    // The event's retry finds the gate decided.
    let retried = invoke_job::<ImagePush>(&kit.clients, &config, &stop, &settings())
        .await
        .unwrap();
    assert_eq!(retried.results[0].outcome, Outcome::Unchanged, "{retried:?}");
    // Nor does a replay of the failed deploy's push run the gate again.
    emulator.start_recording();
    let replay = invoke_job::<ImagePush>(&kit.clients, &config, &event, &settings())
        .await
        .unwrap();
    let calls = emulator.stop_recording();
    assert_eq!(replay.results[0].outcome, Outcome::Unchanged, "{replay:?}");
    assert_eq!(count_op(&calls, "RunTask"), 0);

    // The next push's gate exits 0: the service rolls out, followed like any deploy.
    let (gated, _) = push(&kit, &config, "v3").await;
    assert_eq!(gated.outcome, Outcome::Gated, "{gated:?}");
    let gate = gated.gate.clone().unwrap();
    let stop = recorded_task_stop("sss", &gate.task_arn, "app", Some(0));
    emulator.start_recording();
    let heard = invoke_job::<ImagePush>(&kit.clients, &config, &stop, &settings())
        .await
        .unwrap();
    let calls = emulator.stop_recording();
    let deployed = &heard.results[0];
    assert_eq!(deployed.outcome, Outcome::Deployed, "{heard:?}");
    assert_eq!(count_op(&calls, "UpdateService"), 1);
    let new = gated.new_task_definition.unwrap();
    assert_eq!(world::service_task_definition(&kit.clients, "sss", "orders").await, new);
    let record = record_of(&kit, gated.deploy_id.as_deref().unwrap()).await;
    assert_eq!(
        record.outcome,
        DeployOutcome::InProgress,
        "ECS rolls it out now: {record:?}"
    );
    assert!(record.ecs_deployment_id.is_some() && record.gate.unwrap().passed);
    // The stop's replay updates nothing again.
    emulator.start_recording();
    let replay = invoke_job::<ImagePush>(&kit.clients, &config, &stop, &settings())
        .await
        .unwrap();
    let calls = emulator.stop_recording();
    assert_eq!(replay.results[0].outcome, Outcome::Unchanged, "{replay:?}");
    assert_eq!(count_op(&calls, "UpdateService") + count_op(&calls, "RunTask"), 0);
}

/// No event told of the gate: the settle run leaves it while it is within its time (and never
/// settles its deploy from the service), then stops it past its deadline and fails the deploy.
#[tokio::test]
async fn a_gate_task_past_its_deadline_is_stopped_and_fails_the_deploy() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_bucket(&kit.clients, BUCKET).await;
    let (app, _) = kit.orders().await;
    let config_text = gated_config(app.config());
    let (gated, _) = push(&kit, &config_text, "v2").await;
    assert_eq!(gated.outcome, Outcome::Gated, "{gated:?}");
    let deploy_id = gated.deploy_id.clone().unwrap();

    let config = deployer::Config::parse(&config_text, "test").unwrap();
    let clients = job_clients::<ImagePush>(&kit.clients);
    let invocation = Invocation {
        request_id: "settle".into(),
        deadline: None,
        account: None,
        caller: None,
    };
    // Within its time, even past the settle time: nothing is asked to move.
    let later = SystemTime::now() + Duration::from_secs(5 * 60);
    emulator.start_recording();
    follow::settle(&clients, &config, &settings(), &invocation, later).await;
    let calls = emulator.stop_recording();
    assert_eq!(count_op(&calls, "DescribeTasks"), 1);
    assert_eq!(count_op(&calls, "StopTask") + count_op(&calls, "UpdateService"), 0);
    assert_eq!(record_of(&kit, &deploy_id).await.outcome, DeployOutcome::InProgress);

    // Past its ten minutes: stopped, and the deploy failed with the reason.
    let past = SystemTime::now() + Duration::from_secs(11 * 60);
    emulator.start_recording();
    let answer = follow::settle(&clients, &config, &settings(), &invocation, past).await;
    let calls = emulator.stop_recording();
    assert_eq!(
        (count_op(&calls, "StopTask"), count_op(&calls, "UpdateService")),
        (1, 0)
    );
    let report = answer
        .results
        .iter()
        .find(|r| r.app.as_deref() == Some("orders"))
        .expect("the gate's report");
    assert_eq!(report.outcome, Outcome::Followed, "{answer:?}");
    let record = record_of(&kit, &deploy_id).await;
    assert_eq!(record.outcome, DeployOutcome::Failed);
    assert!(
        record.reason.as_deref().unwrap_or_default().contains("timed out"),
        "{record:?}"
    );
    assert_eq!(
        world::service_task_definition(&kit.clients, "sss", "orders").await,
        app.task_definition
    );
}

/// A fan-out through the deploy queue: the deploy worker runs each application's gate once
/// (its redeliveries none), and no service moves before its gate's exit 0.
#[tokio::test(flavor = "multi_thread")]
async fn queued_deploys_run_each_gate_once_from_the_worker() {
    use deployer_devkit::sqs_player::SqsPlayer;
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_bucket(&kit.clients, BUCKET).await;
    let apps = kit.fleet("gated", 3).await;
    let mut config: serde_json::Value =
        serde_json::from_str(&world::config_with(&apps, json!({"inline_max": 1}))).unwrap();
    for entry in config["apps"].as_array_mut().unwrap() {
        entry["before_deploy"] = json!({"command": ["./migrate", "up"]});
    }
    let config = config.to_string();
    let player = SqsPlayer::fifo(&kit.clients, "deploys", 10, 2).await;
    let settings = Settings {
        deploy_queue: Some(player.queue_url.clone()),
        ..settings()
    };
    let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;
    let event = push_event("orders", "latest", &digest);
    let queued = invoke_job::<ImagePush>(&kit.clients, &config, &event, &settings)
        .await
        .unwrap();
    assert!(
        queued.results.iter().all(|r| r.outcome == Outcome::Queued),
        "{queued:?}"
    );

    emulator.start_recording();
    let drained = player
        .drain(20, |batch| {
            let (clients, config, settings) = (kit.clients.clone(), config.clone(), settings.clone());
            async move { world::invoke_worker(&clients, &config, &batch, &settings).await }
        })
        .await;
    let calls = emulator.stop_recording();
    assert_eq!((drained.deliveries, drained.redelivered), (3, 0), "{drained:?}");
    assert_eq!((count_op(&calls, "RunTask"), count_op(&calls, "UpdateService")), (3, 0));
    for app in &apps {
        assert_eq!(
            world::service_task_definition(&kit.clients, "sss", &app.name).await,
            app.task_definition
        );
        let index = RecordStore::in_bucket(BUCKET)
            .read(&kit.clients.s3, &app.name)
            .await
            .unwrap();
        assert!(index.records[0].gate_pending(), "{:?}", index.records);
    }
}
