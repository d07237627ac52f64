//! AWS calls per deploy, replay and lease; what a deploy's records and the settle run cost.

use super::*;

/// `bench deploy`.
pub async fn deploy_calls(rows: &mut Rows) {
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
        rows,
        "image-push",
        &env,
        &push_event("orders", "latest", &digest),
        "a one-service deploy",
    );
    drop(emulator);
}

/// `bench truth`.
pub async fn truth(rows: &mut Rows) {
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
