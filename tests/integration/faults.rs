//! Each function with 20% of its AWS requests faulted (throttling in each protocol's shape, 500,
//! 503, resets, delays, and faults after the emulator carried a write out), through
//! `devkit::faults::FaultProxy`. A run either finishes or fails clearly; repeated runs reach the
//! state one clean run reaches: no duplicated revision, no lost state, no target deregistered
//! that should stay, no route missing. A clean run afterwards then writes nothing.

use deployer::image_push::Outcome;
use deployer::job::Settings;
use deployer::lease::LeaseConfig;
use deployer::nlb_sync::Outcome as NlbOutcome;
use deployer::service_sync::Outcome as SyncOutcome;
use deployer::AwsClients;
use deployer_devkit::dns::{Answer, DnsServer};
use deployer_devkit::emulator::{count_writes, sdk_config_for};
use deployer_devkit::faults::{Fault, FaultPlan, FaultProxy};
use deployer_devkit::world::{
    self, invoke_image_push_with, invoke_nlb_sync, invoke_service_sync, push_event, registry, target_ips, World,
    ALB_DNS_NAME,
};
use deployer_devkit::Emulator;
use serde_json::json;

/// Share of requests faulted.
const RATE: f64 = 0.2;
/// Runs allowed to reach each end state.
const RUNS: usize = 15;
/// Changes made (and reached) one after another in each test.
const ROUNDS: usize = 6;

async fn faulty(emulator: &Emulator, seed: u64) -> (FaultProxy, AwsClients) {
    let proxy = FaultProxy::start(emulator.port, RATE, seed).await;
    let clients = AwsClients::from_sdk_config(&sdk_config_for(&proxy.endpoint()).await);
    (proxy, clients)
}

#[tokio::test(flavor = "multi_thread")]
async fn image_push_under_faults_deploys_each_service_once() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let (orders, _) = kit.orders().await;
    let mut apps = vec![orders];
    for name in ["orders-eu", "orders-us"] {
        apps.push(kit.create_app("sss", "orders", name).await);
    }
    world::create_bucket(&kit.clients, "deployer-state").await;
    let config = world::config_for(&apps.iter().collect::<Vec<_>>());
    let options = Settings {
        lease: Some(LeaseConfig::in_bucket("deployer-state")),
        ..Settings::default()
    };
    let (proxy, clients) = faulty(&emulator, 7).await;

    let mut runs = 0;
    for round in 1..=ROUNDS {
        let digest = world::push_image(&kit.clients, "orders", "latest", &format!("round-{round}")).await;
        let event = push_event("orders", "latest", &digest);
        let mut round_runs = 0;
        loop {
            round_runs += 1;
            let response = invoke_image_push_with(&clients, &config, &event, &options)
                .await
                .unwrap();
            // Every fault here heals by itself (throttles, 500s, resets, lost answers): a deploy
            // that meets one is put off for the retry, never failed (no false `Deploy Failed`).
            for result in &response.results {
                assert_ne!(
                    result.outcome,
                    Outcome::Failed,
                    "a transient fault is not a failure: {result:?}"
                );
                if result.outcome == Outcome::Deferred {
                    let reason = result.reason.as_deref().unwrap_or_default();
                    assert!(!reason.is_empty(), "a deferral says why: {result:?}");
                }
            }
            if response
                .results
                .iter()
                .all(|r| matches!(r.outcome, Outcome::Deployed | Outcome::Unchanged))
            {
                break;
            }
            assert!(
                round_runs < RUNS,
                "round {round}: not done after {round_runs} runs; {}",
                proxy.stats.summary()
            );
        }
        runs += round_runs;

        let image = format!("{}/orders@{digest}", registry());
        for app in &apps {
            let running = world::service_task_definition(&kit.clients, "sss", &app.name).await;
            assert_eq!(world::container_image(&kit.clients, &running, "app").await, image);
            let revisions = world::family_revisions(&kit.clients, &app.name).await;
            assert_eq!(
                revisions.len(),
                1 + round,
                "{}: no duplicated revision: {revisions:?}",
                app.name
            );
        }
        emulator.start_recording();
        let clean = invoke_image_push_with(&kit.clients, &config, &event, &options)
            .await
            .unwrap();
        assert!(
            clean.results.iter().all(|r| r.outcome == Outcome::Unchanged),
            "{clean:?}"
        );
        assert_eq!(count_writes(&emulator.stop_recording()), 0);
    }
    println!(
        "image-push: {runs} runs over {ROUNDS} deploys; {}",
        proxy.stats.summary()
    );
    assert!(proxy.stats.faulted() > 0, "faults were injected");
}

