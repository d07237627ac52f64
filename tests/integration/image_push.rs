//! `image-push` against the AWS emulator (moto server): each test starts its own emulator on a
//! free loopback port, builds a small world and counts the AWS calls with moto's recorder.

use deployer::aws::revision::same_content;
use deployer::image_push::plan::copy_with_image;
use deployer::image_push::Outcome;
use deployer_devkit::emulator::{count_op, count_writes};
use deployer_devkit::world::{self, invoke_image_push, push_event, registry, World};
use deployer_devkit::Emulator;
use serde_json::json;

mod manual;

#[tokio::test]
async fn a_push_deploys_a_digest_pinned_faithful_copy() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let clients = &kit.clients;
    let (app, _) = kit.orders().await;
    let config = world::config_for(&[&app]);
    let before = deployer::aws::ecs::describe_task_definition(&clients.ecs, &app.task_definition)
        .await
        .unwrap();
    let digest = world::push_image(clients, "orders", "latest", "v2").await;

    emulator.start_recording();
    let response = invoke_image_push(clients, &config, &push_event("orders", "latest", &digest))
        .await
        .unwrap();
    let calls = emulator.stop_recording();

    let result = &response.results[0];
    assert_eq!(result.outcome, Outcome::Deployed, "{result:?}");
    let expected_image = format!("{}/orders@{digest}", registry());
    assert_eq!(result.image.as_deref(), Some(expected_image.as_str()));
    let running = world::service_task_definition(clients, "sss", "orders").await;
    assert_eq!(result.new_task_definition.as_deref(), Some(running.as_str()));
    assert!(running.ends_with("task-definition/orders:2"), "service runs {running}");

    // Everything but the followed container's image (and the managed tag) is as before.
    let after = deployer::aws::ecs::describe_task_definition(&clients.ecs, &running)
        .await
        .unwrap();
    assert_eq!(after.container_image("app"), Some(expected_image.as_str()));
    assert!(same_content(&copy_with_image(&before, "app", &expected_image), &after));
    let sidecar = |r: &deployer::aws::revision::Revision| {
        r.definition
            .container_definitions()
            .iter()
            .find(|c| c.name() == Some("log-router"))
            .cloned()
    };
    assert_eq!(sidecar(&before), sidecar(&after));

    // One deploy: DescribeServices, DescribeTaskDefinition, DescribeImages, Register, Update.
    assert!(calls.len() <= 5, "{} calls: {calls:?}", calls.len());
    assert_eq!(count_writes(&calls), 2, "{calls:?}");
}

#[tokio::test]
async fn the_same_event_ten_times_gives_one_revision_and_one_update() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let clients = &kit.clients;
    let (app, _) = kit.orders().await;
    let config = world::config_for(&[&app]);
    let digest = world::push_image(clients, "orders", "latest", "v2").await;
    let event = push_event("orders", "latest", &digest);

    emulator.start_recording();
    let mut outcomes = Vec::new();
    for _ in 0..10 {
        outcomes.push(invoke_image_push(clients, &config, &event).await.unwrap().results[0].outcome);
    }
    let calls = emulator.stop_recording();

    assert_eq!(outcomes[0], Outcome::Deployed);
    assert!(outcomes[1..].iter().all(|o| *o == Outcome::Unchanged), "{outcomes:?}");
    assert_eq!(count_op(&calls, "RegisterTaskDefinition"), 1);
    assert_eq!(count_op(&calls, "UpdateService"), 1);
    assert_eq!(count_writes(&calls), 2);
    assert_eq!(world::family_revisions(clients, "orders").await.len(), 2);
}

#[tokio::test]
async fn pushes_delivered_newest_first_end_on_the_newest() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let clients = &kit.clients;
    let (app, _) = kit.orders().await;
    let config = world::config_for(&[&app]);
    let older = world::push_image(clients, "orders", "latest", "v2").await;
    let newer = world::push_image(clients, "orders", "latest", "v3").await;

    let first = invoke_image_push(clients, &config, &push_event("orders", "latest", &newer))
        .await
        .unwrap();
    let late = invoke_image_push(clients, &config, &push_event("orders", "latest", &older))
        .await
        .unwrap();

    assert_eq!(first.results[0].outcome, Outcome::Deployed);
    assert_eq!(late.results[0].outcome, Outcome::Stale, "{:?}", late.results[0]);
    assert!(late.results[0].reason.as_deref().unwrap().contains(&newer));
    let running = world::service_task_definition(clients, "sss", "orders").await;
    assert!(world::container_image(clients, &running, "app").await.ends_with(&newer));
}

