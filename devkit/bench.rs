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

#[path = "bench/chain.rs"]
mod chain;
#[path = "bench/fleet.rs"]
mod fleet;

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
    let mut rows: Vec<(String, String, String)> = Vec::new();

    if wanted("deploy") {
        // Calls for one deploy and for a replay.
        let emulator = Emulator::start();
        let kit = World::new(&emulator).await;
        let (app, _) = kit.orders().await;
        let config = Config::parse(&world::config_for(&[&app]), "bench").unwrap();
        let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;
        let event = push_event("orders", "latest", &digest);
        let clients = job_clients::<image_push::ImagePush>(&kit.clients);
        let (calls, _) = recorded(&emulator, || run(&clients, &config, &event, 10)).await;
        rows.push((
            "AWS calls, one single-service deploy".into(),
            format!("{} ({} writes)", calls.len(), count_writes(&calls)),
            format!("moto recorder: {}", ops(&calls)),
        ));
        let (calls, _) = recorded(&emulator, || run(&clients, &config, &event, 10)).await;
        rows.push((
            "AWS calls, the same event replayed".into(),
            format!("{} ({} writes)", calls.len(), count_writes(&calls)),
            format!("moto recorder: {}", ops(&calls)),
        ));
        world::create_bucket(&kit.clients, "deployer-state").await;
        let digest = world::push_image(&kit.clients, "orders", "latest", "v3").await;
        let guarded = Settings {
            concurrency: 10,
            lease: Some(LeaseConfig::in_bucket("deployer-state")),
            ..Settings::default()
        };
        let request = parse_image_push(&push_event("orders", "latest", &digest)).unwrap();
        let (calls, _) = recorded(&emulator, || {
            image_push::handle(&clients, &config, &request, &guarded, &LOCAL)
        })
        .await;
        rows.push((
            "AWS calls, one deploy holding the service's lease".into(),
            format!("{} ({} writes)", calls.len(), count_writes(&calls)),
            format!("moto recorder: {}", ops(&calls)),
        ));

        // Cold start and peak memory of the image-push binary, serving that world.
        let mut env = emulator.env();
        env.push(("DEPLOYER_CONFIG".into(), world::config_for(&[&app])));
        env.push((deployer::input::env::ENV_STATE_BUCKET.into(), "deployer-state".into()));
        let digest = world::push_image(&kit.clients, "orders", "latest", "v4").await;
        measure_function(
            &mut rows,
            "image-push",
            &env,
            &push_event("orders", "latest", &digest),
            "a one-service deploy",
        );
        drop(emulator);
    }

    if wanted("truth") {
        // A followed deploy: records and events on, then what following and asking cost.
        let emulator = Emulator::start();
        let kit = World::new(&emulator).await;
        world::create_cluster(&kit.clients, "sss").await;
        world::create_repository(&kit.clients, "orders").await;
        world::push_image(&kit.clients, "orders", "latest", "v1").await;
        world::create_bucket(&kit.clients, "deployer-state").await;
        let _tap = EventTap::new(&kit.clients, "deploys").await;
        let settings = Settings {
            concurrency: 10,
            lease: Some(LeaseConfig::in_bucket("deployer-state")),
            records: Some(RecordStore::in_bucket("deployer-state")),
            event_bus: Some("deploys".into()),
            owned: None,
            ..Settings::default()
        };
        let mut apps = Vec::new();
        for i in 0..TRUTH_APPS {
            apps.push(kit.create_app("sss", "orders", &format!("orders-{i:03}")).await);
        }
        let one = Config::parse(&world::config_for(&[&apps[0]]), "bench").unwrap();
        let clients = job_clients::<image_push::ImagePush>(&kit.clients);
        let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;
        let event = push_event("orders", "latest", &digest);
        let (calls, answer) = recorded(&emulator, || handle(&clients, &one, &event, &settings)).await;
        rows.push(count_row("AWS calls, one deploy with lease, record and event", &calls));
        let (calls, _) = recorded(&emulator, || handle(&clients, &one, &event, &settings)).await;
        rows.push(count_row("AWS calls, that push event replayed", &calls));
        let deployment = answer.results[0].ecs_deployment_id.clone().unwrap_or_default();
        let completed = recorded_ecs_event("ecs-deployment-completed.json", "sss", &apps[0].name, &deployment);
        let (calls, _) = recorded(&emulator, || handle(&clients, &one, &completed, &settings)).await;
        rows.push(count_row("AWS calls, the ECS event that completes it", &calls));
        let (calls, _) = recorded(&emulator, || handle(&clients, &one, &completed, &settings)).await;
        rows.push(count_row("AWS calls, that ECS event replayed", &calls));

        // The settle run and status over every app, each with a deploy in progress.
        let all: Vec<&world::AppWorld> = apps.iter().collect();
        let mut config_json: serde_json::Value = serde_json::from_str(&world::config_for(&all)).unwrap();
        let waiting = Config::parse(&config_json.to_string(), "bench").unwrap();
        config_json["settle_after_minutes"] = 0.into();
        let due = Config::parse(&config_json.to_string(), "bench").unwrap();
        let digest = world::push_image(&kit.clients, "orders", "latest", "v3").await;
        handle(&clients, &waiting, &push_event("orders", "latest", &digest), &settings).await;
        let settle = serde_json::json!({
            "version": "0", "id": "settle", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-12-01T00:00:00Z", "region": "ap-northeast-1",
            "resources": [], "detail": {}
        });
        let (calls, _) = recorded(&emulator, || handle(&clients, &waiting, &settle, &settings)).await;
        rows.push(count_row(
            &format!("AWS calls, settle run over {TRUTH_APPS} apps, none due"),
            &calls,
        ));
        let status = serde_json::json!({"status": {}});
        let (calls, _) = recorded(&emulator, || handle(&clients, &waiting, &status, &settings)).await;
        rows.push(count_row(&format!("AWS calls, status of {TRUTH_APPS} apps"), &calls));
        let (calls, _) = recorded(&emulator, || handle(&clients, &due, &settle, &settings)).await;
        rows.push(count_row(
            &format!("AWS calls, settle run over {TRUTH_APPS} apps, all due (timed out)"),
            &calls,
        ));
        drop(emulator);
    }

    if wanted("fan-out") {
        // Fan-out: one image followed by 50, then 200 services. These figures measure the
        // deployer's own work, so the pacer is told of quotas far above ECS's (the `fleet`
        // section measures a fan-out under ECS's real buckets).
        let unbounded: Vec<_> = deployer::aws::pace::EcsBucket::ALL
            .iter()
            .map(|b| {
                (
                    *b,
                    deployer::aws::pace::Rate {
                        burst: 10_000.0,
                        per_second: 10_000.0,
                    },
                )
            })
            .collect();
        deployer::aws::pace::pacer().configure(&unbounded);
        for fan_out in FAN_OUT {
            let emulator = Emulator::start();
            let kit = World::new(&emulator).await;
            world::create_cluster(&kit.clients, "sss").await;
            world::create_repository(&kit.clients, "orders").await;
            world::push_image(&kit.clients, "orders", "latest", "v1").await;
            let mut apps = Vec::new();
            for i in 0..fan_out {
                apps.push(kit.create_app("sss", "orders", &format!("orders-{i:03}")).await);
            }
            let config = Config::parse(&world::config_for(&apps.iter().collect::<Vec<_>>()), "bench").unwrap();
            let proxy = LatencyProxy::start(emulator.port, LATENCY).await;
            let slow = job_clients::<image_push::ImagePush>(&AwsClients::from_sdk_config(
                &sdk_config_for(&proxy.endpoint()).await,
            ));
            // Timed runs are not recorded: moto's recorder writes every request to a file, which
            // slows the emulator and so the concurrent run most. A last run counts the calls.
            for (label, concurrency, seed) in [("sequential", 1, "v2"), ("concurrent (bound 10)", 10, "v3")] {
                let digest = world::push_image(&kit.clients, "orders", "latest", seed).await;
                let event = push_event("orders", "latest", &digest);
                let (start, cpu) = (Instant::now(), emulator.cpu_time());
                let outcomes = run(&slow, &config, &event, concurrency).await;
                let (elapsed, cpu) = (start.elapsed(), emulator.cpu_time() - cpu);
                let deployed = outcomes.iter().filter(|o| **o == Outcome::Deployed).count();
                rows.push((
                format!("deploy one image to {fan_out} services, {label}"),
                format!("{:.2} s", elapsed.as_secs_f64()),
                format!(
                    "{deployed}/{fan_out} deployed, in-process, moto behind a {} ms latency proxy; moto busy {:.2} s of CPU ({:.0}% of the wall time)",
                    LATENCY.as_millis(),
                    cpu.as_secs_f64(),
                    100.0 * cpu.as_secs_f64() / elapsed.as_secs_f64()
                ),
            ));
            }
            let digest = world::push_image(&kit.clients, "orders", "latest", "v4").await;
            let event = push_event("orders", "latest", &digest);
            let (calls, _) = recorded(&emulator, || run(&slow, &config, &event, 10)).await;
            rows.push((
                format!("AWS calls, deploy one image to {fan_out} services"),
                format!("{} ({} writes)", calls.len(), count_writes(&calls)),
                format!("moto recorder, a separate run: {}", distinct_ops(&calls)),
            ));
        }
        deployer::aws::pace::pacer().configure(&[]);
    }

    if wanted("sync") {
        // service-sync of SYNC_APPS applications on one API, sequential then concurrent.
        for (label, concurrency) in [("sequential", 1), ("concurrent (bound 10)", 10)] {
            let emulator = Emulator::start();
            let kit = World::new(&emulator).await;
            let apps = api_apps(&kit, SYNC_APPS).await;
            let config = Config::parse(&serde_json::json!({ "apps": apps }).to_string(), "bench").unwrap();
            let request = parse_service_sync(&serde_json::json!({"sync": {}})).unwrap();
            let proxy = LatencyProxy::start(emulator.port, LATENCY).await;
            let slow = job_clients::<service_sync::ServiceSync>(&AwsClients::from_sdk_config(
                &sdk_config_for(&proxy.endpoint()).await,
            ));
            let settings = Settings {
                concurrency,
                ..Settings::default()
            };
            let start = Instant::now();
            let (calls, response) = recorded(&emulator, || {
                service_sync::handle(&slow, &config, &request, &settings, &LOCAL)
            })
            .await;
            let elapsed = start.elapsed();
            let synced = response
                .unwrap()
                .results
                .iter()
                .filter(|r| r.outcome == SyncOutcome::Synced)
                .count();
            rows.push((
                format!("service-sync of {SYNC_APPS} applications, fresh world, {label}"),
                format!("{:.2} s", elapsed.as_secs_f64()),
                format!(
                    "{synced}/{SYNC_APPS} synced, {} AWS calls ({} writes), moto behind a {} ms latency proxy",
                    calls.len(),
                    count_writes(&calls),
                    LATENCY.as_millis()
                ),
            ));
            if concurrency > 1 {
                let start = Instant::now();
                let (calls, response) = recorded(&emulator, || {
                    service_sync::handle(&slow, &config, &request, &settings, &LOCAL)
                })
                .await;
                let elapsed = start.elapsed();
                let unchanged = response
                    .unwrap()
                    .results
                    .iter()
                    .filter(|r| r.outcome == SyncOutcome::Unchanged)
                    .count();
                rows.push((
                    format!("service-sync of {SYNC_APPS} applications, nothing to do"),
                    format!("{:.2} s", elapsed.as_secs_f64()),
                    format!(
                        "{unchanged}/{SYNC_APPS} unchanged, {} AWS calls ({:.3} per application), {} writes: {}",
                        calls.len(),
                        calls.len() as f64 / SYNC_APPS as f64,
                        count_writes(&calls),
                        distinct_ops(&calls)
                    ),
                ));
            }
        }
        {
            // Cold start and peak memory of the service-sync binary: drift repair of 20 applications.
            let emulator = Emulator::start();
            let kit = World::new(&emulator).await;
            let apps = api_apps(&kit, 20).await;
            let mut env = emulator.env();
            env.push((
                "DEPLOYER_CONFIG".into(),
                serde_json::json!({ "apps": apps }).to_string(),
            ));
            let scheduled: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(repo_root().join("events/scheduled.json")).unwrap())
                    .unwrap();
            measure_function(
                &mut rows,
                "service-sync",
                &env,
                &scheduled,
                "drift repair creating 20 applications' Cloud Map services, integrations and routes",
            );
        }
    }

    if wanted("hardening") {
        // service-sync as the template runs it (leases and the API record in the state bucket):
        // what ownership and overlap safety cost, and the clean-up's in-use check.
        let emulator = Emulator::start();
        let kit = World::new(&emulator).await;
        let apps = api_apps(&kit, TRUTH_APPS).await;
        world::create_bucket(&kit.clients, "deployer-state").await;
        let config = Config::parse(&serde_json::json!({ "apps": apps }).to_string(), "bench").unwrap();
        let request = parse_service_sync(&serde_json::json!({"sync": {}})).unwrap();
        let clients = job_clients::<service_sync::ServiceSync>(&kit.clients);
        let settings = Settings {
            concurrency: 10,
            lease: Some(LeaseConfig::in_bucket("deployer-state")),
            owned: Some(deployer::ownership::ApiRecordStore::in_bucket("deployer-state")),
            ..Settings::default()
        };
        let (calls, _) = recorded(&emulator, || {
            service_sync::handle(&clients, &config, &request, &settings, &LOCAL)
        })
        .await;
        rows.push(count_row(
            &format!("service-sync of {TRUTH_APPS} apps on one API, fresh world, with leases and the API record"),
            &calls,
        ));
        let (calls, _) = recorded(&emulator, || {
            service_sync::handle(&clients, &config, &request, &settings, &LOCAL)
        })
        .await;
        rows.push(count_row(
            &format!("the same, nothing to do ({TRUTH_APPS} apps)"),
            &calls,
        ));

        // A completed deploy of one app whose family has more deployer revisions than it keeps:
        // the clean-up lists and describes the cluster's services first.
        let image_clients = job_clients::<image_push::ImagePush>(&kit.clients);
        let first = config.apps[0].clone();
        let one = Config {
            apps: vec![first.clone()],
            ..config.clone()
        };
        for n in 2..=4 {
            let digest = world::push_image(&kit.clients, "orders", "latest", &format!("clean-{n}")).await;
            run(&image_clients, &one, &push_event("orders", "latest", &digest), 10).await;
        }
        let mut keep_one = one.clone();
        keep_one.apps[0].keep_revisions = 1;
        let completed = world::deployment_event("sss", &first.service, "SERVICE_DEPLOYMENT_COMPLETED", "ecs-svc/1");
        let completed = parse_service_sync(&completed).unwrap();
        let (calls, answer) = recorded(&emulator, || {
            service_sync::handle(&clients, &keep_one, &completed, &settings, &LOCAL)
        })
        .await;
        let report = &answer.unwrap().results[0];
        assert_eq!(report.outcome, SyncOutcome::Synced, "{report:?}");
        rows.push(count_row(
            &format!("a completed deploy's clean-up, cluster of {TRUTH_APPS} services"),
            &calls,
        ));
        drop(emulator);
    }

    if wanted("nlb") {
        // nlb-sync: NLB_GROUPS target groups, each following its own ALB name.
        {
            let emulator = Emulator::start();
            let kit = World::new(&emulator).await;
            world::create_bucket(&kit.clients, "deployer-state").await;
            let dns = DnsServer::start();
            let mut groups = Vec::new();
            for i in 0..NLB_GROUPS {
                let arn = kit.target_group(&format!("nlb-{i:02}"), 443).await;
                let alb = format!("internal-api-{i:02}.ap-northeast-1.elb.amazonaws.com");
                let addresses = (0..3u8)
                    .map(|n| std::net::Ipv4Addr::new(10, 0, 1 + i as u8, 10 + n))
                    .collect();
                dns.set(&alb, Answer::Addresses(addresses));
                groups.push(serde_json::json!({"target_group_arn": arn, "alb_dns_name": alb, "port": 443}));
            }
            let config = serde_json::json!({"apps": [], "nlb": {
            "state_bucket": "deployer-state", "dns_servers": [dns.addr.to_string()], "target_groups": groups}});
            let config = Config::parse(&config.to_string(), "bench").unwrap();
            let request = NlbSyncRequest {
                target_groups: None,
                dry_run: false,
            };
            let (clients, settings) = (job_clients::<nlb_sync::NlbSync>(&kit.clients), Settings::default());
            for label in ["first run (registers all)", "nothing to change"] {
                let queries_before = dns.queries();
                let start = Instant::now();
                let (calls, response) = recorded(&emulator, || {
                    nlb_sync::handle(&clients, &config, &request, &settings, &LOCAL)
                })
                .await;
                let elapsed = start.elapsed();
                let response = response.unwrap();
                let ok = response
                    .results
                    .iter()
                    .filter(|r| matches!(r.outcome, NlbOutcome::Synced | NlbOutcome::Unchanged))
                    .count();
                rows.push((
                    format!("nlb-sync of {NLB_GROUPS} target groups, {label}"),
                    format!("{:.2} s", elapsed.as_secs_f64()),
                    format!(
                        "{ok}/{NLB_GROUPS} ok, {} AWS calls ({:.1} per group, {} writes), {} DNS queries: {}",
                        calls.len(),
                        calls.len() as f64 / NLB_GROUPS as f64,
                        count_writes(&calls),
                        dns.queries() - queries_before,
                        distinct_ops(&calls)
                    ),
                ));
            }
            // Cold start and peak memory of the nlb-sync binary over the same groups.
            let mut env = emulator.env();
            env.push(("DEPLOYER_CONFIG".into(), serde_json::to_string(&config).unwrap()));
            let scheduled: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(repo_root().join("events/scheduled.json")).unwrap())
                    .unwrap();
            measure_function(
                &mut rows,
                "nlb-sync",
                &env,
                &scheduled,
                &format!("a scheduled run over {NLB_GROUPS} groups"),
            );
        }
    }

    if wanted("retention") {
        // A retention pass over TRUTH_APPS applications (one family each, three deploys each).
        let emulator = Emulator::start();
        let kit = World::new(&emulator).await;
        world::create_cluster(&kit.clients, "sss").await;
        world::create_repository(&kit.clients, "orders").await;
        world::push_image(&kit.clients, "orders", "latest", "v1").await;
        world::create_bucket(&kit.clients, "deployer-state").await;
        let mut apps = Vec::new();
        for i in 0..TRUTH_APPS {
            apps.push(kit.create_app("sss", "orders", &format!("orders-{i:03}")).await);
        }
        let all: Vec<&world::AppWorld> = apps.iter().collect();
        let mut config: serde_json::Value = serde_json::from_str(&world::config_for(&all)).unwrap();
        for app in config["apps"].as_array_mut().unwrap() {
            app["keep_revisions"] = 2.into();
            app["retention_grace_days"] = 0.into();
        }
        let config = Config::parse(&config.to_string(), "bench").unwrap();
        let image_clients = job_clients::<image_push::ImagePush>(&kit.clients);
        for n in 2..=4 {
            let digest = world::push_image(&kit.clients, "orders", "latest", &format!("r{n}")).await;
            run(&image_clients, &config, &push_event("orders", "latest", &digest), 10).await;
        }
        let clients = job_clients::<service_sync::ServiceSync>(&kit.clients);
        let settings = Settings {
            concurrency: 10,
            lease: Some(LeaseConfig::in_bucket("deployer-state")),
            records: Some(RecordStore::in_bucket("deployer-state")),
            ..Settings::default()
        };
        for (label, payload) in [
            ("dry run", serde_json::json!({"retention": {}, "dry_run": true})),
            ("applied (1 deregistered each)", serde_json::json!({"retention": {}})),
            ("next pass (1 deleted each)", serde_json::json!({"retention": {}})),
            ("nothing left to do", serde_json::json!({"retention": {}})),
        ] {
            let request = parse_service_sync(&payload).unwrap();
            let (calls, _) = recorded(&emulator, || {
                service_sync::handle(&clients, &config, &request, &settings, &LOCAL)
            })
            .await;
            rows.push(count_row(
                &format!("retention pass over {TRUTH_APPS} apps, {label}"),
                &calls,
            ));
        }
        drop(emulator);
    }

    if wanted("nlb-modes") {
        // Steady state of the two discovery modes: NLB_GROUPS target groups over NLB_GROUPS / 2
        // ALBs (a port 80 and a port 443 group each), three addresses an ALB.
        let emulator = Emulator::start();
        let kit = World::new(&emulator).await;
        world::create_bucket(&kit.clients, "deployer-state").await;
        let dns = DnsServer::start();
        let (mut eni_groups, mut dns_groups) = (Vec::new(), Vec::new());
        for i in 0..NLB_GROUPS / 2 {
            let mut alb = world::AlbWorld::create(&kit.clients, &format!("internal-{i:02}")).await;
            let name = format!("internal-{i:02}.ap-northeast-1.elb.amazonaws.com");
            let addresses: Vec<std::net::Ipv4Addr> = (0..3u8)
                .map(|n| std::net::Ipv4Addr::new(10, 0, 1 + (n % 2), 10 * (i as u8 + 1) + n))
                .collect();
            for ip in &addresses {
                alb.add(*ip).await;
            }
            dns.set(&name, Answer::Addresses(addresses));
            for port in [80, 443] {
                let arn = kit.target_group(&format!("nlb-{i:02}-{port}"), port).await;
                eni_groups.push(serde_json::json!({"target_group_arn": arn, "alb_arn": alb.arn, "port": port}));
                dns_groups.push(serde_json::json!({"target_group_arn": arn, "alb_dns_name": name, "port": port}));
            }
        }
        let clients = job_clients::<nlb_sync::NlbSync>(&kit.clients);
        let settings = Settings::default();
        let request = NlbSyncRequest {
            target_groups: None,
            dry_run: false,
        };
        for (mode, groups) in [("eni", eni_groups), ("dns", dns_groups)] {
            let config = serde_json::json!({"apps": [], "nlb": {"state_bucket": "deployer-state",
                "dns_servers": [dns.addr.to_string()], "target_groups": groups}});
            let config = Config::parse(&config.to_string(), "bench").unwrap();
            // The first run registers (or, for the second mode, finds all registered); the
            // second is the steady state measured.
            nlb_sync::handle(&clients, &config, &request, &settings, &LOCAL)
                .await
                .unwrap();
            let queries_before = dns.queries();
            let (calls, response) = recorded(&emulator, || {
                nlb_sync::handle(&clients, &config, &request, &settings, &LOCAL)
            })
            .await;
            let unchanged = response
                .unwrap()
                .results
                .iter()
                .filter(|r| r.outcome == NlbOutcome::Unchanged)
                .count();
            rows.push((
                format!(
                    "nlb-sync steady state, {mode} discovery, {NLB_GROUPS} groups over {} ALBs",
                    NLB_GROUPS / 2
                ),
                format!("{} AWS calls", calls.len()),
                format!(
                    "{unchanged}/{NLB_GROUPS} unchanged, {:.1} per group, {} writes, {} DNS queries: {}",
                    calls.len() as f64 / NLB_GROUPS as f64,
                    count_writes(&calls),
                    dns.queries() - queries_before,
                    distinct_ops(&calls)
                ),
            ));
        }
        drop(emulator);
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
        // Staging follows `latest`; production is promoted from it (soak 0, no approval).
        let emulator = Emulator::start();
        let kit = World::new(&emulator).await;
        world::create_bucket(&kit.clients, "deployer-state").await;
        let (staging, _) = kit.orders().await;
        let prod = kit.create_app("sss", "orders", "orders-prod").await;
        let mut prod_config = prod.config();
        prod_config["promote_from"] = "orders".into();
        prod_config.as_object_mut().unwrap().remove("tags");
        let config = Config::parse(
            &serde_json::json!({"apps": [staging.config(), prod_config]}).to_string(),
            "bench",
        )
        .unwrap();
        let settings = Settings {
            concurrency: 10,
            lease: Some(LeaseConfig::in_bucket("deployer-state")),
            records: Some(RecordStore::in_bucket("deployer-state")),
            ..Settings::default()
        };
        let clients = job_clients::<image_push::ImagePush>(&kit.clients);
        let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;
        let answer = handle(&clients, &config, &push_event("orders", "latest", &digest), &settings).await;
        let deployment = answer.results[0].ecs_deployment_id.clone().unwrap_or_default();
        let completed = recorded_ecs_event("ecs-deployment-completed.json", "sss", "orders", &deployment);
        let (calls, answer) = recorded(&emulator, || handle(&clients, &config, &completed, &settings)).await;
        let promoted = answer
            .results
            .iter()
            .any(|r| r.app.as_deref() == Some("orders-prod") && r.outcome == Outcome::Deployed);
        rows.push(count_row(
            &format!("AWS calls, staging's completion with production promoted ({promoted})"),
            &calls,
        ));
        let (calls, _) = recorded(&emulator, || handle(&clients, &config, &completed, &settings)).await;
        rows.push(count_row(
            "AWS calls, that completion replayed (promotes nothing)",
            &calls,
        ));
        let scheduled: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(repo_root().join("events/scheduled.json")).unwrap()).unwrap();
        let (calls, _) = recorded(&emulator, || handle(&clients, &config, &scheduled, &settings)).await;
        rows.push(count_row(
            "AWS calls, a settle run with nothing to settle or promote",
            &calls,
        ));
        drop(emulator);
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
        // One push fanning out over three accounts: the function's own and two through roles.
        let emulator = Emulator::start();
        let own = World::new(&emulator).await;
        world::create_repository(&own.clients, "orders").await;
        world::push_image(&own.clients, "orders", "latest", "v1").await;
        let roles = [
            "arn:aws:iam::222222222222:role/deployer",
            "arn:aws:iam::333333333333:role/deployer",
        ];
        let mut worlds = vec![(None, own)];
        for role in roles {
            worlds.push((Some(role), World::in_account(&emulator, role).await));
        }
        let mut entries = Vec::new();
        for i in 0..ACCOUNTS_APPS {
            let (role, kit) = &worlds[i % worlds.len()];
            if i < worlds.len() {
                world::create_cluster(&kit.clients, "sss").await;
            }
            let app = kit.create_app("sss", "orders", &format!("app-{i:03}")).await;
            let mut entry = app.config();
            if let Some(role) = role {
                entry["role_arn"] = (*role).into();
            }
            entries.push(entry);
        }
        let own = &worlds[0].1;
        let clients = job_clients::<image_push::ImagePush>(&own.clients);
        let settings = Settings {
            concurrency: 10,
            ..Settings::default()
        };
        // One app in another account, a cold function (its role assumed) and a warm one.
        let one = Config::parse(
            &serde_json::json!({ "apps": [entries[1].clone()] }).to_string(),
            "bench",
        )
        .unwrap();
        let digest = world::push_image(&own.clients, "orders", "latest", "v2").await;
        let event = push_event("orders", "latest", &digest);
        let (calls, _) = recorded(&emulator, || handle(&clients, &one, &event, &settings)).await;
        rows.push(count_row(
            "AWS calls, one deploy through an assumed role (cold)",
            &calls,
        ));
        let digest = world::push_image(&own.clients, "orders", "latest", "v3").await;
        let event = push_event("orders", "latest", &digest);
        let (calls, _) = recorded(&emulator, || handle(&clients, &one, &event, &settings)).await;
        rows.push(count_row(
            "AWS calls, the next deploy there (warm: role cached)",
            &calls,
        ));
        // Every app at once.
        let all = Config::parse(&serde_json::json!({ "apps": entries }).to_string(), "bench").unwrap();
        let clients = job_clients::<image_push::ImagePush>(&own.clients);
        let digest = world::push_image(&own.clients, "orders", "latest", "v4").await;
        let event = push_event("orders", "latest", &digest);
        let started = Instant::now();
        let (calls, answer) = recorded(&emulator, || handle(&clients, &all, &event, &settings)).await;
        let elapsed = started.elapsed();
        let deployed = answer.results.iter().filter(|r| r.outcome == Outcome::Deployed).count();
        rows.push(count_row(
            &format!("AWS calls, one push to {ACCOUNTS_APPS} services over 3 accounts"),
            &calls,
        ));
        rows.push((
            format!("{ACCOUNTS_APPS}-service fan-out over 3 accounts: deployed, wall time"),
            format!("{deployed} deployed in {} ms", elapsed.as_millis()),
            "moto on this machine, no added latency, bound 10".into(),
        ));
        drop(emulator);
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
