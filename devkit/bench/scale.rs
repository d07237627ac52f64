//! Fan-outs: one push to many services (bounded, sequential, with added latency), service-sync
//! over many applications, one push over three accounts.

use super::*;

/// `bench fan-out`.
pub async fn fan_out(rows: &mut Rows) {
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

/// `bench sync`.
pub async fn sync(rows: &mut Rows) {
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
            serde_json::from_str(&std::fs::read_to_string(repo_root().join("events/scheduled.json")).unwrap()).unwrap();
        measure_function(
            rows,
            "service-sync",
            &env,
            &scheduled,
            "drift repair creating 20 applications' Cloud Map services, integrations and routes",
        );
    }
}

/// `bench accounts`.
pub async fn accounts(rows: &mut Rows) {
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
