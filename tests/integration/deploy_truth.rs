//! A deploy's truth: each deploy leaves one record in the state bucket, recorded ECS events
//! (`events/ecs-*.json`) and the settle run move it to its end, each transition reaches a rule's
//! target on the bus with its exact fields, `status` shows it, and a rollback goes to the last
//! good deploy.

use std::time::Duration;

use deployer::image_push::Outcome;
use deployer::job::{Invocation, Settings};
use deployer::lease::LeaseConfig;
use deployer::records::{DeployIndex, DeployOutcome, RecordStore};
use deployer::AwsClients;
use deployer_devkit::emulator::{count_op, count_writes, sdk_config_for};
use deployer_devkit::events::{recorded_ecs_event, EventTap};
use deployer_devkit::faults::{Fault, FaultPlan, FaultProxy};
use deployer_devkit::world::{self, invoke_job, invoke_job_as, push_event, AppWorld, World};
use deployer_devkit::Emulator;
use serde_json::{json, Value};

use deployer::image_push::ImagePush;

mod publishing;
mod retries;
mod settle;

const BUCKET: &str = "deployer-state";

/// A world with the state bucket, a bus `deploys` tapped into a queue, and settings that keep
/// records and publish on that bus.
async fn truth_world(emulator: &Emulator) -> (World, EventTap, Settings) {
    let kit = World::new(emulator).await;
    world::create_bucket(&kit.clients, BUCKET).await;
    let tap = EventTap::new(&kit.clients, "deploys").await;
    let settings = Settings {
        lease: Some(LeaseConfig::in_bucket(BUCKET)),
        records: Some(RecordStore::in_bucket(BUCKET)),
        event_bus: Some("deploys".into()),
        ..Settings::default()
    };
    (kit, tap, settings)
}

async fn index(clients: &AwsClients, app: &str) -> DeployIndex {
    RecordStore::in_bucket(BUCKET).read(&clients.s3, app).await.unwrap()
}

async fn run(clients: &AwsClients, config: &str, payload: &Value, settings: &Settings) -> deployer::image_push::Answer {
    invoke_job::<ImagePush>(clients, config, payload, settings)
        .await
        .unwrap()
}

async fn push(kit: &World, config: &str, settings: &Settings, seed: &str) -> deployer::image_push::Report {
    let digest = world::push_image(&kit.clients, "orders", "latest", seed).await;
    let answer = run(&kit.clients, config, &push_event("orders", "latest", &digest), settings).await;
    answer.results.into_iter().next().unwrap()
}

fn config_with(apps: &[&AppWorld], extra: Value) -> String {
    let mut config: Value = serde_json::from_str(&world::config_for(apps)).unwrap();
    if let (Some(config), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
        config.extend(extra.clone());
    }
    config.to_string()
}

