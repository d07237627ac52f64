//! Overlapping `image-push` invocations for one service, against the emulator behind a 20 ms
//! latency proxy so that both really run at once: with per-service leases they end on the
//! newest image, never on a revision of an older one.

use std::time::Duration;

use deployer::image_push::Outcome;
use deployer::job::Settings;
use deployer::lease::{self, LeaseConfig};
use deployer::AwsClients;
use deployer_devkit::emulator::{count_op, sdk_config_for};
use deployer_devkit::latency::LatencyProxy;
use deployer_devkit::world::{self, invoke_image_push_with, push_event, registry, World};
use deployer_devkit::Emulator;
use serde_json::json;

const BUCKET: &str = "deployer-leases";

fn guarded() -> Settings {
    Settings {
        lease: Some(LeaseConfig::in_bucket(BUCKET)),
        ..Settings::default()
    }
}

/// Clients that reach the emulator through a latency proxy.
async fn slow_clients(emulator: &Emulator) -> (LatencyProxy, AwsClients) {
    let proxy = LatencyProxy::start(emulator.port, Duration::from_millis(20)).await;
    let clients = AwsClients::from_sdk_config(&sdk_config_for(&proxy.endpoint()).await);
    (proxy, clients)
}

async fn running_image(clients: &AwsClients) -> String {
    let running = world::service_task_definition(clients, "sss", "orders").await;
    world::container_image(clients, &running, "app").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_pushes_end_on_the_newest_image() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let (app, _) = kit.orders().await;
    world::create_bucket(&kit.clients, BUCKET).await;
    let config = world::config_for(&[&app]);
    let (_proxy, slow) = slow_clients(&emulator).await;
    let options = guarded();

    for round in 0..4 {
        // Two tags the service follows, pushed a second apart (ECR keeps push times in seconds).
        let older = world::push_image(
            &kit.clients,
            "orders",
            &format!("release-{}", 2 * round),
            &format!("older-{round}"),
        )
        .await;
        // Each push's event is made when it happens.
        let older_event = push_event("orders", &format!("release-{}", 2 * round), &older);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let newer = world::push_image(
            &kit.clients,
            "orders",
            &format!("release-{}", 2 * round + 1),
            &format!("newer-{round}"),
        )
        .await;
        let newer_event = push_event("orders", &format!("release-{}", 2 * round + 1), &newer);

        emulator.start_recording();
        // Alternate which one starts first.
        let (a, b) = if round % 2 == 0 {
            (&older_event, &newer_event)
        } else {
            (&newer_event, &older_event)
        };
        let (first, second) = tokio::join!(
            invoke_image_push_with(&slow, &config, a, &options),
            invoke_image_push_with(&slow, &config, b, &options)
        );
        let (mut first, mut second) = (first.unwrap().results.remove(0), second.unwrap().results.remove(0));
        // A push whose lease another took over while it waited answers `deferred` (nothing
        // written) and Lambda retries it; the retry is played here, as Lambda would.
        for (report, event) in [(&mut first, a), (&mut second, b)] {
            if report.outcome == Outcome::Deferred {
                *report = invoke_image_push_with(&slow, &config, event, &options)
                    .await
                    .unwrap()
                    .results
                    .remove(0);
            }
        }
        let calls = emulator.stop_recording();
        let outcomes = [first.outcome, second.outcome];
        let reasons = [first.reason, second.reason];

        assert_eq!(
            running_image(&kit.clients).await,
            format!("{}/orders@{newer}", registry()),
            "round {round}: outcomes {outcomes:?}, {reasons:?}"
        );
        assert!(
            count_op(&calls, "RegisterTaskDefinition") <= 2 && count_op(&calls, "UpdateService") <= 2,
            "round {round}: {calls:?}"
        );
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, Outcome::Deployed | Outcome::Stale | Outcome::Unchanged)),
            "round {round}: {outcomes:?} {reasons:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_and_a_rollback_at_once_end_on_one_of_them_consistently() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let (app, first_digest) = kit.orders().await;
    world::create_bucket(&kit.clients, BUCKET).await;
    let config = world::config_for(&[&app]);
    let (_proxy, slow) = slow_clients(&emulator).await;
    let options = guarded();
    // orders:2 runs release-1; orders:1 (latest, the first image) is what a rollback returns to.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = world::push_image(&kit.clients, "orders", "release-1", "second").await;
    let deployed = invoke_image_push_with(
        &kit.clients,
        &config,
        &push_event("orders", "release-1", &second),
        &options,
    )
    .await
    .unwrap();
    assert_eq!(deployed.results[0].outcome, Outcome::Deployed);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let third = world::push_image(&kit.clients, "orders", "release-2", "third").await;

    let (push_payload, rollback_payload) = (
        push_event("orders", "release-2", &third),
        json!({"rollback": {"app": "orders"}}),
    );
    let (push, rollback) = tokio::join!(
        invoke_image_push_with(&slow, &config, &push_payload, &options),
        invoke_image_push_with(&slow, &config, &rollback_payload, &options)
    );
    let (push, rollback) = (push.unwrap(), rollback.unwrap());

    let image = running_image(&kit.clients).await;
    let running = world::service_task_definition(&kit.clients, "sss", "orders").await;
    let revisions = world::family_revisions(&kit.clients, "orders").await;
    // The push registered at most one revision; nothing was registered twice.
    assert!(revisions.len() <= 3, "{revisions:?}");
    let pushed_image = format!("{}/orders@{third}", registry());
    let outcome = (push.results[0].outcome, rollback.results[0].outcome);
    match image {
        // The push ran last (or the rollback first): the newest image runs.
        i if i == pushed_image => assert_eq!(push.results[0].outcome, Outcome::Deployed, "{outcome:?}"),
        // The rollback ran last: it returned to the revision before the one it found.
        _ => {
            assert_eq!(rollback.results[0].outcome, Outcome::Deployed, "{outcome:?}");
            assert_eq!(
                rollback.results[0].new_task_definition.as_deref(),
                Some(running.as_str())
            );
            let earlier = [first_digest.as_str(), second.as_str()].map(|d| format!("{}/orders@{d}", registry()));
            // The first revision names its image by tag (`orders:latest`), later ones by digest.
            let image = running_image(&kit.clients).await;
            assert!(earlier.contains(&image) || image.ends_with("/orders:latest"), "{image}");
        }
    }
}

