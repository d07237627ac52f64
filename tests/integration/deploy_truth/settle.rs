//! The settle run: it asks ECS about deploys that heard nothing, and deploys a push whose event
//! was lost, never a failed digest.

use super::*;

#[tokio::test]
async fn the_settle_run_asks_ecs_about_deploys_that_heard_nothing() {
    let emulator = Emulator::start();
    let (kit, tap, settings) = truth_world(&emulator).await;
    let (app, _) = kit.orders().await;
    let settle = json!({
        "version": "0", "id": "settle-1", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-11-22T10:40:00Z", "region": "ap-northeast-1",
        "resources": [], "detail": {}
    });
    // With the default 30 minutes, a fresh deploy is left alone: DescribeServices is not asked
    // (its service deployments are read, for a pause no event told of; none here).
    let config = world::config_for(&[&app]);
    let first = push(&kit, &config, &settings, "v2").await;
    emulator.start_recording();
    let answer = run(&kit.clients, &config, &settle, &settings).await;
    assert_eq!(answer.results[0].outcome, Outcome::Ignored, "{answer:?}");
    assert_eq!(count_op(&emulator.stop_recording(), "DescribeServices"), 0);

    // Settled at once: the emulator reports the deployment IN_PROGRESS for ever, so it timed out.
    let config = config_with(&[&app], json!({"settle_after_minutes": 0}));
    emulator.start_recording();
    let answer = run(&kit.clients, &config, &settle, &settings).await;
    let calls = emulator.stop_recording();
    assert_eq!(answer.results[0].outcome, Outcome::Followed, "{answer:?}");
    let index_reads = calls
        .iter()
        .filter(|c| c.operation.starts_with("GET /deployer-state/deploys/orders/index.json"))
        .count();
    assert_eq!(
        index_reads, 1,
        "the index read to find due deploys is the one changed: {calls:?}"
    );
    assert_eq!(count_op(&calls, "DescribeServices"), 1);
    let record = index(&kit.clients, "orders").await.records.remove(0);
    assert_eq!(record.id, first.deploy_id.clone().unwrap());
    assert_eq!(record.outcome, DeployOutcome::TimedOut);
    assert!(record.reason.unwrap().contains("IN_PROGRESS"));
    let (types, _) = tap.detail_types().await;
    assert_eq!(types, vec!["Deploy Started", "Deploy Timed Out"]);
    // A later word from ECS still corrects it.
    let deployment = first.ecs_deployment_id.unwrap();
    let completed = recorded_ecs_event("ecs-deployment-completed.json", "sss", "orders", &deployment);
    run(&kit.clients, &config, &completed, &settings).await;
    assert_eq!(
        index(&kit.clients, "orders").await.records[0].outcome,
        DeployOutcome::Completed
    );

    // ECS's service deployments API decides where the endpoint has it: the deploy's service
    // deployment succeeded (whatever DescribeServices lists).
    let third = push(&kit, &config, &settings, "v4").await;
    emulator.set_service_deployment("sss", "orders", json!({"status": "SUCCESSFUL"}));
    let answer = run(&kit.clients, &config, &settle, &settings).await;
    assert_eq!(answer.results[0].outcome, Outcome::Followed, "{answer:?}");
    let record = index(&kit.clients, "orders").await.records.remove(0);
    assert_eq!(record.id, third.deploy_id.unwrap());
    assert_eq!(record.outcome, DeployOutcome::Completed);

    // From DescribeServices alone where the endpoint has no such API: a deployment ECS no longer
    // lists, with the service on the deploy's revision, completed.
    let proxy = FaultProxy::start_with(
        emulator.port,
        FaultPlan {
            only: Some("ListServiceDeployments".into()),
            ..FaultPlan::always(Fault::UnknownOperation)
        },
    )
    .await;
    let without_api = AwsClients::from_sdk_config(&sdk_config_for(&proxy.endpoint()).await);
    let second = push(&kit, &config, &settings, "v3").await;
    let store = RecordStore::in_bucket(BUCKET);
    store
        .update(&kit.clients.s3, "orders", |index| {
            let record = index
                .records
                .iter_mut()
                .find(|r| r.id == *second.deploy_id.as_ref().unwrap());
            record.unwrap().ecs_deployment_id = Some("ecs-svc/0000000000000000001".into());
            vec![deployer::records::Change {
                record: index.records[0].clone(),
                from: None,
                milestone: None,
            }]
        })
        .await
        .unwrap();
    let answer = run(&without_api, &config, &settle, &settings).await;
    assert_eq!(answer.results[0].outcome, Outcome::Followed, "{answer:?}");
    assert_eq!(proxy.stats.count(Fault::UnknownOperation), 1, "the API was asked, once");
    assert_eq!(
        index(&kit.clients, "orders").await.records[0].outcome,
        DeployOutcome::Completed
    );
}

