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
async fn the_settle_run_asks_ecs_about_deploys_that_heard_nothing() {
    let emulator = Emulator::start();
    let (kit, tap, settings) = truth_world(&emulator).await;
    let (app, _) = kit.orders().await;
    let settle = json!({
        "version": "0", "id": "settle-1", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-11-22T10:40:00Z", "region": "ap-northeast-1",
        "resources": [], "detail": {}
    });
    // With the default 30 minutes, a fresh deploy is left alone: DescribeServices is not asked
    // (its service deployments are read, for a pause no event told of; none here).
    let config = world::config_for(&[&app]);
    let first = push(&kit, &config, &settings, "v2").await;
    emulator.start_recording();
    let answer = run(&kit.clients, &config, &settle, &settings).await;
    assert_eq!(answer.results[0].outcome, Outcome::Ignored, "{answer:?}");
    assert_eq!(count_op(&emulator.stop_recording(), "DescribeServices"), 0);

    // Settled at once: the emulator reports the deployment IN_PROGRESS for ever, so it timed out.
    let config = config_with(&[&app], json!({"settle_after_minutes": 0}));
    emulator.start_recording();
    let answer = run(&kit.clients, &config, &settle, &settings).await;
    let calls = emulator.stop_recording();
    assert_eq!(answer.results[0].outcome, Outcome::Followed, "{answer:?}");
    let index_reads = calls
        .iter()
        .filter(|c| c.operation.starts_with("GET /deployer-state/deploys/orders/index.json"))
        .count();
    assert_eq!(
        index_reads, 1,
        "the index read to find due deploys is the one changed: {calls:?}"
    );
    assert_eq!(count_op(&calls, "DescribeServices"), 1);
    let record = index(&kit.clients, "orders").await.records.remove(0);
    assert_eq!(record.id, first.deploy_id.clone().unwrap());
    assert_eq!(record.outcome, DeployOutcome::TimedOut);
    assert!(record.reason.unwrap().contains("IN_PROGRESS"));
    let (types, _) = tap.detail_types().await;
    assert_eq!(types, vec!["Deploy Started", "Deploy Timed Out"]);
    // A later word from ECS still corrects it.
    let deployment = first.ecs_deployment_id.unwrap();
    let completed = recorded_ecs_event("ecs-deployment-completed.json", "sss", "orders", &deployment);
    run(&kit.clients, &config, &completed, &settings).await;
    assert_eq!(
        index(&kit.clients, "orders").await.records[0].outcome,
        DeployOutcome::Completed
    );

    // ECS's service deployments API decides where the endpoint has it: the deploy's service
    // deployment succeeded (whatever DescribeServices lists).
    let third = push(&kit, &config, &settings, "v4").await;
    emulator.set_service_deployment("sss", "orders", json!({"status": "SUCCESSFUL"}));
    let answer = run(&kit.clients, &config, &settle, &settings).await;
    assert_eq!(answer.results[0].outcome, Outcome::Followed, "{answer:?}");
    let record = index(&kit.clients, "orders").await.records.remove(0);
    assert_eq!(record.id, third.deploy_id.unwrap());
    assert_eq!(record.outcome, DeployOutcome::Completed);

    // From DescribeServices alone where the endpoint has no such API: a deployment ECS no longer
    // lists, with the service on the deploy's revision, completed.
    let proxy = FaultProxy::start_with(
        emulator.port,
        FaultPlan {
            only: Some("ListServiceDeployments".into()),
            ..FaultPlan::always(Fault::UnknownOperation)
        },
    )
    .await;
    let without_api = AwsClients::from_sdk_config(&sdk_config_for(&proxy.endpoint()).await);
    let second = push(&kit, &config, &settings, "v3").await;
    let store = RecordStore::in_bucket(BUCKET);
    store
        .update(&kit.clients.s3, "orders", |index| {
            let record = index
                .records
                .iter_mut()
                .find(|r| r.id == *second.deploy_id.as_ref().unwrap());
            record.unwrap().ecs_deployment_id = Some("ecs-svc/0000000000000000001".into());
            vec![deployer::records::Change {
                record: index.records[0].clone(),
                from: None,
                milestone: None,
            }]
        })
        .await
        .unwrap();
    let answer = run(&without_api, &config, &settle, &settings).await;
    assert_eq!(answer.results[0].outcome, Outcome::Followed, "{answer:?}");
    assert_eq!(proxy.stats.count(Fault::UnknownOperation), 1, "the API was asked, once");
    assert_eq!(
        index(&kit.clients, "orders").await.records[0].outcome,
        DeployOutcome::Completed
    );
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

#[tokio::test]
async fn a_deferred_attempt_and_its_retry_end_in_one_record_and_one_revision() {
    let emulator = Emulator::start();
    let (kit, tap, mut settings) = truth_world(&emulator).await;
    let (app, _) = kit.orders().await;
    let config = world::config_for(&[&app]);
    // Another deploy holds the service's lease for the whole (short) wait.
    let mut leases = LeaseConfig::in_bucket(BUCKET);
    leases.wait = Duration::from_millis(300);
    let held = deployer::lease::acquire(
        &kit.clients.s3,
        &leases,
        &leases.key("sss", "orders"),
        "other-run",
        "test",
    )
    .await
    .unwrap();
    settings.lease = Some(leases.clone());
    let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;
    let event = push_event("orders", "latest", &digest);

    // A busy lease is "later", not a failure: no record, no event; the invocation is Deferred.
    let answer = run(&kit.clients, &config, &event, &settings).await;
    let deferred = answer.results[0].clone();
    assert_eq!(deferred.outcome, Outcome::Deferred, "{deferred:?}");
    assert!(deferred.reason.as_deref().unwrap().contains("holds the lease"));
    assert_eq!(
        deployer::job::settle::<ImagePush>(answer).unwrap_err().error_type(),
        "Deferred"
    );
    assert!(index(&kit.clients, "orders").await.records.is_empty());

    deployer::lease::release(&kit.clients.s3, &leases, &held).await.unwrap();
    let retried = run(&kit.clients, &config, &event, &settings).await.results.remove(0);
    assert_eq!(retried.outcome, Outcome::Deployed);
    let records = index(&kit.clients, "orders").await.records;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].outcome, DeployOutcome::InProgress);
    assert_eq!(world::family_revisions(&kit.clients, "orders").await.len(), 2);
    let (types, _) = tap.detail_types().await;
    assert_eq!(types, vec!["Deploy Started"]);
}