#[tokio::test(flavor = "multi_thread")]
async fn service_sync_under_faults_ends_with_every_route_once() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let (orders, _) = kit.orders().await;
    let billing = kit.create_app("sss", "orders", "billing").await;
    let api = kit.api().await;
    let (proxy, clients) = faulty(&emulator, 11).await;
    let method_sets: [&[&str]; ROUNDS] = [
        &["GET", "POST"],
        &["GET", "POST", "DELETE"],
        &["GET"],
        &["GET", "PUT", "PATCH"],
        &["ANY"],
        &["GET", "POST"],
    ];

    let mut runs = 0;
    for methods in method_sets {
        let config = json!({"apps": [
            api.app_config(&orders, methods, "/orders/{proxy+}"),
            api.app_config(&billing, &["GET"], "/billing/{proxy+}"),
        ]})
        .to_string();
        let mut round_runs = 0;
        loop {
            round_runs += 1;
            let response = invoke_service_sync(&clients, &config, &json!({"sync": {}}))
                .await
                .unwrap();
            for result in &response.results {
                if result.outcome == SyncOutcome::Failed {
                    assert!(result.reason.as_deref().is_some_and(|r| !r.is_empty()), "{result:?}");
                }
            }
            if response.results.iter().all(|r| r.outcome == SyncOutcome::Unchanged) {
                break;
            }
            assert!(
                round_runs < RUNS,
                "{methods:?}: not done after {round_runs} runs; {}",
                proxy.stats.summary()
            );
        }
        runs += round_runs;

        let routes = deployer::aws::apigw::get_routes(&kit.clients.apigw, &api.api_id)
            .await
            .unwrap();
        let mut keys: Vec<String> = routes.iter().map(|r| r.key.clone()).collect();
        keys.sort();
        let mut wanted: Vec<String> = methods.iter().map(|m| format!("{m} /orders/{{proxy+}}")).collect();
        wanted.push("GET /billing/{proxy+}".into());
        wanted.sort();
        assert_eq!(keys, wanted, "every route once, none missing");
        let integrations = deployer::aws::apigw::get_integrations(&kit.clients.apigw, &api.api_id)
            .await
            .unwrap();
        assert_eq!(
            integrations.len(),
            2,
            "one integration per application: {integrations:?}"
        );

        emulator.start_recording();
        let clean = invoke_service_sync(&kit.clients, &config, &json!({"sync": {}}))
            .await
            .unwrap();
        assert!(
            clean.results.iter().all(|r| r.outcome == SyncOutcome::Unchanged),
            "{clean:?}"
        );
        assert_eq!(count_writes(&emulator.stop_recording()), 0);
    }
    println!(
        "service-sync: {runs} runs over {ROUNDS} changes; {}",
        proxy.stats.summary()
    );
    assert!(proxy.stats.faulted() > 0, "faults were injected");
}

