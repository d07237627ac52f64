//! The three functions through cargo-lambda's local Lambda runtime (the real Runtime API), fed the
//! sample files in `events/`, against the AWS emulator.

use deployer_devkit::emulator::{count_writes, repo_root};
use deployer_devkit::lambda::{function_binary, LambdaWatch};
use deployer_devkit::runtime_api::{FunctionAnswer, RuntimeRun};
use deployer_devkit::world::{self, registry, World};
use deployer_devkit::Emulator;

/// The digest `events/ecr-push.json` names.
fn sample_push_digest() -> String {
    let event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join("events/ecr-push.json")).unwrap()).unwrap();
    event["detail"]["image-digest"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn image_push_deploys_the_sample_push_event_through_the_lambda_runtime() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let clients = &kit.clients;
    let (app, _) = kit.orders().await;
    let digest = sample_push_digest();
    world::push_image_with_digest(clients, "orders", "latest", &digest).await;

    world::create_bucket(clients, "deployer-state").await;
    let mut env = emulator.env();
    env.push(("DEPLOYER_CONFIG".into(), world::config_for(&[&app])));
    // As the template sets it: deploys of one service take a lease in the state bucket.
    env.push((deployer::input::env::ENV_STATE_BUCKET.into(), "deployer-state".into()));
    let watch = tokio::task::spawn_blocking(move || LambdaWatch::start("image-push", &env))
        .await
        .unwrap();
    let events = repo_root().join("events");

    let invoke = |file: &str| {
        let path = events.join(file);
        let watch = &watch;
        move || watch.invoke_file("image-push", &path)
    };
    let answer = invoke("ecr-push.json")().expect("the push deploys");
    assert_eq!(answer["dry_run"], false);
    assert_eq!(answer["results"][0]["outcome"], "deployed", "{answer}");
    assert_eq!(answer["results"][0]["image"], format!("{}/orders@{digest}", registry()));
    let running = world::service_task_definition(clients, "sss", "orders").await;
    assert_eq!(answer["results"][0]["new_task_definition"], running.as_str());
    // The deploy held the service's lease and gave it back.
    let lease = clients
        .s3
        .get_object()
        .bucket("deployer-state")
        .key("leases/sss/orders.json")
        .send()
        .await
        .expect("the lease object exists");
    let lease: serde_json::Value = serde_json::from_slice(&lease.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(lease["expires_at"], 0, "given back: {lease}");

    // The same file again is a replay: unchanged, no write.
    emulator.start_recording();
    let replay = invoke("ecr-push.json")().expect("the replay answers");
    assert_eq!(replay["results"][0]["outcome"], "unchanged", "{replay}");
    assert_eq!(count_writes(&emulator.stop_recording()), 0);

    // A payload shaped as a function URL request reaching image-push came by a plain invoke,
    // whose signer anyone could have written: refused (signed payloads go to `approve`).
    let forged = invoke("function-url-status.json")().expect_err("refused");
    assert!(
        forged.contains("EventInvalid") && forged.contains("no function URL"),
        "{forged}"
    );

    // A manual dry run of a rollback to orders:1, which names its image by tag (the tag now
    // names the pushed image), is refused without `force`, saying why; a delete is ignored.
    let refused = invoke("manual-rollback-revision-dry-run.json")().expect_err("refused without force");
    assert!(
        refused.contains("DeployFailed") && refused.contains("names its image by tag"),
        "{refused}"
    );
    let delete = invoke("ecr-delete.json")().expect("the delete answers");
    assert_eq!(delete["results"][0]["outcome"], "ignored");
    // A gate task's stop, where no application has a gate: ignored.
    let stop = invoke("ecs-task-stopped.json")().expect("the task's stop answers");
    assert_eq!(stop["results"][0]["outcome"], "ignored", "{stop}");
    assert_eq!(world::service_task_definition(clients, "sss", "orders").await, running);

    // A malformed payload is an invocation error that names the field.
    let bad = std::env::temp_dir().join(format!("bad-payload-{}.json", emulator.port));
    std::fs::write(&bad, r#"{"deploy": {"app": "orders", "tag": 42}}"#).unwrap();
    let err = watch.invoke_file("image-push", &bad).expect_err("refused");
    assert!(err.contains("deploy.tag"), "{err}");
    // Lambda sees the stable error type, not a Rust type path.
    assert!(err.contains("EventInvalid"), "{err}");
    let _ = std::fs::remove_file(bad);
}

#[tokio::test(flavor = "multi_thread")]
async fn service_sync_answers_the_sample_events_through_the_lambda_runtime() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let (app, _) = kit.orders().await;
    let api = kit.api().await;
    let config = serde_json::json!({"apps": [api.app_config(&app, &["GET", "POST"], "/orders/{proxy+}")]}).to_string();
    let mut env = emulator.env();
    // As deployed by the template: the configuration is read from S3.
    env.push(world::config_in_s3(&kit.clients, "deployer-config", &config).await);
    let watch = tokio::task::spawn_blocking(move || LambdaWatch::start("service-sync", &env))
        .await
        .unwrap();
    let events = repo_root().join("events");

    emulator.start_recording();
    let plan = watch
        .invoke_file("service-sync", &events.join("manual-sync-dry-run.json"))
        .expect("dry run");
    assert_eq!(plan["results"][0]["outcome"], "planned", "{plan}");
    let failed = watch
        .invoke_file("service-sync", &events.join("ecs-deployment-failed.json"))
        .expect("failure report");
    assert_eq!(failed["results"][0]["outcome"], "deployment_failed", "{failed}");
    assert_eq!(count_writes(&emulator.stop_recording()), 0);

    let completed = watch
        .invoke_file("service-sync", &events.join("ecs-deployment-completed.json"))
        .expect("sync");
    assert_eq!(completed["results"][0]["outcome"], "synced", "{completed}");
    emulator.start_recording();
    let scheduled = watch
        .invoke_file("service-sync", &events.join("scheduled.json"))
        .expect("drift repair");
    assert_eq!(scheduled["results"][0]["outcome"], "unchanged", "{scheduled}");
    assert_eq!(count_writes(&emulator.stop_recording()), 0);
    let manual = watch
        .invoke_file("service-sync", &events.join("manual-sync.json"))
        .expect("manual");
    assert_eq!(manual["results"][0]["outcome"], "unchanged", "{manual}");
}

#[tokio::test(flavor = "multi_thread")]
async fn nlb_sync_runs_the_scheduled_event_through_the_lambda_runtime() {
    use deployer_devkit::dns::{Answer, DnsServer};
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_bucket(&kit.clients, "deployer-state").await;
    let tg = kit.target_group("nlb-443", 443).await;
    let dns = DnsServer::start();
    dns.set(
        world::ALB_DNS_NAME,
        Answer::Addresses(vec!["10.0.1.10".parse().unwrap(), "10.0.1.20".parse().unwrap()]),
    );
    // No `state_bucket`: the stack's, as the template sets it.
    let config = serde_json::json!({"apps": [], "nlb": {
        "dns_servers": [dns.addr.to_string()],
        "target_groups": [{"target_group_arn": tg, "alb_dns_name": world::ALB_DNS_NAME, "port": 443}]}});
    let mut env = emulator.env();
    env.push(world::config_in_s3(&kit.clients, "deployer-config", &config.to_string()).await);
    env.push((deployer::input::env::ENV_STATE_BUCKET.into(), "deployer-state".into()));
    let watch = tokio::task::spawn_blocking(move || LambdaWatch::start("nlb-sync", &env))
        .await
        .unwrap();

    let first = watch
        .invoke_file("nlb-sync", &repo_root().join("events/scheduled.json"))
        .expect("first run");
    assert_eq!(first["results"][0]["outcome"], "synced", "{first}");
    assert_eq!(
        world::target_ips(&kit.clients, &tg).await,
        vec!["10.0.1.10:443", "10.0.1.20:443"]
    );
    let state = kit
        .clients
        .s3
        .list_objects_v2()
        .bucket("deployer-state")
        .prefix("nlb-sync/")
        .send()
        .await
        .unwrap();
    assert_eq!(
        state.key_count(),
        Some(1),
        "the group's state in the stack's bucket: {state:?}"
    );
    emulator.start_recording();
    let second = watch
        .invoke_file("nlb-sync", &repo_root().join("events/scheduled.json"))
        .expect("second run");
    assert_eq!(second["results"][0]["outcome"], "unchanged", "{second}");
    assert_eq!(count_writes(&emulator.stop_recording()), 0);
    // The sample manual payload names a target group this configuration does not hold.
    let err = watch
        .invoke_file("nlb-sync", &repo_root().join("events/manual-nlb-sync-dry-run.json"))
        .expect_err("refused");
    assert!(err.contains("sync.target_groups[0]"), "{err}");
}

/// A deploy that fails for one application ends the invocation in an error with the documented
/// `errorType`, after the others were deployed: the body the function posts to the Runtime API's
/// `/invocation/{id}/error` is what Lambda keeps in the failure queue's record. Lambda's retry of
/// the same event deploys nothing twice and fails again, the same way.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_deploy_is_an_invocation_error_with_its_report() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let clients = &kit.clients;
    let (app, _) = kit.orders().await;
    // `ghost` follows the same image, but its service does not exist.
    let mut config: serde_json::Value = serde_json::from_str(&world::config_for(&[&app])).unwrap();
    let mut ghost = app.config();
    ghost["name"] = "ghost".into();
    ghost["service"] = "ghost".into();
    config["apps"].as_array_mut().unwrap().push(ghost);
    let digest = world::push_image(clients, "orders", "latest", "v2").await;
    let event = world::push_event("orders", "latest", &digest).to_string();
    let mut env = emulator.env();
    env.push(("DEPLOYER_CONFIG".into(), config.to_string()));
    let binary = tokio::task::spawn_blocking(|| function_binary("image-push"))
        .await
        .unwrap();

    let invoke = |env: Vec<(String, String)>, binary: std::path::PathBuf, event: String| async move {
        tokio::task::spawn_blocking(move || {
            RuntimeRun::start(&binary, &env, Some(event)).answer(std::time::Duration::from_secs(60))
        })
        .await
        .unwrap()
    };
    for attempt in ["first delivery", "Lambda's retry"] {
        let Some(FunctionAnswer::Error(body)) = invoke(env.clone(), binary.clone(), event.clone()).await else {
            panic!("{attempt}: the invocation must fail")
        };
        let error: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(error["errorType"], "DeployFailed", "{attempt}: {body}");
        let message = error["errorMessage"].as_str().unwrap();
        assert!(
            message.starts_with("1 of 2 failed: ghost: service `ghost` not found in cluster `sss`"),
            "{attempt}: {message}"
        );
        // The report of every application is in the message.
        assert!(message.contains(r#""app":"orders""#), "{attempt}: {message}");
        // orders was deployed once, on the first delivery; the retry found it unchanged.
        let running = world::service_task_definition(clients, "sss", "orders").await;
        assert_eq!(
            world::container_image(clients, &running, "app").await,
            format!("{}/orders@{digest}", registry())
        );
        assert_eq!(world::family_revisions(clients, "orders").await.len(), 2, "{attempt}");
    }
}

/// The approve function through the real Runtime API: a signed function URL request is answered
/// as HTTP with image-push's answer; anything else (a plain payload, an unsigned request) is
/// refused with 400, as HTTP, before any AWS call.
#[tokio::test(flavor = "multi_thread")]
async fn approve_takes_only_signed_function_url_requests() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let (app, _) = kit.orders().await;
    world::create_bucket(&kit.clients, "deployer-state").await;
    let mut env = emulator.env();
    env.push(("DEPLOYER_CONFIG".into(), world::config_for(&[&app])));
    env.push((deployer::input::env::ENV_STATE_BUCKET.into(), "deployer-state".into()));
    let binary = tokio::task::spawn_blocking(|| function_binary("approve"))
        .await
        .unwrap();
    let signed = std::fs::read_to_string(repo_root().join("events/function-url-status.json")).unwrap();
    let mut unsigned: serde_json::Value = serde_json::from_str(&signed).unwrap();
    unsigned["requestContext"].as_object_mut().unwrap().remove("authorizer");
    let plain = r#"{"status": {"app": "orders"}}"#.to_owned();
    let mut answers = Vec::new();
    for payload in [signed, unsigned.to_string(), plain] {
        let (binary, env) = (binary.clone(), env.clone());
        let answer = tokio::task::spawn_blocking(move || {
            RuntimeRun::start(&binary, &env, Some(payload)).answer(std::time::Duration::from_secs(60))
        })
        .await
        .unwrap();
        let Some(FunctionAnswer::Response(body)) = answer else {
            panic!("answered as HTTP, not as an invocation error: {answer:?}")
        };
        let response: serde_json::Value = serde_json::from_str(&body).unwrap();
        let inner: serde_json::Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
        answers.push((response["statusCode"].clone(), inner));
    }
    assert_eq!(answers[0].0, 200, "{:?}", answers[0]);
    assert_eq!(answers[0].1["results"][0]["outcome"], "status", "{:?}", answers[0]);
    for (refused, field) in [
        (&answers[1], "requestContext.authorizer.iam.userArn"),
        (&answers[2], "requestContext"),
    ] {
        assert_eq!(refused.0, 400, "{refused:?}");
        assert_eq!(refused.1["errorType"], "EventInvalid", "{refused:?}");
        assert!(
            refused.1["errorMessage"].as_str().unwrap().contains(field),
            "{refused:?}"
        );
    }
}

/// A payload that is not JSON at all is bad input like any other: `EventInvalid`, with the
/// parser's reason, from each function (the runtime would otherwise answer with its own
/// deserializer's Rust type path as the `errorType`). Nothing is called: no emulator is needed.
#[tokio::test(flavor = "multi_thread")]
async fn a_payload_that_is_not_json_is_event_invalid() {
    for function in ["image-push", "service-sync", "nlb-sync", "deploy-worker", "approve"] {
        let binary = tokio::task::spawn_blocking(move || function_binary(function))
            .await
            .unwrap();
        let env = vec![("DEPLOYER_CONFIG".to_owned(), r#"{"apps": []}"#.to_owned())];
        let answer = tokio::task::spawn_blocking(move || {
            RuntimeRun::start(&binary, &env, Some("deploy orders please".into()))
                .answer(std::time::Duration::from_secs(60))
        })
        .await
        .unwrap();
        let Some(FunctionAnswer::Error(body)) = answer else {
            panic!("{function}: a payload that is not JSON must fail the invocation: {answer:?}")
        };
        let error: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(error["errorType"], "EventInvalid", "{function}: {body}");
        assert!(
            error["errorMessage"]
                .as_str()
                .unwrap()
                .contains("not JSON: expected value"),
            "{function}: {body}"
        );
    }
}

/// The deploy worker through the real Runtime API: an SQS batch of two messages, one a deploy of
/// the pushed digest and one whose body is not a queued deploy. The answer is SQS's partial
/// batch response naming only the bad one; the good one is deployed.
#[tokio::test(flavor = "multi_thread")]
async fn the_deploy_worker_answers_a_batch_with_its_partial_batch_response() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let (app, _) = kit.orders().await;
    let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;
    let body = serde_json::json!({"app": "orders", "tag": "latest", "digest": digest, "event_id": "push-1"});
    let event = serde_json::json!({"Records": [
        {"messageId": "m-good", "eventSource": "aws:sqs", "body": body.to_string()},
        {"messageId": "m-bad", "eventSource": "aws:sqs", "body": "{\"app\": 1}"}
    ]});
    let mut env = emulator.env();
    env.push(("DEPLOYER_CONFIG".to_owned(), world::config_for(&[&app])));
    let binary = tokio::task::spawn_blocking(|| function_binary("deploy-worker"))
        .await
        .unwrap();
    let answer = tokio::task::spawn_blocking(move || {
        RuntimeRun::start(&binary, &env, Some(event.to_string())).answer(std::time::Duration::from_secs(60))
    })
    .await
    .unwrap();
    let Some(FunctionAnswer::Response(body)) = answer else {
        panic!("a partial batch response, not an invocation error: {answer:?}")
    };
    let response: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        response,
        serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m-bad"}]})
    );
    let running = world::service_task_definition(&kit.clients, "sss", "orders").await;
    assert!(world::container_image(&kit.clients, &running, "app")
        .await
        .ends_with(&digest));
}
