//! `make bench`: figures for image-push against the local AWS emulator, printed as a table.
//!
//! Each row says how it was measured. Wall times are of this machine against moto, so they
//! compare the deployer's strategies (concurrent against sequential), not AWS latencies.

use std::time::Instant;

use deployer::deploy::{self, DeployOptions, Outcome};
use deployer::events::parse_image_push;
use deployer::Config;
use deployer_devkit::emulator::{count_writes, repo_root, Call};
use deployer_devkit::world::{self, push_event, World};
use deployer_devkit::Emulator;

const FAN_OUT: usize = 50;

#[tokio::main]
async fn main() {
    let mut rows: Vec<(String, String, String)> = Vec::new();

    // Calls for one deploy and for a replay.
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let (app, _) = kit.orders().await;
    let config = Config::parse(&world::config_for(&[&app]), "bench").unwrap();
    let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;
    let event = push_event("orders", "latest", &digest);
    let (calls, _) = recorded(&emulator, || run(&kit, &config, &event, 10)).await;
    rows.push((
        "AWS calls, one single-service deploy".into(),
        format!("{} ({} writes)", calls.len(), count_writes(&calls)),
        format!("moto recorder: {}", ops(&calls)),
    ));
    let (calls, _) = recorded(&emulator, || run(&kit, &config, &event, 10)).await;
    rows.push((
        "AWS calls, the same event replayed".into(),
        format!("{} ({} writes)", calls.len(), count_writes(&calls)),
        format!("moto recorder: {}", ops(&calls)),
    ));
    drop(emulator);

    // Fan-out: one image followed by FAN_OUT services.
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_cluster(&kit.clients, "sss").await;
    world::create_repository(&kit.clients, "orders").await;
    world::push_image(&kit.clients, "orders", "latest", "v1").await;
    let mut apps = Vec::new();
    for i in 0..FAN_OUT {
        apps.push(
            kit.create_app("sss", "orders", &format!("orders-{i:03}"))
                .await,
        );
    }
    let config = Config::parse(
        &world::config_for(&apps.iter().collect::<Vec<_>>()),
        "bench",
    )
    .unwrap();
    for (label, concurrency, seed) in [("sequential", 1, "v2"), ("concurrent (bound 10)", 10, "v3")]
    {
        let digest = world::push_image(&kit.clients, "orders", "latest", seed).await;
        let event = push_event("orders", "latest", &digest);
        let start = Instant::now();
        let (calls, outcomes) =
            recorded(&emulator, || run(&kit, &config, &event, concurrency)).await;
        let elapsed = start.elapsed();
        let deployed = outcomes.iter().filter(|o| **o == Outcome::Deployed).count();
        rows.push((
            format!("deploy one image to {FAN_OUT} services, {label}"),
            format!("{:.2} s", elapsed.as_secs_f64()),
            format!(
                "{deployed}/{FAN_OUT} deployed, {} AWS calls ({} writes), in-process against moto",
                calls.len(),
                count_writes(&calls)
            ),
        ));
    }
    drop(emulator);

    // Release binary size.
    let binary = repo_root().join("target/release/image-push");
    let size = std::fs::metadata(&binary)
        .map(|m| format!("{:.2} MB", m.len() as f64 / 1_000_000.0))
        .unwrap_or_else(|_| "not built".into());
    rows.push((
        "release binary size, image-push (x86_64)".into(),
        size,
        "cargo build --release -p image-push (opt-level z, LTO, stripped)".into(),
    ));

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
    println!(
        "|{}|{}|-----|",
        "-".repeat(widths.0 + 2),
        "-".repeat(widths.1 + 2)
    );
    for (figure, value, how) in rows {
        println!(
            "| {figure:<w0$} | {value:<w1$} | {how} |",
            w0 = widths.0,
            w1 = widths.1
        );
    }
}

async fn run(
    kit: &World,
    config: &Config,
    event: &serde_json::Value,
    concurrency: usize,
) -> Vec<Outcome> {
    let request = parse_image_push(event).unwrap();
    let response = deploy::handle(
        &kit.clients,
        config,
        &request,
        &DeployOptions { concurrency },
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

fn ops(calls: &[Call]) -> String {
    calls
        .iter()
        .map(|c| c.operation.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
