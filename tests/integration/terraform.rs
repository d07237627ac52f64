//! Next to Terraform: the task definition's shape is Terraform's, the image the deployer's. A
//! revision registered outside the deployer (as Terraform registers one: no managed tag, its
//! image by tag) is the application's template, and the next push deploys it with the digest
//! pinned, against the emulator.

use aws_sdk_ecs::types::KeyValuePair;
use deployer::aws::ecs::describe_task_definition;
use deployer::image_push::template::{built_from, TEMPLATE_TAG_KEY};
use deployer::image_push::{Answer, Outcome};
use deployer::job::Settings;
use deployer::records::{RecordStore, TriggerKind};
use deployer_devkit::events::{recorded_ecs_event, EventTap};
use deployer_devkit::host::repo_root;
use deployer_devkit::world::{self, invoke_image_push_with, push_event, registry, World};
use deployer_devkit::Emulator;

/// Registers `orders` as Terraform would after a change: `NEW_FLAG=on` in the `app` container,
/// whose image stays `orders:latest` (a tag); returns the revision's ARN.
async fn terraform_registers_new_flag(kit: &World) -> String {
    let mut app = world::app_container("app", &format!("{}/orders:latest", registry()));
    app.environment
        .get_or_insert_with(Vec::new)
        .push(KeyValuePair::builder().name("NEW_FLAG").value("on").build());
    world::register_rich_task_definition(&kit.clients, "orders", vec![app, world::sidecar_container()]).await
}

/// Pushes `seed` as `orders:latest` and runs image-push on it.
async fn push(kit: &World, config: &str, settings: &Settings, seed: &str) -> (String, Answer) {
    let digest = world::push_image(&kit.clients, "orders", "latest", seed).await;
    let answer = invoke_image_push_with(&kit.clients, config, &push_event("orders", "latest", &digest), settings)
        .await
        .unwrap();
    assert_eq!(answer.results[0].outcome, Outcome::Deployed, "{answer:?}");
    (digest, answer)
}

/// The environment variable names of the `app` container of `arn`.
async fn app_env(kit: &World, arn: &str) -> Vec<String> {
    let revision = describe_task_definition(&kit.clients.ecs, arn).await.unwrap();
    let app = revision
        .definition
        .container_definitions()
        .iter()
        .find(|c| c.name() == Some("app"))
        .unwrap();
    app.environment()
        .iter()
        .filter_map(|e| e.name().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_revision_terraform_registered_reaches_the_next_push_with_the_digest_pinned() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let (app, _) = kit.orders().await;
    world::create_bucket(&kit.clients, "deployer-state").await;
    let settings = Settings {
        records: Some(RecordStore::in_bucket("deployer-state")),
        ..Settings::default()
    };
    let config = world::config_for(&[&app]);
    // A first push: orders:2, a copy of Terraform's orders:1, says so.
    let (_, first) = push(&kit, &config, &settings, "v2").await;
    let second_revision = first.results[0].new_task_definition.clone().unwrap();
    let revision = describe_task_definition(&kit.clients.ecs, &second_revision)
        .await
        .unwrap();
    assert_eq!(built_from(&revision).as_deref(), Some(app.task_definition.as_str()));

    // Terraform registers orders:3 with a new variable; the service still runs orders:2.
    let terraform = terraform_registers_new_flag(&kit).await;
    let (digest, answer) = push(&kit, &config, &settings, "v3").await;
    let report = &answer.results[0];
    let actions = report.actions.join("\n");
    assert!(actions.contains("~ base orders:3"), "{actions}");
    assert!(actions.contains("+ env NEW_FLAG (app)"), "{actions}");
    let deployed = report.new_task_definition.clone().unwrap();
    assert!(deployed.ends_with(":4"), "{deployed}");
    assert_eq!(app_env(&kit, &deployed).await, ["RUST_LOG", "NEW_FLAG"]);
    let image = format!("{}/orders@{digest}", registry());
    assert_eq!(world::container_image(&kit.clients, &deployed, "app").await, image);
    let running = world::service_task_definition(&kit.clients, "sss", "orders").await;
    assert_eq!(running, deployed);
    let revision = describe_task_definition(&kit.clients.ecs, &deployed).await.unwrap();
    assert!(revision
        .tags
        .iter()
        .any(|t| t.key() == Some(TEMPLATE_TAG_KEY) && t.value() == Some(terraform.as_str())));
    // The deploy's record names its template.
    let index = RecordStore::in_bucket("deployer-state")
        .read(&kit.clients.s3, "orders")
        .await
        .unwrap();
    assert_eq!(index.records[0].template.as_deref(), Some(terraform.as_str()));

    // The push after that copies orders:4 again: orders:3 is what it was built from.
    let (_, answer) = push(&kit, &config, &settings, "v4").await;
    let later = answer.results[0].new_task_definition.clone().unwrap();
    assert!(!answer.results[0].actions.join("\n").contains("~ base"), "{answer:?}");
    assert_eq!(
        app_env(&kit, &later).await,
        ["RUST_LOG", "NEW_FLAG"],
        "the template's variable stays"
    );
}

#[tokio::test]
async fn an_app_that_copies_the_running_revision_keeps_doing_so() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let (app, _) = kit.orders().await;
    let mut config = app.config();
    config["base"] = "running".into();
    let config = serde_json::json!({"apps": [config]}).to_string();
    terraform_registers_new_flag(&kit).await;
    let (_, answer) = push(&kit, &config, &Settings::default(), "v2").await;
    let deployed = answer.results[0].new_task_definition.clone().unwrap();
    assert!(
        app_env(&kit, &deployed).await == ["RUST_LOG"],
        "a copy of orders:1, as before: {answer:?}"
    );
    assert!(!answer.results[0].actions.join("\n").contains("~ base"), "{answer:?}");
}

