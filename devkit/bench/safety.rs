//! Hardening (oversized and hostile input), retention's clean-up, and a promotion's calls.

use super::*;

/// `bench hardening`.
pub async fn hardening(rows: &mut Rows) {
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

/// `bench retention`.
pub async fn retention(rows: &mut Rows) {
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

/// `bench promotion`.
pub async fn promotion(rows: &mut Rows) {
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
