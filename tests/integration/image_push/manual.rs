//! Manual payloads: a dry run plans and writes nothing; a deploy by digest and the rollbacks.

use super::*;

#[tokio::test]
async fn a_dry_run_plans_and_writes_nothing() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let clients = &kit.clients;
    let (app, _) = kit.orders().await;
    let config = world::config_for(&[&app]);
    let digest = world::push_image(clients, "orders", "latest", "v2").await;

    emulator.start_recording();
    let response = invoke_image_push(
        clients,
        &config,
        &json!({"deploy": {"app": "orders", "tag": "latest"}, "dry_run": true}),
    )
    .await
    .unwrap();
    let calls = emulator.stop_recording();

    assert!(response.dry_run);
    let result = &response.results[0];
    assert_eq!(result.outcome, Outcome::Planned, "{result:?}");
    assert!(result.image.as_deref().unwrap().ends_with(&digest));
    assert!(
        result.actions.iter().any(|a| a.starts_with("+ register orders")),
        "{:?}",
        result.actions
    );
    assert!(
        result.actions.iter().any(|a| a.starts_with("~ service sss/orders")),
        "{:?}",
        result.actions
    );
    assert_eq!(count_writes(&calls), 0, "{calls:?}");
    assert_eq!(
        world::service_task_definition(clients, "sss", "orders").await,
        app.task_definition
    );
}

#[tokio::test]
async fn manual_deploy_by_digest_and_rollbacks() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let clients = &kit.clients;
    let (app, first_digest) = kit.orders().await;
    let config = world::config_for(&[&app]);
    let digest = world::push_image(clients, "orders", "release-5", "v5").await;

    let deployed = invoke_image_push(
        clients,
        &config,
        &json!({"deploy": {"app": "orders", "digest": digest}}),
    )
    .await
    .unwrap();
    assert_eq!(deployed.results[0].outcome, Outcome::Deployed);
    let first_pinned = invoke_image_push(
        clients,
        &config,
        &json!({"deploy": {"app": "orders", "digest": first_digest}}),
    )
    .await
    .unwrap();
    assert_eq!(
        first_pinned.results[0].outcome,
        Outcome::Deployed,
        "a manual deploy may go back"
    );
    assert!(world::service_task_definition(clients, "sss", "orders")
        .await
        .ends_with(":3"));

    // Rollback without a revision: the one before the current.
    let back = invoke_image_push(clients, &config, &json!({"rollback": {"app": "orders"}}))
        .await
        .unwrap();
    assert_eq!(back.results[0].outcome, Outcome::Deployed, "{:?}", back.results[0]);
    assert!(world::service_task_definition(clients, "sss", "orders")
        .await
        .ends_with(":2"));

    // Rollback to a named revision (orders:1 names its image by tag, so only with `force`), then
    // to the one it already runs, then to one that does not exist.
    let named = invoke_image_push(
        clients,
        &config,
        &json!({"rollback": {"app": "orders", "revision": 1, "force": true}}),
    )
    .await
    .unwrap();
    assert_eq!(named.results[0].outcome, Outcome::Deployed);
    assert_eq!(
        world::service_task_definition(clients, "sss", "orders").await,
        app.task_definition
    );
    let again = invoke_image_push(clients, &config, &json!({"rollback": {"app": "orders", "revision": 1}}))
        .await
        .unwrap();
    assert_eq!(again.results[0].outcome, Outcome::Unchanged);
    let missing = invoke_image_push(clients, &config, &json!({"rollback": {"app": "orders", "revision": 9}}))
        .await
        .unwrap();
    assert_eq!(missing.results[0].outcome, Outcome::Failed);
    assert!(missing.results[0].reason.as_deref().unwrap().contains("orders:9"));
    let unknown = invoke_image_push(
        clients,
        &config,
        &json!({"deploy": {"app": "orders", "digest": world::fake_digest("never")}}),
    )
    .await
    .unwrap();
    assert_eq!(unknown.results[0].outcome, Outcome::Failed);
    assert_eq!(
        world::family_revisions(clients, "orders").await.len(),
        3,
        "rollbacks register nothing"
    );
}