#[tokio::test]
async fn a_named_revision_deploys_with_the_running_digest_and_a_rollback_to_a_tag_needs_force() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let (app, _) = kit.orders().await;
    let config = world::config_for(&[&app]);
    let settings = Settings::default();
    let (digest, _) = push(&kit, &config, &settings, "v2").await;
    let terraform = terraform_registers_new_flag(&kit).await;
    assert!(terraform.ends_with(":3"));
    let invoke = |payload: serde_json::Value| {
        let (clients, config) = (kit.clients.clone(), config.clone());
        async move {
            invoke_image_push_with(&clients, &config, &payload, &Settings::default())
                .await
                .unwrap()
        }
    };

    // orders:3's shape, with the digest the service runs now.
    let named = serde_json::json!({"deploy": {"app": "orders", "revision": 3}, "by": "alice"});
    let answer = invoke(named.clone()).await;
    let report = &answer.results[0];
    assert_eq!(report.outcome, Outcome::Deployed, "{answer:?}");
    assert!(
        report
            .actions
            .join("\n")
            .contains("~ base orders:3: the revision this deploy names"),
        "{answer:?}"
    );
    let deployed = report.new_task_definition.clone().unwrap();
    assert_eq!(app_env(&kit, &deployed).await, ["RUST_LOG", "NEW_FLAG"]);
    let image = format!("{}/orders@{digest}", registry());
    assert_eq!(world::container_image(&kit.clients, &deployed, "app").await, image);
    // Asked again: the service runs a copy of orders:3 with that digest.
    let again = invoke(named).await;
    assert_eq!(again.results[0].outcome, Outcome::Unchanged, "{again:?}");

    // orders:1 runs `orders:latest`, a tag that now names the newest push: refused without force,
    // and nothing is changed.
    let rollback = serde_json::json!({"rollback": {"app": "orders", "revision": 1}});
    let refused = invoke(rollback).await;
    assert_eq!(refused.results[0].outcome, Outcome::Failed, "{refused:?}");
    let reason = refused.results[0].reason.clone().unwrap();
    assert!(
        reason.contains("names its image by tag") && reason.contains("\"force\": true"),
        "{reason}"
    );
    assert_eq!(
        world::service_task_definition(&kit.clients, "sss", "orders").await,
        deployed
    );
    let forced = invoke(serde_json::json!({"rollback": {"app": "orders", "revision": 1, "force": true}})).await;
    assert_eq!(forced.results[0].outcome, Outcome::Deployed, "{forced:?}");
    assert_eq!(
        world::service_task_definition(&kit.clients, "sss", "orders").await,
        app.task_definition
    );
}

