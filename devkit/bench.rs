//! `make bench`: figures for the three functions against the local AWS emulator, printed as one
//! table (BENCHMARKS.md keeps the last one).
//!
//! Each row says how it was measured. Wall times are of this machine against moto, so they
//! compare the deployer's strategies (concurrent against sequential), not AWS latencies.

use std::time::Instant;

use deployer::image_push::{self, Outcome};
use deployer::input::events::{parse_image_push, parse_service_sync, NlbSyncRequest};
use deployer::job::{Invocation, Settings};

/// Bench runs are invocations outside Lambda (no deadline).
static LOCAL: std::sync::LazyLock<Invocation> = std::sync::LazyLock::new(Invocation::local);
use deployer::lease::LeaseConfig;
use deployer::nlb_sync::{self, Outcome as NlbOutcome};
use deployer::records::RecordStore;
use deployer::service_sync::{self, Outcome as SyncOutcome};
use deployer::AwsClients;
use deployer::Config;
use deployer_devkit::dns::{Answer, DnsServer};
use deployer_devkit::emulator::sdk_config_for;
use deployer_devkit::emulator::{count_writes, repo_root, Call};
use deployer_devkit::events::{recorded_ecs_event, EventTap};
use deployer_devkit::latency::LatencyProxy;
use deployer_devkit::runtime_api::{median, FunctionAnswer, RuntimeRun};
use deployer_devkit::world::{self, job_clients, push_event, World};
use deployer_devkit::Emulator;

const FAN_OUT: [usize; 2] = [50, 200];
const SYNC_APPS: usize = 200;
const NLB_GROUPS: usize = 20;
/// Applications of the fan-out over accounts.
const ACCOUNTS_APPS: usize = 200;
/// Applications of the settle and status figures.
const TRUTH_APPS: usize = 50;
/// Cold starts measured per function (the median is reported).
const COLD_STARTS: usize = 10;
/// Added to every request in the fan-out figures, roughly an AWS API call's latency.
const LATENCY: std::time::Duration = std::time::Duration::from_millis(20);

#[path = "bench/calls.rs"]
mod calls;
#[path = "bench/chain.rs"]
mod chain;
#[path = "bench/fleet.rs"]
mod fleet;
#[path = "bench/nlb.rs"]
mod nlb;
#[path = "bench/safety.rs"]
mod safety;
#[path = "bench/scale.rs"]
mod scale;

/// The figures table: figure, value, how it was measured.
type Rows = Vec<(String, String, String)>;

/// The fleet runs: services, the speed the buckets refill at, the share of requests faulted and
/// the accounts the services are spread over.
const FLEETS: [fleet::FleetRun; 5] = [
    fleet::FleetRun {
        services: 200,
        speed: 5.0,
        faults: 0.0,
        accounts: 1,
    },
    fleet::FleetRun {
        services: 1000,
        speed: 5.0,
        faults: 0.0,
        accounts: 1,
    },
    // At 4x the 65,000 requests need about 52 a second of the emulator, which it keeps on two
    // cores; at 20x the emulator, not the buckets, would be measured.
    fleet::FleetRun {
        services: 5000,
        speed: 4.0,
        faults: 0.0,
        accounts: 1,
    },
    // At ECS's own refill: the SDK's retry backoff under faults does not speed up with the buckets.
    fleet::FleetRun {
        services: 200,
        speed: 1.0,
        faults: 0.2,
        accounts: 1,
    },
    fleet::FleetRun {
        services: 600,
        speed: 5.0,
        faults: 0.0,
        accounts: 3,
    },
];

#[tokio::main]
async fn main() {
    // `cargo run --bin bench -- fan-out sync` runs only those sections; none runs them all.
    let only: Vec<String> = std::env::args().skip(1).collect();
    let wanted = |section: &str| only.is_empty() || only.iter().any(|o| o == section);
    let mut rows: Rows = Vec::new();

    if wanted("deploy") {
        calls::deploy_calls(&mut rows).await;
    }

    if wanted("truth") {
        calls::truth(&mut rows).await;
    }

    if wanted("fan-out") {
        scale::fan_out(&mut rows).await;
    }

    if wanted("sync") {
        scale::sync(&mut rows).await;
    }

    if wanted("hardening") {
        safety::hardening(&mut rows).await;
    }

    if wanted("nlb") {
        nlb::nlb(&mut rows).await;
    }

    if wanted("retention") {
        safety::retention(&mut rows).await;
    }

    if wanted("nlb-modes") {
        nlb::nlb_modes(&mut rows).await;
    }

    if wanted("size") {
        // Release binary size.
        for function in ["image-push", "service-sync", "nlb-sync"] {
            let binary = repo_root().join("target/release").join(function);
            let size = std::fs::metadata(&binary)
                .map(|m| format!("{:.2} MB", m.len() as f64 / 1_000_000.0))
                .unwrap_or_else(|_| "not built".into());
            rows.push((
                format!("release binary size, {function} (x86_64)"),
                size,
                format!("cargo build --release -p {function} (opt-level z, LTO, stripped)"),
            ));
        }
    }

    if wanted("promotion") {
        safety::promotion(&mut rows).await;
    }

    if wanted("chain") {
        rows.extend(chain::chain().await);
    }

    if wanted("fleet") {
        // `cargo run --bin bench -- fleet 200` runs only the fleets of that size; `faulty`, only
        // those with faults.
        let sizes: Vec<usize> = only.iter().filter_map(|o| o.parse().ok()).collect();
        let faulty = only.iter().any(|o| o == "faulty");
        for run in FLEETS {
            if (sizes.is_empty() || sizes.contains(&run.services)) && (!faulty || run.faults > 0.0) {
                let figures = fleet::fleet(run).await;
                // Each run's figures as soon as it ends: a long section may be stopped early.
                for (figure, value, how) in &figures {
                    eprintln!("fleet: {figure}: {value} ({how})");
                }
                rows.extend(figures);
            }
        }
    }

    if wanted("accounts") {
        scale::accounts(&mut rows).await;
    }

    let widths = (
        rows.iter().map(|r| r.0.len()).max().unwrap_or(0),
        rows.iter().map(|r| r.1.len()).max().unwrap_or(0),
    );
    println!(
        "\n| {:<w0$} | {:<w1$} | how |",
        "figure",
        "value",
        w0 = widths.0,
        w1 = widths.1
    );
    println!("|{}|{}|-----|", "-".repeat(widths.0 + 2), "-".repeat(widths.1 + 2));
    for (figure, value, how) in rows {
        println!("| {figure:<w0$} | {value:<w1$} | {how} |", w0 = widths.0, w1 = widths.1);
    }
}

