//! `make bench` section `fleet`: one push followed by N services in one account and Region, as
//! deployed (inline_max 5, so through the deploy queue and the worker; leases, records and
//! events on), with ECS's documented buckets played in front of the emulator at `speed` times
//! their refill, and the pacer told the same raised rates (`ecs_rates`). Times are reported in
//! real bucket-seconds (wall time × speed) against the floor of N − 20 seconds (per account:
//! accounts have buckets of their own and their groups are worked side by side). A run may add
//! transient faults (throttles, 500s, resets, lost answers) at a rate, and spread the fleet over
//! accounts reached through roles.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use deployer::aws::pace::EcsBucket;
use deployer::job::Settings;
use deployer::lease::LeaseConfig;
use deployer::records::RecordStore;
use deployer::AwsClients;
use deployer_devkit::ecs_throttle::EcsThrottle;
use deployer_devkit::emulator::sdk_config_for;
use deployer_devkit::events::EventTap;
use deployer_devkit::faults::{FaultPlan, FaultProxy};
use deployer_devkit::sqs_player::SqsPlayer;
use deployer_devkit::world::{self, invoke_job, push_event, World};
use deployer_devkit::Emulator;
use std::sync::Arc;

/// One fleet run: how many services, how fast the buckets refill, the share of requests
/// faulted, and over how many accounts the services are spread.
#[derive(Debug, Clone, Copy)]
pub struct FleetRun {
    /// Services following the pushed image.
    pub services: usize,
    /// Refill speed of the bucket model (and of the pacer's rates).
    pub speed: f64,
    /// Share of the requests given a transient fault (0-1).
    pub faults: f64,
    /// Accounts the services are spread over (1: the function's own only).
    pub accounts: usize,
}

/// Role the deployer assumes in the `n`th workload account of a spread fleet.
fn workload_role(n: usize) -> String {
    format!(
        "arn:aws:iam::{}:role/deployer",
        222_222_222_222u64 + n as u64 * 111_111_111_111
    )
}