#[tokio::test]
async fn a_push_is_recorded_once_followed_to_completion_and_published() {
    let emulator = Emulator::start();
    let (kit, tap, settings) = truth_world(&emulator).await;
    let (app, _) = kit.orders().await;
    let config = world::config_for(&[&app]);
    let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;
    let event = push_event("orders", "latest", &digest);

    let first = run(&kit.clients, &config, &event, &settings).await.results.remove(0);
    assert_eq!(first.outcome, Outcome::Deployed, "{first:?}");
    let deploy_id = first.deploy_id.clone().expect("the deploy's record");
    let deployment = first.ecs_deployment_id.clone().expect("the ECS deployment");
    // Lambda's retry and EventBridge's redelivery of the same event: one record, one revision;
    // the records answer it beside the service's read (no revision or image read, no write).
    for _ in 0..2 {
        emulator.start_recording();
        let again = run(&kit.clients, &config, &event, &settings).await.results.remove(0);
        let calls = emulator.stop_recording();
        assert_eq!(again.outcome, Outcome::Unchanged);
        assert!(again.reason.as_deref().unwrap().contains(&deploy_id), "{again:?}");
        for op in ["DescribeTaskDefinition", "DescribeImages", "PutEvents"] {
            assert_eq!(count_op(&calls, op), 0, "{op}: {calls:?}");
        }
        assert_eq!(count_writes(&calls), 0, "{calls:?}");
    }
    let records = index(&kit.clients, "orders").await.records;
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0];
    assert_eq!(record.id, deploy_id);
    assert_eq!(record.outcome, DeployOutcome::InProgress);
    assert_eq!(record.trigger.id, event["id"].as_str().unwrap());
    assert_eq!(record.tag.as_deref(), Some("latest"));
    assert_eq!(record.digest.as_deref(), Some(digest.as_str()));
    assert_eq!(
        record.old_task_definition.as_deref(),
        Some(app.task_definition.as_str())
    );
    assert_eq!(record.new_task_definition, first.new_task_definition);
    assert_eq!(world::family_revisions(&kit.clients, "orders").await.len(), 2);

    // ECS: in progress (nothing moves), then completed; the completed event replayed moves nothing.
    let progress = recorded_ecs_event("ecs-deployment-in-progress.json", "sss", "orders", &deployment);
    let heard = run(&kit.clients, &config, &progress, &settings).await.results.remove(0);
    assert_eq!(heard.outcome, Outcome::Unchanged, "{heard:?}");
    let completed = recorded_ecs_event("ecs-deployment-completed.json", "sss", "orders", &deployment);
    let heard = run(&kit.clients, &config, &completed, &settings)
        .await
        .results
        .remove(0);
    assert_eq!(heard.outcome, Outcome::Followed, "{heard:?}");
    assert_eq!(heard.deploy_id.as_deref(), Some(deploy_id.as_str()));
    assert!(
        heard.actions.iter().any(|a| a.starts_with("~ tag live-orders -> ")),
        "{heard:?}"
    );
    emulator.start_recording();
    let replay = run(&kit.clients, &config, &completed, &settings)
        .await
        .results
        .remove(0);
    assert_eq!(replay.outcome, Outcome::Unchanged);
    // The tags are in place: ECR is read, not written.
    assert_eq!(count_writes(&emulator.stop_recording()), 0);
    let record = index(&kit.clients, "orders").await.records.remove(0);
    assert_eq!(record.outcome, DeployOutcome::Completed);
    assert_eq!(record.ended_at.as_deref(), Some("2026-11-22T10:07:59.872Z"));

    // One object per deploy besides the index.
    let object = kit
        .clients
        .s3
        .get_object()
        .bucket(BUCKET)
        .key(format!("deploys/orders/{deploy_id}.json"))
        .send()
        .await
        .unwrap();
    let stored: Value = serde_json::from_slice(&object.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(stored["outcome"], "completed");

    // The rule's target received exactly the two transitions, with their fields.
    let (types, events) = tap.detail_types().await;
    assert_eq!(types, vec!["Deploy Started", "Deploy Succeeded"]);
    for event in &events {
        assert_eq!(event["source"], "ecs-deployer");
        assert_eq!(event["detail"]["app"], "orders");
        assert_eq!(event["detail"]["deploy"]["id"], deploy_id.as_str());
        assert_eq!(event["detail"]["deploy"]["digest"], digest.as_str());
        assert_eq!(event["detail"]["deploy"]["ecs_deployment_id"], deployment.as_str());
        assert!(event["detail"]["links"]["service"]
            .as_str()
            .unwrap()
            .ends_with("/clusters/sss/services/orders/deployments?region=ap-northeast-1"));
    }
    assert_eq!(events[0]["detail"]["outcome"], "in_progress");
    assert_eq!(events[1]["detail"]["outcome"], "completed");
    assert_eq!(events[1]["detail"]["previous_outcome"], "in_progress");
}

#[tokio::test]
async fn ecs_failures_end_as_rolled_back_or_failed_with_ecs_reason() {
    let emulator = Emulator::start();
    let (kit, tap, settings) = truth_world(&emulator).await;
    let (orders, _) = kit.orders().await;
    let guarded = kit.create_app("sss", "orders", "orders-eu").await;
    let mut config: Value = serde_json::from_str(&world::config_for(&[&orders, &guarded])).unwrap();
    config["apps"][1]["circuit_breaker"] = json!(true);
    let config = config.to_string();
    let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;
    let answer = run(
        &kit.clients,
        &config,
        &push_event("orders", "latest", &digest),
        &settings,
    )
    .await;
    let deployment = |app: &str| {
        answer
            .results
            .iter()
            .find(|r| r.app.as_deref() == Some(app))
            .and_then(|r| r.ecs_deployment_id.clone())
            .unwrap()
    };

    // The service with the circuit breaker: ECS rolls back, and the record says so with ECS's reason.
    let failed = recorded_ecs_event(
        "ecs-deployment-failed.json",
        "sss",
        "orders-eu",
        &deployment("orders-eu"),
    );
    run(&kit.clients, &config, &failed, &settings).await;
    let record = index(&kit.clients, "orders-eu").await.records.remove(0);
    assert_eq!(record.outcome, DeployOutcome::RolledBack);
    assert!(record.rolls_back_on_failure);
    assert_eq!(
        record.reason.as_deref(),
        Some("ECS deployment circuit breaker: tasks failed to start.")
    );
    // Without it, the same failure is a failure, not a rollback.
    let failed = recorded_ecs_event("ecs-deployment-failed.json", "sss", "orders", &deployment("orders"));
    run(&kit.clients, &config, &failed, &settings).await;
    assert_eq!(
        index(&kit.clients, "orders").await.records[0].outcome,
        DeployOutcome::Failed
    );

    let (types, events) = tap.detail_types().await;
    assert_eq!(
        types,
        vec![
            "Deploy Started",
            "Deploy Started",
            "Deploy Rolled Back",
            "Deploy Failed"
        ]
    );
    assert_eq!(
        events[2]["detail"]["deploy"]["reason"],
        "ECS deployment circuit breaker: tasks failed to start."
    );
}

