//! What is published: a failed sync and changed targets are, quiet runs publish nothing.

use super::*;

#[tokio::test]
async fn a_failed_sync_and_changed_targets_are_published_and_quiet_runs_publish_nothing() {
    use deployer::nlb_sync::NlbSync;
    use deployer::service_sync::ServiceSync;
    use deployer_devkit::dns::{Answer, DnsServer};

    let emulator = Emulator::start();
    let (kit, tap, settings) = truth_world(&emulator).await;
    let (app, _) = kit.orders().await;
    let api = kit.api().await;

    // An API that does not exist: the sync fails, and a person hears of it.
    let mut broken = api.app_config(&app, &["GET"], "/orders/{proxy+}");
    broken["api"]["api_id"] = json!("nosuchapi");
    let config = json!({"apps": [broken]}).to_string();
    let answer = invoke_job::<ServiceSync>(&kit.clients, &config, &json!({"sync": {}}), &settings)
        .await
        .unwrap();
    let error = deployer::job::settle::<ServiceSync>(answer).expect_err("a failed sync is an invocation error");
    assert_eq!(error.error_type(), "SyncFailed");
    let (types, events) = tap.detail_types().await;
    assert_eq!(types, vec!["Sync Failed"], "{events:?}");
    let detail = &events[0]["detail"];
    assert_eq!(events[0]["source"], "ecs-deployer");
    assert_eq!(detail["app"], "orders");
    assert_eq!(detail["sync"]["outcome"], "failed");
    assert!(
        detail["sync"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("nosuchapi"),
        "{detail}"
    );
    assert_eq!(detail["service"], "orders");
    assert!(
        detail["links"]["service"]
            .as_str()
            .unwrap_or_default()
            .contains("/services/orders/"),
        "{detail}"
    );

    // A sync that succeeds is not news.
    let config = json!({"apps": [api.app_config(&app, &["GET"], "/orders/{proxy+}")]}).to_string();
    let synced = invoke_job::<ServiceSync>(&kit.clients, &config, &json!({"sync": {}}), &settings)
        .await
        .unwrap();
    assert_eq!(synced.results[0].outcome, deployer::service_sync::Outcome::Synced);
    assert_eq!(tap.detail_types().await.0, Vec::<String>::new());

    // nlb-sync: registering is news, a quiet run is not, a dry run is not.
    let dns = DnsServer::start();
    let tg = kit.target_group("nlb-443", 443).await;
    let nlb_config = json!({"apps": [], "nlb": {
        "state_bucket": BUCKET,
        "dns_servers": [dns.addr.to_string()],
        "target_groups": [{"target_group_arn": tg, "alb_dns_name": world::ALB_DNS_NAME, "port": 443}],
    }})
    .to_string();
    dns.set(
        world::ALB_DNS_NAME,
        Answer::Addresses(vec!["10.0.1.10".parse().unwrap(), "10.0.1.20".parse().unwrap()]),
    );
    let sync = json!({"sync": {}});
    let first = invoke_job::<NlbSync>(&kit.clients, &nlb_config, &sync, &settings)
        .await
        .unwrap();
    assert_eq!(first.results[0].outcome, deployer::nlb_sync::Outcome::Synced);
    let (types, events) = tap.detail_types().await;
    assert_eq!(types, vec!["Targets Changed"], "{events:?}");
    assert_eq!(events[0]["detail"]["target_group"], tg.as_str());
    assert_eq!(events[0]["detail"]["registered"], json!(["10.0.1.10", "10.0.1.20"]));
    assert_eq!(events[0]["detail"]["deregistered"], json!([]));

    invoke_job::<NlbSync>(&kit.clients, &nlb_config, &sync, &settings)
        .await
        .unwrap();
    dns.set(
        world::ALB_DNS_NAME,
        Answer::Addresses(vec!["10.0.1.30".parse().unwrap()]),
    );
    let planned = invoke_job::<NlbSync>(
        &kit.clients,
        &nlb_config,
        &json!({"sync": {}, "dry_run": true}),
        &settings,
    )
    .await
    .unwrap();
    assert_eq!(planned.results[0].outcome, deployer::nlb_sync::Outcome::Planned);
    assert_eq!(
        tap.detail_types().await.0,
        Vec::<String>::new(),
        "quiet and dry runs publish nothing"
    );
}