#[tokio::test]
async fn the_settle_run_deploys_a_push_whose_event_was_lost_and_never_a_failed_digest() {
    let emulator = Emulator::start();
    let (kit, _tap, settings) = truth_world(&emulator).await;
    let (app, _) = kit.orders().await;
    let config = world::config_for(&[&app]);
    let settle = json!({
        "version": "0", "id": "settle-lost", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-11-22T10:40:00Z", "region": "ap-northeast-1",
        "resources": [], "detail": {}
    });
    push(&kit, &config, &settings, "v2").await;
    // v3 is pushed; its event is lost. `status` shows it until the settle run deploys it.
    let v3 = world::push_image(&kit.clients, "orders", "latest", "v3").await;
    let tag_drift = |answer: deployer::image_push::Answer| answer.results[0].status.as_ref().unwrap().tag_drift.clone();
    let status = json!({"status": {"app": "orders"}});
    let drift = tag_drift(run(&kit.clients, &config, &status, &settings).await).expect("a drift");
    assert!(drift.contains("never deployed"), "{drift}");
    let answer = run(&kit.clients, &config, &settle, &settings).await;
    let deployed: Vec<_> = answer
        .results
        .iter()
        .filter(|r| r.outcome == Outcome::Deployed)
        .collect();
    assert_eq!(deployed.len(), 1, "{answer:?}");
    assert_eq!(tag_drift(run(&kit.clients, &config, &status, &settings).await), None);
    let running = world::service_task_definition(&kit.clients, "sss", "orders").await;
    assert!(world::container_image(&kit.clients, &running, "app")
        .await
        .ends_with(&v3));
    let record = index(&kit.clients, "orders").await.records.remove(0);
    assert_eq!(record.digest.as_deref(), Some(v3.as_str()));
    assert_eq!(
        record.trigger.by.as_deref(),
        Some(deployer::image_push::reconcile::RECONCILED_BY)
    );
    // The next settle run finds the record: nothing more.
    emulator.start_recording();
    run(&kit.clients, &config, &settle, &settings).await;
    assert_eq!(count_op(&emulator.stop_recording(), "RegisterTaskDefinition"), 0);

    // v3 fails; a person moves `latest` back to v3 without an event reaching us: never redeployed
    // by the settle run (a deliberate move with its event deploys, as before).
    let deployment = record.ecs_deployment_id.unwrap();
    let failed = recorded_ecs_event("ecs-deployment-failed.json", "sss", "orders", &deployment);
    run(&kit.clients, &config, &failed, &settings).await;
    // ECS's circuit breaker puts v2 back (the emulator does not).
    kit.clients
        .ecs
        .update_service()
        .cluster("sss")
        .service("orders")
        .task_definition(record.old_task_definition.unwrap())
        .send()
        .await
        .unwrap();
    world::push_image(&kit.clients, "orders", "latest", "v4").await;
    world::push_image(&kit.clients, "orders", "latest", "v3").await;
    emulator.start_recording();
    run(&kit.clients, &config, &settle, &settings).await;
    assert_eq!(count_op(&emulator.stop_recording(), "RegisterTaskDefinition"), 0);
    let drift = tag_drift(run(&kit.clients, &config, &status, &settings).await).expect("a drift");
    assert!(drift.contains("ended failed"), "{drift}");
}