#[tokio::test]
async fn the_settle_run_reports_a_template_change_once_and_deploys_it_when_asked() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let (app, _) = kit.orders().await;
    world::create_bucket(&kit.clients, "deployer-state").await;
    let tap = EventTap::new(&kit.clients, "deploys").await;
    let settings = Settings {
        records: Some(RecordStore::in_bucket("deployer-state")),
        event_bus: Some("deploys".into()),
        ..Settings::default()
    };
    let notify = world::config_for(&[&app]);
    let mut deploying = app.config();
    deploying["on_template_change"] = "deploy".into();
    let deploying = serde_json::json!({"apps": [deploying]}).to_string();
    let (digest, first) = push(&kit, &notify, &settings, "v2").await;
    let deployment = first.results[0].ecs_deployment_id.clone().unwrap();
    let completed = recorded_ecs_event("ecs-deployment-completed.json", "sss", "orders", &deployment);
    invoke_image_push_with(&kit.clients, &notify, &completed, &settings)
        .await
        .unwrap();
    let running = world::service_task_definition(&kit.clients, "sss", "orders").await;
    let scheduled: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join("events/scheduled.json")).unwrap()).unwrap();
    let settle = |config: String| {
        let (clients, scheduled, settings) = (kit.clients.clone(), scheduled.clone(), settings.clone());
        async move {
            invoke_image_push_with(&clients, &config, &scheduled, &settings)
                .await
                .unwrap()
        }
    };
    let report_of = |answer: &Answer| {
        answer
            .results
            .iter()
            .find(|r| r.app.as_deref() == Some("orders"))
            .cloned()
    };

    // Nothing registered outside the deployer since: nothing to say.
    assert!(report_of(&settle(notify.clone()).await).is_none());

    let terraform = terraform_registers_new_flag(&kit).await;
    for _ in 0..2 {
        let answer = settle(notify.clone()).await;
        let report = report_of(&answer).expect("the template change is reported");
        assert_eq!(report.outcome, Outcome::Pending, "{answer:?}");
        assert!(report.reason.as_deref().unwrap().contains("orders:3"), "{report:?}");
    }
    let (_, events) = tap.detail_types().await;
    let changed: Vec<_> = events
        .iter()
        .filter(|e| e["detail-type"] == "Template Changed")
        .collect();
    assert_eq!(changed.len(), 1, "once per application and template: {events:?}");
    assert_eq!(changed[0]["detail"]["template"], serde_json::json!(terraform));
    assert_eq!(changed[0]["detail"]["running"], serde_json::json!(running));
    assert!(
        changed[0]["detail"]["changes"]
            .to_string()
            .contains("+ env NEW_FLAG (app)"),
        "{changed:?}"
    );
    assert_eq!(
        world::service_task_definition(&kit.clients, "sss", "orders").await,
        running,
        "notify only"
    );

    // `status` says so too.
    let status = invoke_image_push_with(
        &kit.clients,
        &notify,
        &serde_json::json!({"status": {"app": "orders"}}),
        &settings,
    )
    .await
    .unwrap();
    let said = status.results[0].status.as_ref().unwrap().template_change.clone();
    assert!(said.as_deref().is_some_and(|s| s.starts_with("orders:3")), "{status:?}");

    // With `on_template_change: "deploy"` the run deploys it with the digest that runs.
    let answer = settle(deploying.clone()).await;
    let report = report_of(&answer).unwrap();
    assert_eq!(report.outcome, Outcome::Deployed, "{answer:?}");
    let deployed = world::service_task_definition(&kit.clients, "sss", "orders").await;
    assert_eq!(app_env(&kit, &deployed).await, ["RUST_LOG", "NEW_FLAG"]);
    let image = format!("{}/orders@{digest}", registry());
    assert_eq!(world::container_image(&kit.clients, &deployed, "app").await, image);
    let index = RecordStore::in_bucket("deployer-state")
        .read(&kit.clients.s3, "orders")
        .await
        .unwrap();
    assert_eq!(index.records[0].trigger.kind, TriggerKind::Template);
    assert_eq!(index.records[0].template.as_deref(), Some(terraform.as_str()));
    // While that deploy rolls out, the next run deploys nothing again.
    assert!(report_of(&settle(deploying).await).is_none_or(|r| r.outcome != Outcome::Deployed));
}