/// `count` services following `orders`, each routed on one HTTP API; their configuration entries.
async fn api_apps(kit: &World, count: usize) -> Vec<serde_json::Value> {
    world::create_cluster(&kit.clients, "sss").await;
    world::create_repository(&kit.clients, "orders").await;
    world::push_image(&kit.clients, "orders", "latest", "v1").await;
    let api = kit.api().await;
    let mut apps = Vec::new();
    for i in 0..count {
        let app = kit.create_app("sss", "orders", &format!("app-{i:03}")).await;
        apps.push(api.app_config(&app, &["GET", "POST"], &format!("/app-{i:03}/{{proxy+}}")));
    }
    apps
}

/// Cold start (median of COLD_STARTS) and peak memory of one invocation of a release binary,
/// under the bench's own minimal Lambda Runtime API.
fn measure_function(
    rows: &mut Vec<(String, String, String)>,
    function: &str,
    env: &[(String, String)],
    event: &serde_json::Value,
    invocation: &str,
) {
    let binary = repo_root().join("target/release").join(function);
    let limit = std::time::Duration::from_secs(30);
    let starts: Vec<std::time::Duration> = (0..COLD_STARTS)
        .filter_map(|_| RuntimeRun::start(&binary, env, None).until_first_next(limit))
        .collect();
    let cold = median(starts.clone())
        .map(|d| format!("{:.1} ms", d.as_secs_f64() * 1000.0))
        .unwrap_or_else(|| "unknown".into());
    rows.push((
        format!("cold start, {function}"),
        cold,
        format!(
            "median of {} runs: process start until its first GET .../invocation/next, release x86_64 binary, the bench's Runtime API on loopback",
            starts.len()
        ),
    ));
    let run = RuntimeRun::start(&binary, env, Some(event.to_string()));
    let answer = run
        .until_first_next(limit)
        .and_then(|_| run.answer(std::time::Duration::from_secs(300)));
    let peak = run
        .peak_memory()
        .map(|b| format!("{:.1} MB", b as f64 / 1_000_000.0))
        .unwrap_or_else(|| "unknown".into());
    let answered = match &answer {
        Some(FunctionAnswer::Response(body)) => format!("answered {} bytes", body.len()),
        Some(FunctionAnswer::Error(body)) => format!("answered an error: {body}"),
        None => "no answer".into(),
    };
    rows.push((
        format!("peak memory, one {function} invocation"),
        peak,
        format!("VmHWM of the release binary after {invocation} ({answered})"),
    ));
}

/// One image-push invocation in-process with `settings`: parse, handle.
async fn handle(
    clients: &image_push::Clients,
    config: &Config,
    payload: &serde_json::Value,
    settings: &Settings,
) -> image_push::Answer {
    let request = parse_image_push(payload).unwrap();
    image_push::handle(clients, config, &request, settings, &LOCAL)
        .await
        .unwrap()
}

/// A table row: the calls' count, writes and operations.
fn count_row(figure: &str, calls: &[Call]) -> (String, String, String) {
    (
        figure.to_owned(),
        format!("{} ({} writes)", calls.len(), count_writes(calls)),
        format!("moto recorder: {}", distinct_ops(calls)),
    )
}

/// One image-push invocation with no records or events, bound `concurrency`: the outcomes.
async fn run(
    clients: &image_push::Clients,
    config: &Config,
    event: &serde_json::Value,
    concurrency: usize,
) -> Vec<Outcome> {
    let request = parse_image_push(event).unwrap();
    let response = image_push::handle(
        clients,
        config,
        &request,
        &Settings {
            concurrency,
            ..Settings::default()
        },
        &Invocation::local(),
    )
    .await
    .unwrap();
    response.results.iter().map(|r| r.outcome).collect()
}

async fn recorded<F, Fut, T>(emulator: &Emulator, f: F) -> (Vec<Call>, T)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    emulator.start_recording();
    let value = f().await;
    (emulator.stop_recording(), value)
}

fn distinct_ops(calls: &[Call]) -> String {
    let mut counts: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for call in calls {
        // REST calls (S3, API Gateway) are named by method and path: keep the method.
        let op = match call.operation.split_once(' ') {
            Some((method, _)) => format!("{} {method}", call.service),
            None => call.operation.clone(),
        };
        *counts.entry(op).or_default() += 1;
    }
    counts
        .iter()
        .map(|(op, n)| format!("{op} x{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn ops(calls: &[Call]) -> String {
    calls
        .iter()
        .map(|c| c.operation.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