#[tokio::test]
async fn a_blue_green_rollback_ends_its_deploy_and_impaired_tasks_do_not() {
    let emulator = Emulator::start();
    let (kit, tap, settings) = truth_world(&emulator).await;
    let (app, _) = kit.orders().await;
    let config = world::config_for(&[&app]);

    // A blue/green deploy that a lifecycle hook failed: ECS's reason says it rolled back.
    let first = push(&kit, &config, &settings, "v2").await;
    let deployment = first.ecs_deployment_id.unwrap();
    let event = recorded_ecs_event("ecs-deployment-failed-blue-green.json", "sss", "orders", &deployment);
    run(&kit.clients, &config, &event, &settings).await;
    let record = index(&kit.clients, "orders").await.records.remove(0);
    assert_eq!(record.outcome, DeployOutcome::RolledBack);
    assert!(record.reason.unwrap().contains("POST_TEST_TRAFFIC_SHIFT"));

    // Tasks that cannot start yet: a warning (ECS keeps trying), noted on the deploy, which
    // stays in progress and publishes nothing; ECS's later completion completes it.
    let second = push(&kit, &config, &settings, "v3").await;
    assert_eq!(second.outcome, Outcome::Deployed);
    tap.received().await;
    let impaired = recorded_ecs_event("ecs-service-task-start-impaired.json", "sss", "orders", "");
    let heard = run(&kit.clients, &config, &impaired, &settings).await.results.remove(0);
    assert_eq!(heard.outcome, Outcome::Followed, "{heard:?}");
    let record = index(&kit.clients, "orders").await.records.remove(0);
    assert_eq!(record.id, second.deploy_id.clone().unwrap());
    assert_eq!(record.outcome, DeployOutcome::InProgress);
    assert!(record.notes[0].contains("SERVICE_TASK_START_IMPAIRED"), "{record:?}");
    let again = run(&kit.clients, &config, &impaired, &settings).await.results.remove(0);
    assert_eq!(again.outcome, Outcome::Unchanged, "noted once: {again:?}");
    let completed = recorded_ecs_event(
        "ecs-deployment-completed.json",
        "sss",
        "orders",
        &second.ecs_deployment_id.unwrap(),
    );
    run(&kit.clients, &config, &completed, &settings).await;
    let record = index(&kit.clients, "orders").await.records.remove(0);
    assert_eq!(record.outcome, DeployOutcome::Completed);
    let (types, _) = tap.detail_types().await;
    assert_eq!(types, vec!["Deploy Succeeded"], "the warning published nothing");
}