#[tokio::test]
async fn a_tag_moved_back_to_an_older_image_deploys_it_and_the_moved_off_event_is_stale() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let clients = &kit.clients;
    let (app, _) = kit.orders().await;
    let config = world::config_for(&[&app]);
    let older = world::push_image(clients, "orders", "latest", "v2").await;
    invoke_image_push(clients, &config, &push_event("orders", "latest", &older))
        .await
        .unwrap();
    // ECR keeps push times in whole seconds: the newer image is visibly newer.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let newer = world::push_image(clients, "orders", "latest", "v3").await;
    invoke_image_push(clients, &config, &push_event("orders", "latest", &newer))
        .await
        .unwrap();

    // `latest` moved back to the older image (PutImage of its manifest): a deploy the user asked
    // for, although the image was pushed before the one running.
    let moved = world::push_image(clients, "orders", "latest", "v2").await;
    assert_eq!(moved, older);
    let mut moved_event = push_event("orders", "latest", &older);
    moved_event["id"] = "evt-latest-moved-back".into();
    let back = invoke_image_push(clients, &config, &moved_event).await.unwrap();
    assert_eq!(back.results[0].outcome, Outcome::Deployed, "{:?}", back.results[0]);
    let running = world::service_task_definition(clients, "sss", "orders").await;
    assert!(world::container_image(clients, &running, "app").await.ends_with(&older));

    // The newer push's event, delivered again now: `latest` no longer names it, so it is stale.
    let late = invoke_image_push(clients, &config, &push_event("orders", "latest", &newer))
        .await
        .unwrap();
    assert_eq!(late.results[0].outcome, Outcome::Stale, "{:?}", late.results[0]);
    assert!(late.results[0].reason.as_deref().unwrap().contains(&older));
    let running = world::service_task_definition(clients, "sss", "orders").await;
    assert!(world::container_image(clients, &running, "app").await.ends_with(&older));
}

#[tokio::test]
async fn two_services_following_one_image_both_deploy() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let clients = &kit.clients;
    let (api, _) = kit.orders().await;
    let worker = kit.create_app("sss", "orders", "orders-worker").await;
    let config = world::config_for(&[&api, &worker]);
    let digest = world::push_image(clients, "orders", "latest", "v2").await;

    emulator.start_recording();
    let response = invoke_image_push(clients, &config, &push_event("orders", "latest", &digest))
        .await
        .unwrap();
    let calls = emulator.stop_recording();

    assert_eq!(response.results.len(), 2);
    assert!(
        response.results.iter().all(|r| r.outcome == Outcome::Deployed),
        "{response:?}"
    );
    for name in ["orders", "orders-worker"] {
        let running = world::service_task_definition(clients, "sss", name).await;
        assert!(
            world::container_image(clients, &running, "app")
                .await
                .ends_with(&digest),
            "{name}"
        );
    }
    // Both services are read in one DescribeServices call and the image in one DescribeImages.
    assert_eq!(count_op(&calls, "DescribeServices"), 1);
    assert_eq!(count_op(&calls, "DescribeImages"), 1);
}

#[tokio::test]
async fn pushes_that_nothing_follows_are_ignored_without_writes() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let clients = &kit.clients;
    let (app, digest) = kit.orders().await;
    let config = world::config_for(&[&app]);
    let mut delete = push_event("orders", "latest", &digest);
    delete["detail"]["action-type"] = json!("DELETE");
    let mut failure = push_event("orders", "latest", &digest);
    failure["detail"]["result"] = json!("FAILURE");
    let mut untagged = push_event("orders", "latest", &digest);
    untagged["detail"].as_object_mut().unwrap().remove("image-tag");
    let cases = [
        (delete, "not a push"),
        (failure, "FAILURE"),
        (untagged, "without a tag"),
        (
            push_event("payments", "latest", &digest),
            "no application follows repository",
        ),
        (
            push_event("orders", "dev-7", &digest),
            "no application follows tag `dev-7`",
        ),
    ];

    emulator.start_recording();
    for (event, why) in &cases {
        let response = invoke_image_push(clients, &config, event).await.unwrap();
        assert_eq!(response.results[0].outcome, Outcome::Ignored);
        assert!(
            response.results[0].reason.as_deref().unwrap().contains(why),
            "{response:?}"
        );
    }
    assert_eq!(emulator.stop_recording(), vec![], "ignored events make no call at all");
}

