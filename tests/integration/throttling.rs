//! ECS's documented request throttling in front of the emulator (`devkit::ecs_throttle`): one
//! push followed by more services than the task-definition bucket's burst deploys every one of
//! them, each registered once, with no failure, paced instead of refused.

use deployer::image_push::Outcome;
use deployer::job::Settings;
use deployer::AwsClients;
use deployer_devkit::ecs_throttle::EcsThrottle;
use deployer_devkit::emulator::{count_op, sdk_config_for};
use deployer_devkit::faults::{FaultPlan, FaultProxy};
use deployer_devkit::world::{self, invoke_image_push_with, push_event, World};
use deployer_devkit::Emulator;
use std::sync::Arc;

/// Services following one image: past the 20-token burst of RegisterTaskDefinition (the 5
/// past it take 5 s at the documented 1 a second).
const SERVICES: usize = 25;
/// The buckets refill at AWS's documented rates.
const SPEED: f64 = 1.0;

#[tokio::test(flavor = "multi_thread")]
async fn a_push_to_more_services_than_the_burst_deploys_each_once_paced() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_cluster(&kit.clients, "sss").await;
    world::create_repository(&kit.clients, "orders").await;
    world::push_image(&kit.clients, "orders", "latest", "v1").await;
    let mut apps = Vec::new();
    for i in 0..SERVICES {
        apps.push(kit.create_app("sss", "orders", &format!("orders-{i:02}")).await);
    }
    let config = world::config_for(&apps.iter().collect::<Vec<_>>());
    let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;

    let throttle = Arc::new(EcsThrottle::documented(SPEED));
    let plan = FaultPlan {
        rate: 0.0,
        ..FaultPlan::any(0.0, 1)
    };
    let proxy = FaultProxy::start_throttled(emulator.port, plan, Some(throttle.clone())).await;
    let clients = AwsClients::from_sdk_config(&sdk_config_for(&proxy.endpoint()).await);
    emulator.start_recording();
    let started = std::time::Instant::now();
    let answer = invoke_image_push_with(
        &clients,
        &config,
        &push_event("orders", "latest", &digest),
        &Settings::default(),
    )
    .await
    .unwrap();
    let took = started.elapsed();
    let calls = emulator.stop_recording();
    let not_deployed: Vec<_> = answer
        .results
        .iter()
        .filter(|r| r.outcome != Outcome::Deployed)
        .map(|r| (&r.app, r.outcome, &r.reason))
        .collect();
    assert!(not_deployed.is_empty(), "{not_deployed:?}");
    assert_eq!(answer.results.len(), SERVICES);
    assert_eq!(
        count_op(&calls, "RegisterTaskDefinition"),
        SERVICES,
        "each registered once"
    );
    assert_eq!(count_op(&calls, "UpdateService"), SERVICES);
    println!(
        "{SERVICES} services at {SPEED}x the documented refill: {:.1} s, {} requests throttled {:?}",
        took.as_secs_f64(),
        throttle.refused_total(),
        throttle.refused()
    );
}
