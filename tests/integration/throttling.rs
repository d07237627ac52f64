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
/// Services of the push that finds the bucket emptied by others (each takes a second's refill).
const BUSY_SERVICES: usize = 8;
/// The buckets refill at AWS's documented rates.
const SPEED: f64 = 1.0;

#[tokio::test(flavor = "multi_thread")]
async fn a_push_to_more_services_than_the_burst_deploys_each_once_paced() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let apps = kit.fleet("orders", SERVICES).await;
    let config = world::config_with(&apps, serde_json::json!({}));
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

/// Other clients of the account (Terraform, CI) emptied the bucket just before the push: the
/// deployer's calls are refused, it slows down (AIMD) and puts off what it could not do in time;
/// no deploy fails, no revision is registered twice, and Lambda's retries finish the push.
#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_others_emptied_slows_the_push_down_and_nothing_fails() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let apps = kit.fleet("busy", BUSY_SERVICES).await;
    let config = world::config_with(&apps, serde_json::json!({}));
    let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;
    let throttle = Arc::new(EcsThrottle::documented(SPEED));
    for _ in 0..20 {
        assert!(throttle.take("testing", deployer_devkit::emulator::REGION, "RegisterTaskDefinition"));
    }
    let proxy = FaultProxy::start_throttled(emulator.port, FaultPlan::any(0.0, 1), Some(throttle.clone())).await;
    let clients = AwsClients::from_sdk_config(&sdk_config_for(&proxy.endpoint()).await);
    let event = push_event("orders", "latest", &digest);
    emulator.start_recording();
    let mut invocations = 0;
    let mut deferred = 0;
    loop {
        invocations += 1;
        let answer = invoke_image_push_with(&clients, &config, &event, &Settings::default())
            .await
            .unwrap();
        let failed: Vec<_> = answer.results.iter().filter(|r| r.outcome == Outcome::Failed).collect();
        assert!(failed.is_empty(), "{failed:?}");
        deferred += answer.results.iter().filter(|r| r.outcome == Outcome::Deferred).count();
        if answer
            .results
            .iter()
            .all(|r| matches!(r.outcome, Outcome::Deployed | Outcome::Unchanged))
        {
            break;
        }
        assert!(invocations < 3, "Lambda's three attempts: {answer:?}");
    }
    let calls = emulator.stop_recording();
    assert_eq!(
        count_op(&calls, "RegisterTaskDefinition"),
        BUSY_SERVICES,
        "each registered once"
    );
    for app in &apps {
        let running = world::service_task_definition(&kit.clients, "sss", &app.name).await;
        assert!(world::container_image(&kit.clients, &running, "app")
            .await
            .ends_with(&digest));
    }
    println!(
        "{BUSY_SERVICES} services after others emptied the bucket: {invocations} invocation(s), {deferred} deploys deferred, {} requests throttled",
        throttle.refused_total()
    );
}
