//! Bad configuration and input make no call; ECS deployment events sync, report or are ignored.

use super::*;

#[tokio::test]
async fn bad_configuration_and_input_make_no_call() {
    let s = setup().await;
    let mut no_cloud_map = s.api.app_config(&s.app, &["GET"], "/{proxy+}");
    no_cloud_map.as_object_mut().unwrap().remove("cloud_map");
    let mut underscore = s.api.app_config(&s.app, &["GET"], "/{proxy+}");
    underscore["cloud_map"]["namespace"] = json!("sss_internal");
    let mut bad_method = s.api.app_config(&s.app, &["GET", "FETCH"], "/{proxy+}");
    bad_method["api"]["path"] = json!("orders");

    s.emulator.start_recording();
    for (config, path) in [
        (no_cloud_map, "apps[0].api"),
        (underscore, "apps[0].cloud_map.namespace"),
        (bad_method, "apps[0].api.methods[1]"),
    ] {
        let config = json!({"apps": [config]}).to_string();
        let err = invoke_service_sync(&s.kit.clients, &config, &json!({"sync": {}}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains(path), "{err}");
    }
    for (payload, field) in [
        (json!({"sync": {"apps": ["nope"]}}), "sync.apps[0]"),
        (json!({"sync": {"apps": "orders"}}), "sync.apps"),
        (json!({"sync": {}, "dry_run": 1}), "dry_run"),
        (
            json!({"detail-type": "ECS Deployment State Change", "source": "aws.ecs", "id": "1", "detail": {"eventName": "X", "deploymentId": "d"}, "resources": []}),
            "resources",
        ),
    ] {
        let err = invoke_service_sync(&s.kit.clients, &s.config, &payload)
            .await
            .unwrap_err();
        assert!(err.to_string().contains(&format!("`{field}`")), "{payload}: {err}");
    }
    assert_eq!(s.emulator.stop_recording(), vec![]);
}

#[tokio::test]
async fn deployment_events_sync_report_or_ignore() {
    let s = setup().await;
    let clients = &s.kit.clients;

    s.emulator.start_recording();
    let in_progress = invoke_service_sync(
        clients,
        &s.config,
        &deployment_event("sss", "orders", "SERVICE_DEPLOYMENT_IN_PROGRESS", "ecs-svc/1"),
    )
    .await
    .unwrap();
    let unknown = invoke_service_sync(
        clients,
        &s.config,
        &deployment_event("sss", "billing", "SERVICE_DEPLOYMENT_COMPLETED", "ecs-svc/1"),
    )
    .await
    .unwrap();
    let failed = invoke_service_sync(
        clients,
        &s.config,
        &deployment_event("sss", "orders", "SERVICE_DEPLOYMENT_FAILED", "ecs-svc/1"),
    )
    .await
    .unwrap();
    let calls = s.emulator.stop_recording();
    assert_eq!(in_progress.results[0].outcome, SyncOutcome::Ignored);
    assert_eq!(unknown.results[0].outcome, SyncOutcome::Ignored);
    let failure = &failed.results[0];
    assert_eq!(failure.outcome, SyncOutcome::DeploymentFailed);
    assert!(failure.reason.as_deref().unwrap().contains("circuit breaker"));
    // ECS no longer lists `ecs-svc/1`: the report does not guess its revision, and names the
    // one the service really runs.
    assert_eq!(failure.task_definition, None, "{failure:?}");
    assert_eq!(
        failure.running_task_definition.as_deref(),
        Some(s.app.task_definition.as_str())
    );
    assert_eq!(count_writes(&calls), 0, "{calls:?}");
    assert_eq!(count_op(&calls, "DescribeServices"), 1);
    // A deployment ECS lists is named by its own revision.
    let service = deployer::aws::ecs::describe_services(&clients.ecs, "sss", &["orders".to_owned()])
        .await
        .unwrap()
        .remove(0);
    let listed = &service.deployments[0];
    let failed = invoke_service_sync(
        clients,
        &s.config,
        &deployment_event("sss", "orders", "SERVICE_DEPLOYMENT_FAILED", &listed.id),
    )
    .await
    .unwrap();
    assert_eq!(
        failed.results[0].task_definition.as_deref(),
        Some(listed.task_definition.as_str())
    );

    let completed = invoke_service_sync(
        clients,
        &s.config,
        &deployment_event("sss", "orders", "SERVICE_DEPLOYMENT_COMPLETED", "ecs-svc/2"),
    )
    .await
    .unwrap();
    assert_eq!(completed.results[0].outcome, SyncOutcome::Synced);
    assert!(s.routes().await.len() == 2);
}