#[tokio::test]
async fn malformed_input_and_bad_configuration_make_no_call() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let clients = &kit.clients;
    let (app, digest) = kit.orders().await;
    let config = world::config_for(&[&app]);
    let mut bad_digest = push_event("orders", "latest", &digest);
    bad_digest["detail"]["image-digest"] = json!("sha256:xyz");
    let mut other_type = push_event("orders", "latest", &digest);
    other_type["detail-type"] = json!("EC2 Instance State-change Notification");
    // An ECS detail type image-push takes, from the wrong source.
    let mut wrong_source = push_event("orders", "latest", &digest);
    wrong_source["detail-type"] = json!("ECS Deployment State Change");
    let mut no_repo = push_event("orders", "latest", &digest);
    no_repo["detail"].as_object_mut().unwrap().remove("repository-name");
    let bad_payloads = [
        (bad_digest, "detail.image-digest"),
        (other_type, "detail-type"),
        (wrong_source, "source"),
        (no_repo, "detail.repository-name"),
        (json!({"deploy": {"app": "orders"}}), "deploy"),
        (
            json!({"deploy": {"app": "orders", "tag": "v1", "digest": digest}}),
            "deploy",
        ),
        (json!({"deploy": {"app": "nope", "tag": "v1"}}), "deploy.app"),
        (json!({"deploy": {"app": "orders", "tag": 5}}), "deploy.tag"),
        (
            json!({"rollback": {"app": "orders", "revision": "two"}}),
            "rollback.revision",
        ),
        (json!({"rollback": {"app": "orders"}, "dry_run": "yes"}), "dry_run"),
        (
            json!({"deploy": {"app": "orders", "tag": "v1"}, "rollback": {"app": "orders"}}),
            "$",
        ),
        (json!({"sync": {}}), "sync"),
        (json!([1, 2]), "$"),
    ];
    let bad_configs = [
        ("{", "$"),
        (r#"{"apps": [{"name": "orders"}]}"#, "apps[0]"),
        (
            r#"{"apps": [{"name": "a b", "cluster": "sss", "service": "x", "container": "app", "repository": "Orders", "tags": []}]}"#,
            "apps[0].repository",
        ),
    ];

    emulator.start_recording();
    for (payload, field) in &bad_payloads {
        let err = invoke_image_push(clients, &config, payload)
            .await
            .expect_err(&payload.to_string());
        assert!(err.to_string().contains(&format!("`{field}")), "{payload}: {err}");
    }
    for (bad, path) in &bad_configs {
        let event = push_event("orders", "latest", &digest);
        let err = invoke_image_push(clients, bad, &event).await.expect_err(bad);
        assert!(err.to_string().contains(path), "{bad}: {err}");
    }
    assert_eq!(emulator.stop_recording(), vec![], "refused input makes no AWS call");
}

#[tokio::test]
async fn a_retry_after_an_interrupted_deploy_reuses_the_registered_revision() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let clients = &kit.clients;
    let (app, _) = kit.orders().await;
    let config_text = world::config_for(&[&app]);
    let config = deployer::Config::parse(&config_text, "test").unwrap();
    let digest = world::push_image(clients, "orders", "latest", "v2").await;
    let event = push_event("orders", "latest", &digest);

    // First attempt: the revision is registered, then the run dies before UpdateService.
    let request = deployer::input::events::parse_image_push(&event).unwrap();
    let deployer::image_push::Selection::Apps { apps, goal } =
        deployer::image_push::select(&config, &request, None).unwrap()
    else {
        panic!("the push concerns no application")
    };
    let image_push_clients = world::job_clients::<deployer::image_push::ImagePush>(clients);
    let observed = deployer::image_push::observe(&image_push_clients, &apps, &goal, 1).await;
    let plan = deployer::image_push::plan_app(apps[0], &goal, observed[0].as_ref().unwrap(), &clients.region);
    let deployer::image_push::Step::Register(revision) = &plan.steps[0] else {
        panic!("{plan:?}")
    };
    let registered = deployer::aws::ecs::register_task_definition(&clients.ecs, revision)
        .await
        .unwrap();

    // The retry finds it and only points the service at it.
    emulator.start_recording();
    let response = invoke_image_push(clients, &config_text, &event).await.unwrap();
    let calls = emulator.stop_recording();
    assert_eq!(
        response.results[0].outcome,
        Outcome::Deployed,
        "{:?}",
        response.results[0]
    );
    assert_eq!(count_op(&calls, "RegisterTaskDefinition"), 0, "{calls:?}");
    assert_eq!(
        world::service_task_definition(clients, "sss", "orders").await,
        registered.arn()
    );
    assert_eq!(world::family_revisions(clients, "orders").await.len(), 2);
}