#[tokio::test(flavor = "multi_thread")]
async fn nlb_sync_under_faults_never_drops_a_live_target() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_bucket(&kit.clients, "deployer-state").await;
    let tg = kit.target_group("nlb-443", 443).await;
    let dns = DnsServer::start();
    let config = json!({"apps": [], "nlb": {
        "state_bucket": "deployer-state", "dns_servers": [dns.addr.to_string()],
        "target_groups": [{"target_group_arn": tg, "alb_dns_name": ALB_DNS_NAME, "port": 443}]}})
    .to_string();
    let ip = |n: u8| std::net::Ipv4Addr::new(10, 0, 1, n);
    let target = |n: u8| format!("10.0.1.{n}:443");

    // A clean start: three addresses registered.
    dns.set(ALB_DNS_NAME, Answer::Addresses(vec![ip(10), ip(20), ip(30)]));
    let first = invoke_nlb_sync(&kit.clients, &config, &json!({"sync": {}}))
        .await
        .unwrap();
    assert_eq!(first.results[0].outcome, NlbOutcome::Synced);

    // Each round the ALB moves one address: .10 .20 .30 -> .20 .30 .40 -> .30 .40 .50 ...
    let (proxy, clients) = faulty(&emulator, 23).await;
    let mut runs = 0;
    for round in 1..=ROUNDS as u8 {
        let answer: Vec<u8> = (round + 1..=round + 3).map(|n| n * 10).collect();
        let stay: Vec<u8> = answer[..2].to_vec();
        dns.set(ALB_DNS_NAME, Answer::Addresses(answer.iter().map(|n| ip(*n)).collect()));
        let mut wanted: Vec<String> = answer.iter().map(|n| target(*n)).collect();
        wanted.sort();
        let mut round_runs = 0;
        loop {
            round_runs += 1;
            let response = invoke_nlb_sync(&clients, &config, &json!({"sync": {}})).await.unwrap();
            let result = &response.results[0];
            if result.outcome == NlbOutcome::Failed {
                assert!(result.reason.as_deref().is_some_and(|r| !r.is_empty()), "{result:?}");
            }
            let now = target_ips(&kit.clients, &tg).await;
            for live in stay.iter().map(|n| target(*n)) {
                assert!(
                    now.contains(&live),
                    "round {round} run {round_runs} dropped live {live}: {now:?}"
                );
            }
            if now == wanted && result.outcome == NlbOutcome::Unchanged {
                break;
            }
            assert!(
                round_runs < RUNS,
                "round {round}: not done ({now:?}); {}",
                proxy.stats.summary()
            );
        }
        runs += round_runs;
        emulator.start_recording();
        let clean = invoke_nlb_sync(&kit.clients, &config, &json!({"sync": {}}))
            .await
            .unwrap();
        assert_eq!(clean.results[0].outcome, NlbOutcome::Unchanged, "{clean:?}");
        assert_eq!(count_writes(&emulator.stop_recording()), 0);
    }
    println!(
        "nlb-sync: {runs} runs over {ROUNDS} address changes; {}",
        proxy.stats.summary()
    );
    assert!(proxy.stats.faulted() > 0, "faults were injected");
}

