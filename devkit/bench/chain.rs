//! `make bench` section `chain`: one deploy as the template runs it (the state bucket for the
//! lease and the records, events on the bus) and bare (neither), with 0, 20, 50 and 100 ms added
//! to every request by a latency proxy in front of the emulator. For each: the AWS calls, the
//! sequential round trips (the critical path, read from the wall times: the extra wall time per
//! millisecond added to every call) and the wall times, each the median of three deploys.

use std::time::{Duration, Instant};

use deployer::image_push::{ImagePush, Outcome};
use deployer::job::{Invocation, Settings};
use deployer::lease::LeaseConfig;
use deployer::records::RecordStore;
use deployer::AwsClients;
use deployer_devkit::emulator::{count_writes, sdk_config_for};
use deployer_devkit::events::{recorded_ecs_event, EventTap};
use deployer_devkit::latency::LatencyProxy;
use deployer_devkit::world::{self, invoke_job_as, push_event, World};
use deployer_devkit::Emulator;

/// Milliseconds added to every request, one set of runs each.
const ADDED_MS: [u64; 4] = [0, 20, 50, 100];

/// The figures, as table rows.
pub async fn chain() -> Vec<(String, String, String)> {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let (app, _) = kit.orders().await;
    world::create_bucket(&kit.clients, "deployer-state").await;
    let _tap = EventTap::new(&kit.clients, "deploys").await;
    let config = world::config_for(&[&app]);
    let as_deployed = Settings {
        lease: Some(LeaseConfig::in_bucket("deployer-state")),
        records: Some(RecordStore::in_bucket("deployer-state")),
        event_bus: Some("deploys".into()),
        ..Settings::default()
    };
    let mut rows = follow_rows(&emulator, &kit, &config, &as_deployed).await;
    let mut seed = 0;
    for (label, settings) in [("as deployed", as_deployed), ("bare", Settings::default())] {
        let mut walls = Vec::new();
        let mut calls = String::new();
        for added in ADDED_MS {
            let proxy = LatencyProxy::start(emulator.port, Duration::from_millis(added)).await;
            let clients = AwsClients::from_sdk_config(&sdk_config_for(&proxy.endpoint()).await);
            let mut times = Vec::new();
            for round in 0..3 {
                // The last deploy's lease was given back more than the clocks' skew ago: this one
                // is not contended (a contended lease reads the service again).
                tokio::time::sleep(Duration::from_secs(3)).await;
                seed += 1;
                let event = push_kept(&kit, &format!("chain-{seed}")).await;
                let counted = added == 0 && round == 0;
                if counted {
                    emulator.start_recording();
                }
                let started = Instant::now();
                let invocation = as_lambda();
                let answer = invoke_job_as::<ImagePush>(&clients, &config, &event, &settings, &invocation)
                    .await
                    .expect("the push answers");
                times.push(started.elapsed().as_secs_f64());
                if counted {
                    let recorded = emulator.stop_recording();
                    calls = format!("{} calls ({} writes)", recorded.len(), count_writes(&recorded));
                }
                assert_eq!(answer.results[0].outcome, Outcome::Deployed, "{answer:?}");
            }
            times.sort_by(f64::total_cmp);
            walls.push((added, times[1]));
        }
        let (first, last) = (walls[0], walls[walls.len() - 1]);
        let round_trips = (last.1 - first.1) / ((last.0 - first.0) as f64 / 1000.0);
        rows.push((
            format!("one deploy, {label}: calls and sequential round trips"),
            format!("{calls}, {round_trips:.1} round trips"),
            "round trips: the wall time added per millisecond added to every call, between 0 and 100 ms".into(),
        ));
        rows.push((
            format!("one deploy, {label}: wall time with 0 / 20 / 50 / 100 ms a call"),
            walls
                .iter()
                .map(|(_, wall)| format!("{:.0} ms", wall * 1000.0))
                .collect::<Vec<_>>()
                .join(" / "),
            "median of three deploys each, in-process, moto behind a latency proxy".into(),
        ));
    }
    rows
}

/// As deployed: a replayed push and an ECS completion event, each at 0 and 100 ms a call: their
/// calls and sequential round trips (one run each).
async fn follow_rows(
    emulator: &Emulator,
    kit: &World,
    config: &str,
    settings: &Settings,
) -> Vec<(String, String, String)> {
    let mut walls: Vec<(&str, f64, f64, String)> = vec![
        ("a replayed push", 0.0, 0.0, String::new()),
        ("an ECS completion event", 0.0, 0.0, String::new()),
    ];
    for added in [0u64, 100] {
        let proxy = LatencyProxy::start(emulator.port, Duration::from_millis(added)).await;
        let clients = AwsClients::from_sdk_config(&sdk_config_for(&proxy.endpoint()).await);
        let event = push_kept(kit, &format!("follow-{added}")).await;
        let invocation = as_lambda();
        let deployed = invoke_job_as::<ImagePush>(&clients, config, &event, settings, &invocation)
            .await
            .expect("the push answers");
        let deployment = deployed.results[0].ecs_deployment_id.clone().expect("a deployment");
        let completed = recorded_ecs_event("ecs-deployment-completed.json", "sss", "orders", &deployment);
        for (i, payload) in [event, completed].iter().enumerate() {
            emulator.start_recording();
            let started = Instant::now();
            invoke_job_as::<ImagePush>(&clients, config, payload, settings, &invocation)
                .await
                .expect("the event answers");
            let wall = started.elapsed().as_secs_f64();
            let recorded = emulator.stop_recording();
            if added == 0 {
                walls[i].1 = wall;
                walls[i].3 = format!("{} calls ({} writes)", recorded.len(), count_writes(&recorded));
            } else {
                walls[i].2 = wall;
            }
        }
    }
    walls
        .into_iter()
        .map(|(what, at_zero, at_hundred, calls)| {
            (
                format!("{what}, as deployed: calls and sequential round trips"),
                format!("{calls}, {:.1} round trips", (at_hundred - at_zero) / 0.1),
                format!(
                    "{:.0} ms at 0 ms a call, {:.0} ms at 100 ms (one run each)",
                    at_zero * 1000.0,
                    at_hundred * 1000.0
                ),
            )
        })
        .collect()
}

/// Pushes a new image as `orders:<seed>` and moves `latest` to it; the push event of `latest`.
/// The tag of its own keeps each image after `latest` moves on, as ECR keeps an untagged image
/// (the emulator deletes it, and a look-up of it then costs two more DescribeImages than AWS
/// would answer).
async fn push_kept(kit: &World, seed: &str) -> serde_json::Value {
    let digest = world::push_image(&kit.clients, "orders", seed, seed).await;
    world::push_image_with_digest(&kit.clients, "orders", "latest", &digest).await;
    push_event("orders", "latest", &digest)
}

/// An invocation as Lambda runs it: 120 s to go (the template's timeout).
fn as_lambda() -> Invocation {
    Invocation {
        deadline: Some(std::time::Instant::now() + Duration::from_secs(120)),
        ..Invocation::local()
    }
}
