//! Pruning and adoption: a family two services share is never cut below what they run, a
//! removed application is an orphan pruned only when asked, a Cloud Map service of another record
//! type is refused before any write, a custom health check is adopted.

use super::*;

#[tokio::test]
async fn a_family_shared_by_two_services_is_never_cut_below_what_they_run() {
    let s = setup().await;
    let clients = &s.kit.clients;
    // The deployer registers orders:2..=7; the service runs orders:7.
    let config = s.deploy_six_revisions(1).await;
    // A second service of the cluster, not configured, runs orders:4 of the same family.
    let revisions = world::family_revisions(clients, "orders").await;
    let four = &revisions.iter().find(|(n, _)| *n == 4).unwrap().1;
    world::create_service(
        clients,
        "sss",
        "orders-worker",
        four,
        &s.kit.subnets,
        &s.kit.security_group,
    )
    .await;

    let response = sync_with_state(
        clients,
        &config,
        &deployment_event("sss", "orders", "SERVICE_DEPLOYMENT_COMPLETED", "ecs-svc/7"),
    )
    .await;
    assert_eq!(
        response.results[0].outcome,
        SyncOutcome::Synced,
        "{:?}",
        response.results[0]
    );
    let active: Vec<i32> = world::family_revisions(clients, "orders")
        .await
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        active,
        vec![7, 4, 1],
        "the running one, the one orders-worker runs, and Terraform's"
    );
}

#[tokio::test]
async fn a_removed_application_is_reported_as_an_orphan_and_pruned_only_when_asked() {
    let s = setup().await;
    let billing = s.kit.create_app("sss", "orders", "billing").await;
    let both = json!({"apps": [
        s.api.app_config(&s.app, &["GET", "POST"], "/orders/{proxy+}"),
        s.api.app_config(&billing, &["GET"], "/billing/{proxy+}"),
    ]})
    .to_string();
    sync_with_state(&s.kit.clients, &both, &json!({"sync": {}})).await;
    let billing_route = s.route("GET /billing/{proxy+}").await;

    // billing leaves the configuration: its route and integration are orphans, kept.
    let answer = sync_with_state(&s.kit.clients, &s.config, &json!({"sync": {}})).await;
    let orphan = answer
        .results
        .iter()
        .find(|r| r.app.as_deref() == Some("billing"))
        .unwrap();
    assert_eq!(orphan.outcome, SyncOutcome::Orphaned, "{orphan:?}");
    assert!(orphan
        .actions
        .iter()
        .any(|a| a.contains(&format!("route GET /billing/{{proxy+}} ({})", billing_route.id))));
    assert!(orphan.reason.as_deref().unwrap().contains("prune: true"));
    assert_eq!(s.route("GET /billing/{proxy+}").await.id, billing_route.id);
    // An orphan is not a failure.
    assert!(deployer::job::settle::<service_sync::ServiceSync>(answer).is_ok());

    // A sync of one application does not look for orphans.
    let one = sync_with_state(&s.kit.clients, &s.config, &json!({"sync": {"apps": ["orders"]}})).await;
    assert_eq!(one.results.len(), 1);

    // With prune: a dry run lists, a real run removes, the next run has nothing to say.
    let mut pruning: serde_json::Value = serde_json::from_str(&s.config).unwrap();
    pruning["prune"] = json!(true);
    let pruning = pruning.to_string();
    let dry = sync_with_state(&s.kit.clients, &pruning, &json!({"sync": {}, "dry_run": true})).await;
    assert_eq!(
        dry.results
            .iter()
            .find(|r| r.app.as_deref() == Some("billing"))
            .unwrap()
            .outcome,
        SyncOutcome::Orphaned
    );
    assert_eq!(s.route("GET /billing/{proxy+}").await.id, billing_route.id);
    let pruned = sync_with_state(&s.kit.clients, &pruning, &json!({"sync": {}})).await;
    let billing_report = pruned
        .results
        .iter()
        .find(|r| r.app.as_deref() == Some("billing"))
        .unwrap();
    assert_eq!(billing_report.outcome, SyncOutcome::Pruned, "{billing_report:?}");
    let routes = s.routes().await;
    assert!(routes.iter().all(|r| !r.key.starts_with("GET /billing")), "{routes:?}");
    let integrations = deployer::aws::apigw::get_integrations(&s.kit.clients.apigw, &s.api.api_id)
        .await
        .unwrap();
    assert!(integrations
        .iter()
        .all(|i| i.description.as_deref() != Some("ecs-deployer:app=billing")));
    // orders keeps everything.
    s.integration().await;
    assert_eq!(s.routes().await.len(), 2);
    let after = sync_with_state(&s.kit.clients, &pruning, &json!({"sync": {}})).await;
    assert_eq!(after.results.len(), 1, "{after:?}");
}

#[tokio::test]
async fn a_cloud_map_service_with_another_record_type_is_refused_before_any_write() {
    let s = setup().await;
    // Terraform made the application's Cloud Map service with A records; the configuration asks
    // for SRV, which Cloud Map cannot change in place.
    deployer::aws::cloudmap::create_service(
        &s.kit.clients.cloud_map,
        &deployer::aws::cloudmap::DesiredService {
            namespace_id: s.api.namespace_id.clone(),
            name: "orders".into(),
            record_type: "A".into(),
            ttl: 60,
            failure_threshold: 1,
        },
    )
    .await
    .unwrap();
    s.emulator.start_recording();
    let answer = sync_with_state(&s.kit.clients, &s.config, &json!({"sync": {}})).await;
    let calls = s.emulator.stop_recording();
    let result = &answer.results[0];
    assert_eq!(result.outcome, SyncOutcome::Failed, "{result:?}");
    let reason = result.reason.as_deref().unwrap();
    assert!(
        reason.contains("has A records, configured SRV") && reason.contains("Nothing was changed"),
        "{reason}"
    );
    assert_eq!(count_writes(&calls), 0, "{calls:?}");
    assert!(s.registries().await.is_empty(), "the ECS registry is not pointed at it");
    assert!(s.routes().await.is_empty());
}

/// Terraform's `health_check_custom_config {}` sends no `FailureThreshold` (deprecated: "no
/// longer supported"): the service has a custom health check all the same, and is adopted.
#[tokio::test]
async fn a_custom_health_check_without_its_deprecated_threshold_is_adopted() {
    use aws_sdk_servicediscovery::types::{DnsConfig, DnsRecord, HealthCheckCustomConfig, RecordType};
    let s = setup().await;
    s.kit
        .clients
        .cloud_map
        .create_service()
        .name("orders")
        .namespace_id(&s.api.namespace_id)
        .dns_config(
            DnsConfig::builder()
                .dns_records(DnsRecord::builder().r#type(RecordType::Srv).ttl(300).build().unwrap())
                .build()
                .unwrap(),
        )
        .health_check_custom_config(HealthCheckCustomConfig::builder().build())
        .send()
        .await
        .unwrap();
    let report = s.sync().await;
    assert_eq!(report.outcome, SyncOutcome::Synced, "{report:?}");
    assert!(
        report.actions.iter().all(|a| !a.starts_with("+ cloud map service")),
        "adopted, not created again: {report:?}"
    );
    assert_eq!(s.registries().await.len(), 1);
}