/// Half the answers of one kind of call lost after the emulator carried it out.
async fn losing_answers_of(emulator: &Emulator, call: &str, seed: u64) -> (FaultProxy, AwsClients) {
    let plan = FaultPlan {
        rate: 0.5,
        seed,
        kinds: vec![Fault::ServerErrorAfter, Fault::ResetAfter],
        only: Some(call.to_owned()),
    };
    let proxy = FaultProxy::start_with(emulator.port, plan).await;
    let clients = AwsClients::from_sdk_config(&sdk_config_for(&proxy.endpoint()).await);
    (proxy, clients)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registration_whose_answer_is_lost_is_not_made_twice() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let (app, _) = kit.orders().await;
    let config = world::config_for(&[&app]);
    let (proxy, clients) = losing_answers_of(&emulator, "RegisterTaskDefinition", 5).await;
    for round in 1..=ROUNDS {
        let digest = world::push_image(&kit.clients, "orders", "latest", &format!("round-{round}")).await;
        let event = push_event("orders", "latest", &digest);
        let mut runs = 0;
        loop {
            runs += 1;
            let response = invoke_image_push_with(&clients, &config, &event, &Settings::default())
                .await
                .unwrap();
            if response.results[0].outcome == Outcome::Deployed {
                break;
            }
            assert!(runs < RUNS, "round {round}: {response:?}");
        }
        let revisions = world::family_revisions(&kit.clients, "orders").await;
        assert_eq!(
            revisions.len(),
            1 + round,
            "round {round}: one revision per image: {revisions:?}"
        );
    }
    println!("lost register answers: {}", proxy.stats.summary());
    assert!(proxy.stats.faulted() > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_integrations_and_cloud_map_services_whose_answers_are_lost_are_not_made_twice() {
    for (call, seed) in [("POST /v2/apis/", 3), ("CreateService", 9)] {
        let emulator = Emulator::start();
        let kit = World::new(&emulator).await;
        let (orders, _) = kit.orders().await;
        let billing = kit.create_app("sss", "orders", "billing").await;
        let api = kit.api().await;
        let config = json!({"apps": [
            api.app_config(&orders, &["GET", "POST", "DELETE"], "/orders/{proxy+}"),
            api.app_config(&billing, &["GET", "PUT"], "/billing/{proxy+}"),
        ]})
        .to_string();
        let (proxy, clients) = losing_answers_of(&emulator, call, seed).await;
        let mut runs = 0;
        loop {
            runs += 1;
            let response = invoke_service_sync(&clients, &config, &json!({"sync": {}}))
                .await
                .unwrap();
            if response.results.iter().all(|r| r.outcome == SyncOutcome::Unchanged) {
                break;
            }
            assert!(runs < RUNS, "{call}: {response:?}; {}", proxy.stats.summary());
        }
        let routes = deployer::aws::apigw::get_routes(&kit.clients.apigw, &api.api_id)
            .await
            .unwrap();
        assert_eq!(routes.len(), 5, "{call}: {routes:?}");
        let integrations = deployer::aws::apigw::get_integrations(&kit.clients.apigw, &api.api_id)
            .await
            .unwrap();
        assert_eq!(integrations.len(), 2, "{call}: {integrations:?}");
        let namespace = deployer::aws::cloudmap::list_namespaces(&kit.clients.cloud_map)
            .await
            .unwrap();
        let mut services = 0;
        for ns in &namespace {
            services += deployer::aws::cloudmap::list_services(&kit.clients.cloud_map, &ns.id)
                .await
                .unwrap()
                .len();
        }
        assert_eq!(services, 2, "{call}: one Cloud Map service per application");
        println!("{call}: {runs} runs; {}", proxy.stats.summary());
        assert!(proxy.stats.faulted() > 0, "{call}");
    }
}

/// A call to an endpoint that accepts connections and never answers fails once its timeouts run
/// out, instead of holding the invocation until Lambda kills it. The functions' configuration is
/// `Timeouts::FUNCTIONS`; this uses the same wiring with shorter bounds.
#[tokio::test(flavor = "multi_thread")]
async fn a_call_that_hangs_fails_when_its_timeouts_run_out() {
    use deployer::aws::Timeouts;
    use std::time::Duration;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accept every connection and hold it open without a byte of answer.
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let timeouts = Timeouts {
        connect: Duration::from_secs(1),
        attempt: Duration::from_millis(300),
        operation: Duration::from_millis(1500),
    };
    let config = sdk_config_for(&format!("http://127.0.0.1:{port}"))
        .await
        .to_builder()
        .timeout_config(timeouts.config())
        .build();
    let ecs = deployer::aws::ecs::Ecs::new(&config, None);
    // The guard only turns a hang (no timeouts at all) into a failure instead of a stuck test.
    let answer = tokio::time::timeout(
        Duration::from_secs(120),
        deployer::aws::ecs::describe_services(&ecs, "sss", &["orders".to_owned()]),
    )
    .await
    .expect("the call ends by its own timeouts");
    let err = answer.expect_err("nothing answered");
    assert_eq!((err.service, err.operation), ("ECS", "DescribeServices"));
    assert!(err.message.to_lowercase().contains("timeout"), "{err}");
    holder.abort();
}

/// EventBridge's partial failure (the call succeeds, its answer names refused entries): only the
/// refused entries are sent again, so every event arrives once; an entry refused every time is
/// an error, and the others still arrived once.
#[tokio::test(flavor = "multi_thread")]
async fn events_refused_by_put_events_are_resent_alone() {
    use deployer::aws::events::{put_events, Entry};
    use deployer_devkit::events::EventTap;
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let tap = EventTap::new(&kit.clients, "deploys").await;
    let entries: Vec<Entry> = (0..12)
        .map(|n| Entry {
            detail_type: "Deploy Succeeded".into(),
            detail: json!({"n": n}),
        })
        .collect();
    let numbers = |events: Vec<serde_json::Value>| {
        let mut n: Vec<i64> = events.iter().map(|e| e["detail"]["n"].as_i64().unwrap()).collect();
        n.sort();
        n
    };

    let plan = FaultPlan {
        // Seeded draws: the first call's last entry is refused, then again alone, then taken;
        // the second call's once.
        rate: 0.5,
        seed: 99,
        kinds: vec![Fault::RefuseLastEvent],
        only: Some("PutEvents".into()),
    };
    let proxy = FaultProxy::start_with(emulator.port, plan).await;
    let events = aws_sdk_eventbridge::Client::new(&sdk_config_for(&proxy.endpoint()).await);
    put_events(&events, "deploys", deployer::notify::SOURCE, &entries)
        .await
        .unwrap_or_else(|e| panic!("the refused entries were resent: {e} ({})", proxy.stats.summary()));
    assert_eq!(
        proxy.stats.count(Fault::RefuseLastEvent),
        3,
        "{}",
        proxy.stats.summary()
    );
    assert_eq!(numbers(tap.received().await), (0..12).collect::<Vec<_>>());

    proxy.set_rate(1.0);
    let err = put_events(&events, "deploys", deployer::notify::SOURCE, &entries[..3])
        .await
        .expect_err("the last entry is refused every time");
    assert!(err.to_string().contains("1 of 1 events refused"), "{err}");
    assert_eq!(numbers(tap.received().await), vec![0, 1], "sent once each, never again");
}