#[tokio::test]
async fn near_the_deadline_nothing_new_starts_and_it_is_deferred() {
    let emulator = Emulator::start();
    let (kit, _tap, settings) = truth_world(&emulator).await;
    let (app, _) = kit.orders().await;
    let config = world::config_for(&[&app]);
    let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;
    let invocation = Invocation {
        request_id: "near-deadline".into(),
        deadline: Some(std::time::Instant::now() + Duration::from_secs(5)),
        account: None,
        caller: None,
    };
    emulator.start_recording();
    let answer = invoke_job_as::<ImagePush>(
        &kit.clients,
        &config,
        &push_event("orders", "latest", &digest),
        &settings,
        &invocation,
    )
    .await
    .unwrap();
    let calls = emulator.stop_recording();
    assert_eq!(answer.results[0].outcome, Outcome::Deferred);
    assert!(answer.results[0].reason.as_deref().unwrap().contains("not started"));
    assert_eq!(
        count_op(&calls, "RegisterTaskDefinition") + count_op(&calls, "UpdateService"),
        0
    );
    assert!(
        index(&kit.clients, "orders").await.records.is_empty(),
        "nothing recorded"
    );
    let settled = deployer::job::settle::<ImagePush>(answer);
    assert_eq!(settled.unwrap_err().error_type(), "Deferred");
}

