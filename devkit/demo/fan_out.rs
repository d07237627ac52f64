//! The demo's fan-out step: one push followed by more services than ECS lets one account
//! register at once, through the deploy queue and the deploy worker, with ECS's documented
//! buckets played in front of the emulator.

use std::sync::Arc;
use std::time::Instant;

use deployer::job::Settings;
use deployer::records::RecordStore;
use deployer::AwsClients;
use deployer_devkit::ecs_throttle::EcsThrottle;
use deployer_devkit::emulator::sdk_config_for;
use deployer_devkit::faults::{FaultPlan, FaultProxy};
use deployer_devkit::sqs_player::SqsPlayer;
use deployer_devkit::world::{self, invoke_image_push_with, push_event, World};
use deployer_devkit::Emulator;

/// Services of the fan-out: 10 past the 20-registration burst.
const SERVICES: usize = 30;

/// Runs the fan-out in its own emulator and prints what happened; `Err` says what went wrong.
pub async fn run() -> Result<(), String> {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_bucket(&kit.clients, "deployer-state").await;
    let apps = kit.fleet("fleet", SERVICES).await;
    let config = world::config_with(&apps, serde_json::json!({"inline_max": 5}));
    let throttle = Arc::new(EcsThrottle::documented(1.0));
    let proxy = FaultProxy::start_throttled(emulator.port, FaultPlan::any(0.0, 1), Some(throttle.clone())).await;
    let clients = AwsClients::from_sdk_config(&sdk_config_for(&proxy.endpoint()).await);
    let player = SqsPlayer::fifo(&kit.clients, "deploys", 10, 2).await;
    let settings = Settings {
        deploy_queue: Some(player.queue_url.clone()),
        records: Some(RecordStore::in_bucket("deployer-state")),
        ..Settings::default()
    };
    println!(
        "    {SERVICES} services follow orders:latest; inline_max 5; ECS's buckets in front of the emulator (RegisterTaskDefinition: 20 at once, then 1 a second)"
    );
    let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;
    let started = Instant::now();
    let answer = invoke_image_push_with(&clients, &config, &push_event("orders", "latest", &digest), &settings)
        .await
        .map_err(|e| e.to_string())?;
    let queued = answer
        .results
        .iter()
        .filter(|r| r.outcome == deployer::image_push::Outcome::Queued)
        .count();
    println!("    image-push: {queued} queued (one FIFO message each, group own/ap-northeast-1)");
    let drained = player
        .drain(1_000, |batch| {
            let (clients, config, settings) = (clients.clone(), config.clone(), settings.clone());
            async move { world::invoke_worker(&clients, &config, &batch, &settings).await }
        })
        .await;
    let mut deployed = 0;
    for app in &apps {
        let running = world::service_task_definition(&kit.clients, "sss", &app.name).await;
        if world::container_image(&kit.clients, &running, "app")
            .await
            .ends_with(&digest)
        {
            deployed += 1;
        }
    }
    println!(
        "    deploy-worker: {} batches, {} messages, {} delivered again; {deployed}/{SERVICES} services run the new digest after {:.1} s; {} requests throttled by ECS's buckets",
        drained.invocations,
        drained.deliveries,
        drained.redelivered,
        started.elapsed().as_secs_f64(),
        throttle.refused_total()
    );
    if deployed == SERVICES && queued == SERVICES {
        Ok(())
    } else {
        Err(format!(
            "expected {SERVICES} queued and deployed, got {queued} queued and {deployed} deployed"
        ))
    }
}