/// The figures of one fleet run, as table rows.
pub async fn fleet(run: FleetRun) -> Vec<(String, String, String)> {
    let FleetRun {
        services,
        speed,
        faults,
        accounts,
    } = run;
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_bucket(&kit.clients, "deployer-state").await;
    let tap = EventTap::new(&kit.clients, "deploys").await;
    let share = services.div_ceil(accounts.max(1));
    let mut apps = kit.fleet("fleet", share.min(services)).await;
    let mut app_configs: Vec<serde_json::Value> = apps.iter().map(|a| a.config()).collect();
    let mut places = vec![(kit.clients.clone(), apps.clone())];
    for n in 0..accounts.saturating_sub(1) {
        let role = workload_role(n);
        let remote = World::in_account(&emulator, &role).await;
        world::create_cluster(&remote.clients, "sss").await;
        let mut remote_apps = Vec::new();
        for i in apps.len()..(apps.len() + share).min(services) {
            remote_apps.push(remote.create_app("sss", "orders", &format!("fleet-{i:04}")).await);
        }
        app_configs.extend(remote_apps.iter().map(|a| {
            let mut config = a.config();
            config["role_arn"] = serde_json::json!(role);
            config
        }));
        apps.extend(remote_apps.iter().cloned());
        places.push((remote.clients.clone(), remote_apps));
    }
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
    let config = serde_json::json!({"apps": app_configs, "inline_max": 5, "ecs_rates": rates}).to_string();

    let throttle = Arc::new(EcsThrottle::documented(speed));
    let proxy = FaultProxy::start_throttled(emulator.port, FaultPlan::any(faults, 26), Some(throttle.clone())).await;
    let clients = AwsClients::from_sdk_config(&sdk_config_for(&proxy.endpoint()).await);
    // As the template maps it: batches of 10, up to 10 at once (one per account and Region).
    let player = SqsPlayer::fifo(&kit.clients, "deploys", 10, 10).await;
    let settings = Settings {
        deploy_queue: Some(player.queue_url.clone()),
        lease: Some(LeaseConfig::in_bucket("deployer-state")),
        records: Some(RecordStore::in_bucket("deployer-state")),
        event_bus: Some("deploys".into()),
        // A put-off message comes back after 1 s of wall time: `speed` bucket-seconds.
        redelivery_seconds: 1,
        ..Settings::default()
    };
    let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;
    let event = push_event("orders", "latest", &digest);

    // Counted at the proxy, not by the emulator's recorder: recording every request slows the
    // emulator, which is what bounds these runs on two cores.
    let started = Instant::now();
    // The mapping polls while the push is still queueing its fan-out, as Lambda's does.
    let sending = AtomicBool::new(true);
    let push = async {
        let pushed = invoke_job::<deployer::image_push::ImagePush>(&clients, &config, &event, &settings)
            .await
            .expect("the push is queued");
        sending.store(false, Ordering::SeqCst);
        (pushed, started.elapsed().as_secs_f64())
    };
    let work = player.drain_while_sent(100_000, &sending, |batch| {
        let (clients, config, settings) = (clients.clone(), config.clone(), settings.clone());
        async move { world::invoke_worker(&clients, &config, &batch, &settings).await }
    });
    let ((pushed, queued_at), drained) = tokio::join!(push, work);
    let wall = started.elapsed().as_secs_f64();
    let since = |at: Instant| at.duration_since(started).as_secs_f64();
    let sent = proxy
        .stats
        .span("SendMessageBatch")
        .map_or(String::new(), |(first, last)| {
            format!("messages sent from {:.1} s to {:.1} s, ", since(first), since(last))
        });
    let timeline = match proxy.stats.span("RegisterTaskDefinition") {
        Some((first, last)) => format!(
            "{sent}push queued at {queued_at:.1} s, first RegisterTaskDefinition at {:.1} s, last at {:.1} s, done at {wall:.1} s (wall)",
            since(first),
            since(last)
        ),
        None => "no RegisterTaskDefinition".to_owned(),
    };
    let image = format!("{}/orders@{digest}", world::registry());
    let mut running = 0;
    for (clients, apps) in &places {
        for app in apps {
            let task_definition = world::service_task_definition(clients, "sss", &app.name).await;
            running += usize::from(world::container_image(clients, &task_definition, "app").await == image);
        }
    }
    let (types, _) = tap.detail_types().await;
    let failed_events = types.iter().filter(|t| *t == "Deploy Failed").count();
    let started_events = types.iter().filter(|t| *t == "Deploy Started").count();
    let queued = pushed
        .results
        .iter()
        .filter(|r| r.outcome == deployer::image_push::Outcome::Queued)
        .count();
    let bucket_seconds = wall * speed;
    let floor = share.saturating_sub(20) as f64;
    let mut label = format!("fleet of {services} services, one push");
    if accounts > 1 {
        label.push_str(&format!(", {accounts} accounts"));
    }
    if faults > 0.0 {
        label.push_str(&format!(", {:.0} % faults", faults * 100.0));
    }
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
            format!("{failed_events} Deploy Failed, {running} of {services} services run the push"),
            format!(
                "{started_events} Deploy Started events from the bus; proxy: {}",
                proxy.stats.summary()
            ),
        ),
        (
            format!("{label}: ECS writes that reached ECS"),
            format!(
                "{} RegisterTaskDefinition, {} UpdateService",
                proxy.stats.forwarded("RegisterTaskDefinition"),
                proxy.stats.forwarded("UpdateService")
            ),
            format!("{} requests throttled by the bucket model {:?}", throttle.refused_total(), throttle.refused()),
        ),
        (
            format!("{label}: the deployer's requests that reached the emulator"),
            format!(
                "{} ({:.1} a service, {:.0} a second)",
                proxy.stats.forwarded_total(),
                proxy.stats.forwarded_total() as f64 / services as f64,
                proxy.stats.forwarded_total() as f64 / wall
            ),
            format!("{timeline}; {}", proxy.stats.forwarded_summary(12)),
        ),
    ]
}
