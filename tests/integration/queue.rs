//! Large fan-outs through the deploy queue: a push to more than `inline_max` applications is
//! queued, one FIFO message per application; the deploy worker, driven by a local player of
//! Lambda's SQS event source mapping, deploys each once; a replayed push queues nothing twice.

use deployer::image_push::worker::DeployWorker;
use deployer::image_push::Outcome;
use deployer::job::{Job, Settings};
use deployer::lease::LeaseConfig;
use deployer::records::RecordStore;
use deployer_devkit::emulator::count_op;
use deployer_devkit::events::EventTap;
use deployer_devkit::sqs_player::SqsPlayer;
use deployer_devkit::world::{self, invoke_image_push_with, invoke_job, push_event, World};
use deployer_devkit::Emulator;

const APPS: usize = 12;

#[tokio::test(flavor = "multi_thread")]
async fn a_push_to_more_than_inline_max_apps_is_queued_and_each_deployed_once() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let apps = kit.fleet("fleet", APPS).await;
    let config = world::config_with(&apps, serde_json::json!({"inline_max": 5}));
    let player = SqsPlayer::fifo(&kit.clients, "deploys", 10, 2).await;
    // As the template runs it: leases, records and events in the state bucket and on the bus.
    world::create_bucket(&kit.clients, "deployer-state").await;
    let tap = EventTap::new(&kit.clients, "deploys").await;
    let settings = Settings {
        deploy_queue: Some(player.queue_url.clone()),
        lease: Some(LeaseConfig::in_bucket("deployer-state")),
        records: Some(RecordStore::in_bucket("deployer-state")),
        event_bus: Some("deploys".into()),
        ..Settings::default()
    };
    let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;
    let event = push_event("orders", "latest", &digest);

    emulator.start_recording();
    let answer = invoke_image_push_with(&kit.clients, &config, &event, &settings)
        .await
        .unwrap();
    assert!(
        answer.results.iter().all(|r| r.outcome == Outcome::Queued),
        "{answer:?}"
    );
    assert_eq!(answer.results.len(), APPS);
    // The push's own invocation only reads and queues: no deploy in it.
    assert_eq!(count_op(&emulator.stop_recording(), "RegisterTaskDefinition"), 0);
    // The fan-out is recorded once, under the push's event id.
    let key = deployer::image_push::queue::fan_out_key(event["id"].as_str().unwrap());
    let (body, _) = deployer::aws::s3::read_object(&kit.clients.s3, "deployer-state", &key)
        .await
        .unwrap()
        .expect("the fan-out's record");
    let fan_out: deployer::image_push::queue::FanOut = serde_json::from_slice(&body).unwrap();
    assert_eq!((fan_out.apps.len(), fan_out.digest.as_str()), (APPS, digest.as_str()));
    // EventBridge delivers the push again (or Lambda retries it): SQS drops the duplicates.
    invoke_image_push_with(&kit.clients, &config, &event, &settings)
        .await
        .unwrap();

    emulator.start_recording();
    let drained = player
        .drain(20, |batch| {
            let (clients, config, settings) = (kit.clients.clone(), config.clone(), settings.clone());
            async move { world::invoke_worker(&clients, &config, &batch, &settings).await }
        })
        .await;
    let calls = emulator.stop_recording();
    assert_eq!(drained.deliveries, APPS, "one message per application: {drained:?}");
    assert_eq!(drained.redelivered, 0, "{drained:?}");
    assert_eq!(count_op(&calls, "RegisterTaskDefinition"), APPS);
    for app in &apps {
        let running = world::service_task_definition(&kit.clients, "sss", &app.name).await;
        assert!(world::container_image(&kit.clients, &running, "app")
            .await
            .ends_with(&digest));
        let records = RecordStore::in_bucket("deployer-state")
            .read(&kit.clients.s3, &app.name)
            .await
            .unwrap()
            .records;
        assert_eq!(records.len(), 1, "one record, under the push's trigger");
        assert_eq!(records[0].trigger.id, event["id"].as_str().unwrap());
    }
    let (types, _) = tap.detail_types().await;
    assert_eq!(types.iter().filter(|t| *t == "Deploy Started").count(), APPS);
    // A message delivered again after its deploy (SQS is at least once) changes nothing.
    let again = serde_json::json!({"Records": [{
        "messageId": "again-1", "eventSource": "aws:sqs",
        "body": serde_json::json!({"app": apps[0].name, "tag": "latest", "digest": digest,
                                   "event_id": event["id"]}).to_string()
    }]});
    let answer = invoke_job::<DeployWorker>(&kit.clients, &config, &again, &settings)
        .await
        .unwrap();
    assert_eq!(answer.results[0].report.outcome, Outcome::Unchanged);
    assert_eq!(
        DeployWorker::respond(answer).unwrap(),
        serde_json::json!({"batchItemFailures": []})
    );
}

/// One application's messages keep their order (one after one that failed is not started);
/// another application's message in the same batch is deployed, and only the first two are
/// named for delivery again.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_message_holds_back_its_own_application_only() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let (app, _) = kit.orders().await;
    let mut config: serde_json::Value = serde_json::from_str(&world::config_for(&[&app])).unwrap();
    // `ghost` follows the same image, but its service does not exist.
    let mut ghost = config["apps"][0].clone();
    ghost["name"] = "ghost".into();
    ghost["service"] = "ghost".into();
    config["apps"].as_array_mut().unwrap().push(ghost);
    let config = config.to_string();
    let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;
    let message = |id: &str, app: &str| {
        serde_json::json!({"messageId": id, "eventSource": "aws:sqs", "body": serde_json::json!(
            {"app": app, "tag": "latest", "digest": digest, "event_id": "push-1"}).to_string()})
    };
    let batch =
        serde_json::json!({"Records": [message("m-1", "ghost"), message("m-2", "ghost"), message("m-3", "orders")]});
    let answer = invoke_job::<DeployWorker>(&kit.clients, &config, &batch, &Settings::default())
        .await
        .unwrap();
    let outcomes: Vec<Outcome> = answer.results.iter().map(|r| r.report.outcome).collect();
    assert_eq!(outcomes, [Outcome::Failed, Outcome::Deferred, Outcome::Deployed]);
    assert_eq!(
        DeployWorker::respond(answer).unwrap(),
        serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-2"}]})
    );
}