#[tokio::test]
async fn a_held_lease_is_waited_for_then_refused_clearly_and_an_expired_one_is_taken_over() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let clients = &kit.clients;
    let (app, _) = kit.orders().await;
    world::create_bucket(clients, BUCKET).await;
    let config = world::config_for(&[&app]);
    let digest = world::push_image(clients, "orders", "latest", "v2").await;
    let event = push_event("orders", "latest", &digest);
    let before = world::service_task_definition(clients, "sss", "orders").await;

    // Another deploy holds the lease for two minutes.
    let holder = LeaseConfig::in_bucket(BUCKET);
    let key = holder.key("sss", "orders");
    let held = lease::acquire(&clients.s3, &holder, &key, "someone-else", "orders manual deploy")
        .await
        .unwrap();
    let impatient = Settings {
        lease: Some(LeaseConfig {
            wait: Duration::from_millis(500),
            ..LeaseConfig::in_bucket(BUCKET)
        }),
        ..Settings::default()
    };
    emulator.start_recording();
    let refused = invoke_image_push_with(clients, &config, &event, &impatient)
        .await
        .unwrap();
    let calls = emulator.stop_recording();
    let result = &refused.results[0];
    assert_eq!(
        result.outcome,
        Outcome::Deferred,
        "a busy lease is later, not a failure"
    );
    let reason = result.reason.as_deref().unwrap_or_default();
    assert!(
        reason.contains("someone-else") && reason.contains("orders manual deploy") && reason.contains(&key),
        "{reason}"
    );
    assert_eq!(count_op(&calls, "RegisterTaskDefinition"), 0, "{calls:?}");
    assert_eq!(world::service_task_definition(clients, "sss", "orders").await, before);

    // Given back: the retry deploys.
    lease::release(&clients.s3, &holder, &held).await.unwrap();
    let retried = invoke_image_push_with(clients, &config, &event, &impatient)
        .await
        .unwrap();
    assert_eq!(retried.results[0].outcome, Outcome::Deployed, "{retried:?}");

    // A crashed holder's lease (expired) is taken over without waiting.
    let crashed = LeaseConfig {
        ttl: Duration::ZERO,
        ..LeaseConfig::in_bucket(BUCKET)
    };
    lease::acquire(&clients.s3, &crashed, &key, "crashed-invocation", "orders push")
        .await
        .unwrap();
    // (orders:1 names its image by tag: a rollback there needs `force`.)
    let rollback = invoke_image_push_with(
        clients,
        &config,
        &json!({"rollback": {"app": "orders", "force": true}}),
        &impatient,
    )
    .await
    .unwrap();
    assert_eq!(rollback.results[0].outcome, Outcome::Deployed, "{rollback:?}");
    assert_eq!(world::service_task_definition(clients, "sss", "orders").await, before);
}

/// The lease's owner is the deploy's id: when an attempt died holding the lease (Lambda's
/// timeout, a worker killed mid-batch), the retry of the same deploy takes it back at once
/// instead of waiting out its expiry; another deploy of the service still waits for it.
#[tokio::test]
async fn a_retry_takes_back_the_lease_its_own_deploy_left_behind() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let clients = &kit.clients;
    world::create_bucket(clients, BUCKET).await;
    let (app, _) = kit.orders().await;
    let config = world::config_for(&[&app]);
    let digest = world::push_image(clients, "orders", "latest", "v2").await;
    let event = push_event("orders", "latest", &digest);
    let trigger = deployer::records::Trigger {
        kind: deployer::records::TriggerKind::Push,
        id: event["id"].as_str().unwrap().to_owned(),
        by: Some("aws.ecr".into()),
    };
    let holder = LeaseConfig::in_bucket(BUCKET);
    let key = holder.key("sss", "orders");
    let own = deployer::records::deploy_id(&trigger, "orders");
    lease::acquire(&clients.s3, &holder, &key, &own, "the attempt that died")
        .await
        .unwrap();
    let impatient = Settings {
        lease: Some(LeaseConfig {
            wait: Duration::from_millis(300),
            ..LeaseConfig::in_bucket(BUCKET)
        }),
        ..Settings::default()
    };
    let retried = invoke_image_push_with(clients, &config, &event, &impatient)
        .await
        .unwrap();
    assert_eq!(retried.results[0].outcome, Outcome::Deployed, "{retried:?}");

    // Another push's deploy finds the lease held by someone else: it waits, then is deferred.
    lease::acquire(&clients.s3, &holder, &key, "another-deploy", "someone else")
        .await
        .unwrap();
    let newer = world::push_image(clients, "orders", "latest", "v3").await;
    let other = invoke_image_push_with(clients, &config, &push_event("orders", "latest", &newer), &impatient)
        .await
        .unwrap();
    assert_eq!(other.results[0].outcome, Outcome::Deferred, "{other:?}");
}