#[tokio::test]
async fn a_failed_sync_and_changed_targets_are_published_and_quiet_runs_publish_nothing() {
    use deployer::nlb_sync::NlbSync;
    use deployer::service_sync::ServiceSync;
    use deployer_devkit::dns::{Answer, DnsServer};

    let emulator = Emulator::start();
    let (kit, tap, settings) = truth_world(&emulator).await;
    let (app, _) = kit.orders().await;
    let api = kit.api().await;

    // An API that does not exist: the sync fails, and a person hears of it.
    let mut broken = api.app_config(&app, &["GET"], "/orders/{proxy+}");
    broken["api"]["api_id"] = json!("nosuchapi");
    let config = json!({"apps": [broken]}).to_string();
    let answer = invoke_job::<ServiceSync>(&kit.clients, &config, &json!({"sync": {}}), &settings)
        .await
        .unwrap();
    let error = deployer::job::settle::<ServiceSync>(answer).expect_err("a failed sync is an invocation error");
    assert_eq!(error.error_type(), "SyncFailed");
    let (types, events) = tap.detail_types().await;
    assert_eq!(types, vec!["Sync Failed"], "{events:?}");
    let detail = &events[0]["detail"];
    assert_eq!(events[0]["source"], "ecs-deployer");
    assert_eq!(detail["app"], "orders");
    assert_eq!(detail["sync"]["outcome"], "failed");
    assert!(
        detail["sync"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("nosuchapi"),
        "{detail}"
    );
    assert_eq!(detail["service"], "orders");
    assert!(
        detail["links"]["service"]
            .as_str()
            .unwrap_or_default()
            .contains("/services/orders/"),
        "{detail}"
    );

    // A sync that succeeds is not news.
    let config = json!({"apps": [api.app_config(&app, &["GET"], "/orders/{proxy+}")]}).to_string();
    let synced = invoke_job::<ServiceSync>(&kit.clients, &config, &json!({"sync": {}}), &settings)
        .await
        .unwrap();
    assert_eq!(synced.results[0].outcome, deployer::service_sync::Outcome::Synced);
    assert_eq!(tap.detail_types().await.0, Vec::<String>::new());

    // nlb-sync: registering is news, a quiet run is not, a dry run is not.
    let dns = DnsServer::start();
    let tg = kit.target_group("nlb-443", 443).await;
    let nlb_config = json!({"apps": [], "nlb": {
        "state_bucket": BUCKET,
        "dns_servers": [dns.addr.to_string()],
        "target_groups": [{"target_group_arn": tg, "alb_dns_name": world::ALB_DNS_NAME, "port": 443}],
    }})
    .to_string();
    dns.set(
        world::ALB_DNS_NAME,
        Answer::Addresses(vec!["10.0.1.10".parse().unwrap(), "10.0.1.20".parse().unwrap()]),
    );
    let sync = json!({"sync": {}});
    let first = invoke_job::<NlbSync>(&kit.clients, &nlb_config, &sync, &settings)
        .await
        .unwrap();
    assert_eq!(first.results[0].outcome, deployer::nlb_sync::Outcome::Synced);
    let (types, events) = tap.detail_types().await;
    assert_eq!(types, vec!["Targets Changed"], "{events:?}");
    assert_eq!(events[0]["detail"]["target_group"], tg.as_str());
    assert_eq!(events[0]["detail"]["registered"], json!(["10.0.1.10", "10.0.1.20"]));
    assert_eq!(events[0]["detail"]["deregistered"], json!([]));

    invoke_job::<NlbSync>(&kit.clients, &nlb_config, &sync, &settings)
        .await
        .unwrap();
    dns.set(
        world::ALB_DNS_NAME,
        Answer::Addresses(vec!["10.0.1.30".parse().unwrap()]),
    );
    let planned = invoke_job::<NlbSync>(
        &kit.clients,
        &nlb_config,
        &json!({"sync": {}, "dry_run": true}),
        &settings,
    )
    .await
    .unwrap();
    assert_eq!(planned.results[0].outcome, deployer::nlb_sync::Outcome::Planned);
    assert_eq!(
        tap.detail_types().await.0,
        Vec::<String>::new(),
        "quiet and dry runs publish nothing"
    );
}

#[tokio::test]
async fn a_deploy_whose_record_was_not_written_is_recorded_by_the_retry_once() {
    let emulator = Emulator::start();
    let (kit, tap, _) = truth_world(&emulator).await;
    let (app, _) = kit.orders().await;
    let config = world::config_for(&[&app]);
    // The records' bucket does not exist yet: ECS takes the deploy, its record cannot be written.
    let settings = Settings {
        records: Some(RecordStore::in_bucket("records-later")),
        event_bus: Some("deploys".into()),
        ..Settings::default()
    };
    let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;
    let event = push_event("orders", "latest", &digest);
    let answer = run(&kit.clients, &config, &event, &settings).await;
    let error = deployer::job::settle::<ImagePush>(answer)
        .expect_err("an unrecorded deploy is a failure, so Lambda retries it");
    assert_eq!(error.error_type(), "DeployFailed");
    assert!(error.to_string().contains("a retry writes it"), "{error}");
    let running = world::service_task_definition(&kit.clients, "sss", "orders").await;

    // Lambda's retry: the service already runs the revision; the record is written now, once.
    world::create_bucket(&kit.clients, "records-later").await;
    let store = RecordStore::in_bucket("records-later");
    for attempt in 0..2 {
        let answer = run(&kit.clients, &config, &event, &settings).await;
        assert_eq!(answer.results[0].outcome, Outcome::Unchanged, "{answer:?}");
        let records = store.read(&kit.clients.s3, "orders").await.unwrap().records;
        assert_eq!(records.len(), 1, "attempt {attempt}: {records:?}");
        assert_eq!(records[0].outcome, DeployOutcome::InProgress);
        assert_eq!(records[0].new_task_definition.as_deref(), Some(running.as_str()));
        assert_eq!(records[0].trigger.id, event["id"].as_str().unwrap());
    }
    let (types, _) = tap.detail_types().await;
    assert_eq!(types, vec!["Deploy Started"]);
}

/// ECR's events are best effort: a push whose event never came is deployed by the settle run,
/// once; a digest that was deployed and failed is never redeployed that way.
#[tokio::test]
async fn the_settle_run_deploys_a_push_whose_event_was_lost_and_never_a_failed_digest() {
    let emulator = Emulator::start();
    let (kit, _tap, settings) = truth_world(&emulator).await;
    let (app, _) = kit.orders().await;
    let config = world::config_for(&[&app]);
    let settle = json!({
        "version": "0", "id": "settle-lost", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-11-22T10:40:00Z", "region": "ap-northeast-1",
        "resources": [], "detail": {}
    });
    push(&kit, &config, &settings, "v2").await;
    // v3 is pushed; its event is lost. `status` shows it until the settle run deploys it.
    let v3 = world::push_image(&kit.clients, "orders", "latest", "v3").await;
    let tag_drift = |answer: deployer::image_push::Answer| answer.results[0].status.as_ref().unwrap().tag_drift.clone();
    let status = json!({"status": {"app": "orders"}});
    let drift = tag_drift(run(&kit.clients, &config, &status, &settings).await).expect("a drift");
    assert!(drift.contains("never deployed"), "{drift}");
    let answer = run(&kit.clients, &config, &settle, &settings).await;
    let deployed: Vec<_> = answer
        .results
        .iter()
        .filter(|r| r.outcome == Outcome::Deployed)
        .collect();
    assert_eq!(deployed.len(), 1, "{answer:?}");
    assert_eq!(tag_drift(run(&kit.clients, &config, &status, &settings).await), None);
    let running = world::service_task_definition(&kit.clients, "sss", "orders").await;
    assert!(world::container_image(&kit.clients, &running, "app")
        .await
        .ends_with(&v3));
    let record = index(&kit.clients, "orders").await.records.remove(0);
    assert_eq!(record.digest.as_deref(), Some(v3.as_str()));
    assert_eq!(
        record.trigger.by.as_deref(),
        Some(deployer::image_push::reconcile::RECONCILED_BY)
    );
    // The next settle run finds the record: nothing more.
    emulator.start_recording();
    run(&kit.clients, &config, &settle, &settings).await;
    assert_eq!(count_op(&emulator.stop_recording(), "RegisterTaskDefinition"), 0);

    // v3 fails; a person moves `latest` back to v3 without an event reaching us: never redeployed
    // by the settle run (a deliberate move with its event deploys, as before).
    let deployment = record.ecs_deployment_id.unwrap();
    let failed = recorded_ecs_event("ecs-deployment-failed.json", "sss", "orders", &deployment);
    run(&kit.clients, &config, &failed, &settings).await;
    // ECS's circuit breaker puts v2 back (the emulator does not).
    kit.clients
        .ecs
        .update_service()
        .cluster("sss")
        .service("orders")
        .task_definition(record.old_task_definition.unwrap())
        .send()
        .await
        .unwrap();
    world::push_image(&kit.clients, "orders", "latest", "v4").await;
    world::push_image(&kit.clients, "orders", "latest", "v3").await;
    emulator.start_recording();
    run(&kit.clients, &config, &settle, &settings).await;
    assert_eq!(count_op(&emulator.stop_recording(), "RegisterTaskDefinition"), 0);
    let drift = tag_drift(run(&kit.clients, &config, &status, &settings).await).expect("a drift");
    assert!(drift.contains("ended failed"), "{drift}");
}

#[tokio::test]
async fn with_records_the_running_image_is_read_beside_the_revision_and_still_stops_a_late_event() {
    let emulator = Emulator::start();
    let (kit, _tap, settings) = truth_world(&emulator).await;
    let (app, _) = kit.orders().await;
    let config = world::config_for(&[&app]);
    // release-1 is pushed, then release-2 a second later (ECR keeps whole seconds); release-2's
    // event comes first and deploys.
    let first = world::push_image(&kit.clients, "orders", "release-1", "r1").await;
    let first_event = push_event("orders", "release-1", &first);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = world::push_image(&kit.clients, "orders", "release-2", "r2").await;
    let deployed = run(
        &kit.clients,
        &config,
        &push_event("orders", "release-2", &second),
        &settings,
    )
    .await;
    assert_eq!(deployed.results[0].outcome, Outcome::Deployed, "{deployed:?}");

    // release-1's event, late: the records name the running digest, so one DescribeImages asks
    // for both images beside the revision's read, and the push time still says it is late.
    emulator.start_recording();
    let late = run(&kit.clients, &config, &first_event, &settings)
        .await
        .results
        .remove(0);
    let calls = emulator.stop_recording();
    assert_eq!(late.outcome, Outcome::Stale, "{late:?}");
    assert!(late.reason.as_deref().unwrap().contains("late event"), "{late:?}");
    assert_eq!(count_op(&calls, "DescribeImages"), 1, "{calls:?}");
    // Only the lease, taken beside the reads (the index did not foresee a late event) and given
    // back: no revision, no service update, no record.
    let writes: Vec<_> = calls
        .iter()
        .filter(|c| c.operation.starts_with("PUT ") || c.service != "s3")
        .filter(|c| !c.operation.contains("/leases/") && !c.operation.starts_with("Describe"))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}