#[tokio::test]
async fn status_shows_what_runs_the_recent_deploys_and_drift() {
    let emulator = Emulator::start();
    let (kit, _tap, settings) = truth_world(&emulator).await;
    let (app, _) = kit.orders().await;
    let config = world::config_for(&[&app]);
    let deployed = push(&kit, &config, &settings, "v2").await;
    // ECS says so a second later (a recorded event keeps the day it was recorded).
    let completed = deployer_devkit::events::happening_at(
        recorded_ecs_event(
            "ecs-deployment-completed.json",
            "sss",
            "orders",
            deployed.ecs_deployment_id.as_deref().unwrap(),
        ),
        std::time::SystemTime::now() + Duration::from_secs(1),
    );
    run(&kit.clients, &config, &completed, &settings).await;
    let payload: Value = serde_json::from_str(
        &std::fs::read_to_string(deployer_devkit::host::repo_root().join("events/manual-status.json")).unwrap(),
    )
    .unwrap();

    emulator.start_recording();
    let answer = run(&kit.clients, &config, &payload, &settings).await;
    let calls = emulator.stop_recording();
    assert!(calls.iter().all(|c| !c.is_write()), "status only reads");
    let report = &answer.results[0];
    assert_eq!(report.outcome, Outcome::Status);
    assert_eq!(report.reason, None, "a status answer has no reason to give");
    let status = serde_json::to_value(report.status.as_ref().unwrap()).unwrap();
    assert_eq!(status["running_task_definition"], json!(deployed.new_task_definition));
    assert_eq!(status["running_image"], json!(deployed.image));
    assert_eq!(status["running_tag"], "latest");
    assert_eq!(status["recent"][0]["outcome"], "completed");
    assert!(status["recent"][0]["duration_seconds"].is_u64());
    // The DORA figures of the deploys kept: one completed, no failure.
    assert_eq!(status["dora"]["deploys"], 1, "{status}");
    assert_eq!(status["dora"]["change_failure_rate"], 0.0, "{status}");
    assert!(status["dora"]["lead_time_seconds"].is_u64(), "{status}");
    assert!(status.get("drift").is_none(), "{status}");
    assert!(status.get("in_progress").is_none());

    // Someone points the service elsewhere: drift.
    kit.clients
        .ecs
        .update_service()
        .cluster("sss")
        .service("orders")
        .task_definition(&app.task_definition)
        .send()
        .await
        .unwrap();
    let answer = run(&kit.clients, &config, &json!({"status": {}}), &settings).await;
    let status = serde_json::to_value(answer.results[0].status.as_ref().unwrap()).unwrap();
    assert!(
        status["drift"].as_str().unwrap().contains("no recorded deploy"),
        "{status}"
    );
}

#[tokio::test]
async fn a_rollback_goes_to_the_last_good_deploy_not_the_previous_number() {
    let emulator = Emulator::start();
    let (kit, _tap, settings) = truth_world(&emulator).await;
    let (app, _) = kit.orders().await;
    let config = world::config_for(&[&app]);
    let hear = |report: &deployer::image_push::Report, file: &str| {
        recorded_ecs_event(file, "sss", "orders", report.ecs_deployment_id.as_deref().unwrap())
    };
    // orders:2 completes; orders:3 is rolled back by ECS (to orders:2); orders:4 fails.
    let good = push(&kit, &config, &settings, "v2").await;
    run(
        &kit.clients,
        &config,
        &hear(&good, "ecs-deployment-completed.json"),
        &settings,
    )
    .await;
    let rolled_back = push(&kit, &config, &settings, "v3").await;
    run(
        &kit.clients,
        &config,
        &hear(&rolled_back, "ecs-deployment-failed-blue-green.json"),
        &settings,
    )
    .await;
    let failed = push(&kit, &config, &settings, "v4").await;
    run(
        &kit.clients,
        &config,
        &hear(&failed, "ecs-deployment-failed.json"),
        &settings,
    )
    .await;
    assert!(world::service_task_definition(&kit.clients, "sss", "orders")
        .await
        .ends_with(":4"));

    let plan = run(
        &kit.clients,
        &config,
        &json!({"rollback": {"app": "orders"}, "dry_run": true}),
        &settings,
    )
    .await
    .results
    .remove(0);
    assert_eq!(plan.outcome, Outcome::Planned);
    assert_eq!(plan.new_task_definition, good.new_task_definition, "{plan:?}");
    assert!(
        plan.actions[0].starts_with("= last good: orders:2"),
        "{:?}",
        plan.actions
    );

    let invocation = Invocation::local();
    let payload = json!({"rollback": {"app": "orders"}, "by": "alice"});
    let back = invoke_job_as::<ImagePush>(&kit.clients, &config, &payload, &settings, &invocation)
        .await
        .unwrap()
        .results
        .remove(0);
    assert_eq!(back.outcome, Outcome::Deployed);
    assert!(world::service_task_definition(&kit.clients, "sss", "orders")
        .await
        .ends_with(":2"));
    let record = index(&kit.clients, "orders").await.records.remove(0);
    assert_eq!(record.trigger.kind, deployer::records::TriggerKind::Rollback);
    assert_eq!(record.trigger.id, invocation.request_id);
    assert_eq!(record.trigger.by.as_deref(), Some("alice"));
    assert_eq!(world::family_revisions(&kit.clients, "orders").await.len(), 4);
}