#[tokio::test]
async fn the_circuit_breaker_is_set_only_where_configured() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let clients = &kit.clients;
    let (app, _) = kit.orders().await;
    let plain = kit.create_app("sss", "orders", "orders-plain").await;
    let mut guarded = app.config();
    guarded["circuit_breaker"] = json!(true);
    let config = json!({"apps": [guarded, plain.config()]}).to_string();
    let digest = world::push_image(clients, "orders", "latest", "v2").await;

    let response = invoke_image_push(clients, &config, &push_event("orders", "latest", &digest))
        .await
        .unwrap();
    assert!(
        response.results.iter().all(|r| r.outcome == Outcome::Deployed),
        "{response:?}"
    );

    let services = clients
        .ecs
        .describe_services()
        .cluster("sss")
        .services("orders")
        .services("orders-plain")
        .send()
        .await
        .unwrap();
    let breaker = |name: &str| {
        services
            .services()
            .iter()
            .find(|s| s.service_name() == Some(name))
            .and_then(|s| s.deployment_configuration())
            .and_then(|d| d.deployment_circuit_breaker())
            .map(|b| (b.enable(), b.rollback()))
    };
    assert_eq!(breaker("orders"), Some((true, true)));
    assert_eq!(breaker("orders-plain"), None);
}

#[tokio::test]
async fn one_failing_application_does_not_stop_the_others() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let clients = &kit.clients;
    let (app, _) = kit.orders().await;
    let mut wrong_container = kit.create_app("sss", "orders", "orders-worker").await.config();
    wrong_container["container"] = json!("web");
    let mut missing = app.config();
    missing["name"] = json!("ghost");
    missing["service"] = json!("ghost");
    let config = json!({"apps": [wrong_container, app.config(), missing]}).to_string();
    let digest = world::push_image(clients, "orders", "latest", "v2").await;

    let response = invoke_image_push(clients, &config, &push_event("orders", "latest", &digest))
        .await
        .unwrap();
    let outcome = |name: &str| {
        response
            .results
            .iter()
            .find(|r| r.app.as_deref() == Some(name))
            .unwrap()
    };
    assert_eq!(outcome("orders").outcome, Outcome::Deployed, "{response:?}");
    assert_eq!(outcome("orders-worker").outcome, Outcome::Failed);
    assert!(outcome("orders-worker")
        .reason
        .as_deref()
        .unwrap()
        .contains("container `web`"));
    assert_eq!(outcome("ghost").outcome, Outcome::Failed);
    assert!(outcome("ghost").reason.as_deref().unwrap().contains("not found"));
}

#[tokio::test]
async fn the_configuration_can_live_in_s3() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let clients = &kit.clients;
    let (app, _) = kit.orders().await;
    world::create_bucket(clients, "deployer-config").await;
    let put = |key: &'static str, body: String| {
        clients
            .s3
            .put_object()
            .bucket("deployer-config")
            .key(key)
            .body(body.into_bytes().into())
            .send()
    };
    put("good.json", world::config_for(&[&app])).await.unwrap();
    put("bad.json", r#"{"apps": [{"name": "orders"}]}"#.into())
        .await
        .unwrap();
    // A valid document padded past the 1 MiB bound: refused whole, before it is parsed.
    let padded = format!("{}{}", world::config_for(&[&app]), " ".repeat(1024 * 1024));
    put("huge.json", padded).await.unwrap();
    let digest = world::push_image(clients, "orders", "latest", "v2").await;
    let event = push_event("orders", "latest", &digest);
    let invoke = |location: &str| {
        let source = deployer::input::config::ConfigSource::S3(location.into());
        let event = event.clone();
        async move {
            let clients = world::job_clients::<deployer::image_push::ImagePush>(clients);
            <deployer::image_push::ImagePush as deployer::job::Job>::invoke(
                &clients,
                &source,
                &event,
                &Default::default(),
                &deployer::job::Invocation::local(),
            )
            .await
        }
    };

    emulator.start_recording();
    let err = invoke("s3://deployer-config/bad.json").await.unwrap_err();
    assert!(err.to_string().contains("apps[0].cluster"), "{err}");
    let err = invoke("s3://deployer-config/none.json").await.unwrap_err();
    assert!(
        err.to_string()
            .contains("S3 GetObject on s3://deployer-config/none.json"),
        "{err}"
    );
    let err = invoke("s3://deployer-config/huge.json").await.unwrap_err();
    assert!(err.to_string().contains("at most 1 MiB"), "{err}");
    assert_eq!(count_writes(&emulator.stop_recording()), 0);

    let response = invoke("s3://deployer-config/good.json").await.unwrap();
    assert_eq!(response.results[0].outcome, Outcome::Deployed);
}
