//! Only what the deployer made: old revisions it registered are deregistered, a route it never
//! made is a conflict left alone, the routes it made are recorded and repaired, its unused
//! integrations go.

use super::*;

#[tokio::test]
async fn a_completed_deploy_deregisters_only_old_revisions_the_deployer_registered() {
    let s = setup().await;
    let clients = &s.kit.clients;
    // orders:1 is Terraform's; orders:2..=7 are the deployer's; the service runs orders:7.
    let config = s.deploy_six_revisions(3).await;
    let response = invoke_service_sync(
        clients,
        &config,
        &deployment_event("sss", "orders", "SERVICE_DEPLOYMENT_COMPLETED", "ecs-svc/7"),
    )
    .await
    .unwrap();
    let result = &response.results[0];
    assert_eq!(result.outcome, SyncOutcome::Synced, "{result:?}");

    let active: Vec<i32> = deployer_devkit::world::family_revisions(clients, "orders")
        .await
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        active,
        vec![7, 6, 5, 1],
        "keeps the running one, two more of the deployer's, and Terraform's"
    );
    let again = invoke_service_sync(
        clients,
        &config,
        &deployment_event("sss", "orders", "SERVICE_DEPLOYMENT_COMPLETED", "ecs-svc/7"),
    )
    .await
    .unwrap();
    assert_eq!(
        again.results[0].outcome,
        SyncOutcome::Unchanged,
        "{:?}",
        again.results[0]
    );
}

/// An integration and a route made outside the deployer (Terraform, say), on the API of the
/// world.
async fn foreign_route(s: &Setup, key: &str) -> (String, String) {
    let apigw = &s.kit.clients.apigw;
    let integration = s
        .plain_integration("https://terraform.example.com", Some("managed by terraform"))
        .await;
    let target = format!("integrations/{}", integration);
    let route = apigw
        .create_route()
        .api_id(&s.api.api_id)
        .route_key(key)
        .target(&target)
        .send()
        .await
        .unwrap();
    (route.route_id().unwrap().to_owned(), target)
}

#[tokio::test]
async fn a_route_the_deployer_never_made_is_a_conflict_left_alone_and_a_failure() {
    let s = setup().await;
    let (route_id, foreign_target) = foreign_route(&s, "GET /orders/{proxy+}").await;

    let answer = sync_with_state(&s.kit.clients, &s.config, &json!({"sync": {}})).await;
    let result = &answer.results[0];
    assert_eq!(result.outcome, SyncOutcome::Failed, "{result:?}");
    let reason = result.reason.as_deref().unwrap();
    assert!(
        reason.contains(&format!("route GET /orders/{{proxy+}} ({route_id})")) && reason.contains("did not make it"),
        "{reason}"
    );
    let err = deployer::job::settle::<service_sync::ServiceSync>(answer).unwrap_err();
    assert_eq!(err.error_type(), "SyncFailed");
    // The foreign route still targets its own integration; the rest of the application is done.
    let get = s.route("GET /orders/{proxy+}").await;
    assert_eq!(
        (get.id.as_str(), get.target.as_deref()),
        (route_id.as_str(), Some(foreign_target.as_str()))
    );
    let integration = s.integration().await;
    assert_eq!(
        s.route("POST /orders/{proxy+}").await.target,
        Some(format!("integrations/{}", integration.id))
    );

    // Every later run says the same and writes nothing.
    s.emulator.start_recording();
    let again = s.sync().await;
    assert_eq!(count_writes(&s.emulator.stop_recording()), 0);
    assert_eq!(again.outcome, SyncOutcome::Failed);

    // Once the owner removes it, the deployer makes its own.
    s.kit
        .clients
        .apigw
        .delete_route()
        .api_id(&s.api.api_id)
        .route_id(&route_id)
        .send()
        .await
        .unwrap();
    let result = s.sync_then_quiet().await;
    assert_eq!(result.outcome, SyncOutcome::Synced, "{result:?}");
    assert_eq!(
        s.route("GET /orders/{proxy+}").await.target,
        Some(format!("integrations/{}", integration.id))
    );
}

#[tokio::test]
async fn routes_the_deployer_made_are_recorded_and_repaired_and_its_unused_integrations_go() {
    let s = setup().await;
    s.sync_then_quiet().await;
    let store = ApiRecordStore::in_bucket(STATE);
    let record = store.read(&s.kit.clients.s3, &s.api.api_id).await.unwrap().record;
    let integration = s.integration().await;
    for key in ["GET /orders/{proxy+}", "POST /orders/{proxy+}"] {
        let route = s.route(key).await;
        assert_eq!(record.route_owner(&route.id), Some("orders"), "{record:?}");
    }
    assert_eq!(record.integration_owner(&integration.id), Some("orders"));

    // A second integration of the application, as an overlapping run of an older version left:
    // no route uses it, so it goes (and leaves the record).
    let left = s
        .plain_integration("https://left.example.com", Some("ecs-deployer:app=orders"))
        .await;
    let left_id = left;
    let result = s.sync_then_quiet().await;
    assert_eq!(
        result.actions,
        vec![format!("- integration {left_id} (no route uses it)")]
    );
    assert_eq!(s.integration().await.id, integration.id);
    let record = store.read(&s.kit.clients.s3, &s.api.api_id).await.unwrap().record;
    assert_eq!(record.integration_owner(&left_id), None);
}
