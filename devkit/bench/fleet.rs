//! `make bench` section `fleet`: one push followed by N services in one account and Region, as
//! deployed (inline_max 5, so through the deploy queue and the worker; leases, records and
//! events on), with ECS's documented buckets played in front of the emulator at `speed` times
//! their refill, and the pacer told the same raised rates (`ecs_rates`). Times are reported in
//! real bucket-seconds (wall time × speed) against the floor of N − 20 seconds.

use std::time::Instant;

use deployer::aws::pace::EcsBucket;
use deployer::job::Settings;
use deployer::lease::LeaseConfig;
use deployer::records::RecordStore;
use deployer::AwsClients;
use deployer_devkit::ecs_throttle::EcsThrottle;
use deployer_devkit::emulator::{count_op, sdk_config_for};
use deployer_devkit::events::EventTap;
use deployer_devkit::faults::{FaultPlan, FaultProxy};
use deployer_devkit::sqs_player::SqsPlayer;
use deployer_devkit::world::{self, invoke_job, push_event, World};
use deployer_devkit::Emulator;
use std::sync::Arc;

/// The figures of one fleet run, as table rows.
pub async fn fleet(services: usize, speed: f64) -> Vec<(String, String, String)> {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_bucket(&kit.clients, "deployer-state").await;
    let tap = EventTap::new(&kit.clients, "deploys").await;
    let apps = kit.fleet("fleet", services).await;
    let rates: serde_json::Map<String, serde_json::Value> = EcsBucket::ALL
        .iter()
        .map(|b| {
            let rate = b.documented();
            (
                b.name().to_owned(),
                serde_json::json!({"burst": rate.burst, "per_second": rate.per_second * speed}),
            )
        })
        .collect();
    let config = world::config_with(&apps, serde_json::json!({"inline_max": 5, "ecs_rates": rates}));

    let throttle = Arc::new(EcsThrottle::documented(speed));
    let proxy = FaultProxy::start_throttled(emulator.port, FaultPlan::any(0.0, 1), Some(throttle.clone())).await;
    let clients = AwsClients::from_sdk_config(&sdk_config_for(&proxy.endpoint()).await);
    let player = SqsPlayer::fifo(&kit.clients, "deploys", 10, 2).await;
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
    let started = Instant::now();
    let pushed = invoke_job::<deployer::image_push::ImagePush>(&clients, &config, &event, &settings)
        .await
        .expect("the push is queued");
    let drained = player
        .drain(100_000, |batch| {
            let (clients, config, settings) = (clients.clone(), config.clone(), settings.clone());
            async move { world::invoke_worker(&clients, &config, &batch, &settings).await }
        })
        .await;
    let wall = started.elapsed().as_secs_f64();
    let calls = emulator.stop_recording();
    let (types, _) = tap.detail_types().await;
    let failed_events = types.iter().filter(|t| *t == "Deploy Failed").count();
    let started_events = types.iter().filter(|t| *t == "Deploy Started").count();
    let queued = pushed
        .results
        .iter()
        .filter(|r| r.outcome == deployer::image_push::Outcome::Queued)
        .count();
    let bucket_seconds = wall * speed;
    let floor = services.saturating_sub(20) as f64;
    let label = format!("fleet of {services} services, one push");
    vec![
        (
            format!("{label}: time in bucket-seconds (floor {floor:.0} s)"),
            format!("{bucket_seconds:.0} s ({:.2} of the floor)", bucket_seconds / floor.max(1.0)),
            format!(
                "{wall:.1} s wall with the buckets refilled {speed}x and ecs_rates set to match; {queued} queued, {} worker invocations, {} deliveries, {} delivered again",
                drained.invocations, drained.deliveries, drained.redelivered
            ),
        ),
        (
            format!("{label}: failures"),
            format!("{failed_events} Deploy Failed"),
            format!("{started_events} Deploy Started events from the bus"),
        ),
        (
            format!("{label}: ECS writes that reached ECS"),
            format!(
                "{} RegisterTaskDefinition, {} UpdateService",
                count_op(&calls, "RegisterTaskDefinition"),
                count_op(&calls, "UpdateService")
            ),
            format!("{} requests throttled by the bucket model {:?}", throttle.refused_total(), throttle.refused()),
        ),
    ]
}