/// A message that must come again is hidden for the worker's redelivery delay
/// (`DEPLOYER_REDELIVERY_SECONDS`), not the queue's visibility timeout, which would hold back its
/// whole message group (the account and Region): with no delay it can be received at once, and
/// its next delivery says it is the second.
#[tokio::test(flavor = "multi_thread")]
async fn a_message_named_again_comes_back_after_the_redelivery_delay_not_the_visibility_timeout() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let (app, _) = kit.orders().await;
    let mut config: serde_json::Value = serde_json::from_str(&world::config_for(&[&app])).unwrap();
    config["apps"][0]["service"] = "ghost".into();
    let config = config.to_string();
    // The player's queue hides a received message for 60 s unless the function says otherwise.
    let player = SqsPlayer::fifo(&kit.clients, "deploys", 10, 2).await;
    let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;
    let body = serde_json::json!({"app": "orders", "tag": "latest", "digest": digest, "event_id": "push-1"});
    let message = deployer::aws::sqs::FifoMessage {
        body: body.to_string(),
        group: "own/us-east-1".into(),
        dedup: "push-1/orders".into(),
    };
    let sqs = aws_sdk_sqs::Client::new(&kit.clients.sdk_config);
    deployer::aws::sqs::send_fifo(&sqs, &player.queue_url, &[message])
        .await
        .unwrap();
    let settings = Settings {
        deploy_queue: Some(player.queue_url.clone()),
        redelivery_seconds: 0,
        ..Settings::default()
    };
    let counts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    for delivery in 1..=2 {
        let drained = player
            .drain(1, |batch| {
                let (clients, config, settings, counts) =
                    (kit.clients.clone(), config.clone(), settings.clone(), counts.clone());
                async move {
                    counts
                        .lock()
                        .unwrap()
                        .push(batch["Records"][0]["attributes"]["ApproximateReceiveCount"].clone());
                    world::invoke_worker(&clients, &config, &batch, &settings).await
                }
            })
            .await;
        assert_eq!(
            (drained.deliveries, drained.redelivered),
            (1, 1),
            "{delivery}: {drained:?}"
        );
        assert_eq!(
            player.hidden().await,
            0,
            "{delivery}: not hidden for the visibility timeout"
        );
    }
    assert_eq!(*counts.lock().unwrap(), ["1", "2"]);
}

/// A deploy that would be put off (here: another deploy holds the service's lease) is put off on
/// its early deliveries, and fails on its last one (`DEPLOYER_DEPLOY_MAX_RECEIVES`), with its
/// record and `Deploy Failed`: SQS moves the message to the dead-letter queue next, and the
/// record must not leave that untold.
#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_put_off_on_its_last_delivery_fails_and_says_so() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let (app, _) = kit.orders().await;
    let config = world::config_for(&[&app]);
    world::create_bucket(&kit.clients, "deployer-state").await;
    let tap = EventTap::new(&kit.clients, "deploys").await;
    let settings = Settings {
        lease: Some(LeaseConfig {
            wait: std::time::Duration::from_millis(300),
            ..LeaseConfig::in_bucket("deployer-state")
        }),
        records: Some(RecordStore::in_bucket("deployer-state")),
        event_bus: Some("deploys".into()),
        deploy_max_receives: 3,
        ..Settings::default()
    };
    let holder = LeaseConfig::in_bucket("deployer-state");
    let key = holder.key("sss", "orders");
    deployer::lease::acquire(&kit.clients.s3, &holder, &key, "someone-else", "orders manual deploy")
        .await
        .unwrap();
    let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;
    let delivery = |count: u32| {
        let body = serde_json::json!({"app": "orders", "tag": "latest", "digest": digest, "event_id": "push-1"});
        serde_json::json!({"Records": [{"messageId": "m-1", "eventSource": "aws:sqs", "body": body.to_string(),
            "attributes": {"ApproximateReceiveCount": count.to_string()}}]})
    };
    let outcome_of =
        |answer: deployer::job::Answer<deployer::image_push::worker::WorkerReport>| answer.results[0].report.clone();
    let early = invoke_job::<DeployWorker>(&kit.clients, &config, &delivery(2), &settings)
        .await
        .unwrap();
    assert_eq!(outcome_of(early).outcome, Outcome::Deferred);
    let last = invoke_job::<DeployWorker>(&kit.clients, &config, &delivery(3), &settings)
        .await
        .unwrap();
    let report = outcome_of(last);
    assert_eq!(report.outcome, Outcome::Failed, "{report:?}");
    assert!(
        report.reason.as_deref().unwrap().contains("put off on every attempt"),
        "{report:?}"
    );
    let index = RecordStore::in_bucket("deployer-state")
        .read(&kit.clients.s3, "orders")
        .await
        .unwrap();
    assert_eq!(index.records.len(), 1, "one failed record: {index:?}");
    assert_eq!(index.records[0].outcome, deployer::records::DeployOutcome::Failed);
    let (types, _) = tap.detail_types().await;
    assert_eq!(types, ["Deploy Failed"]);
}
