//! Digest-aware retention against the emulator: the images a service runs (and the one a
//! rollback would go to) carry protecting tags in ECR, moved only when a deploy completes.

use deployer::image_push::{ImagePush, Outcome};
use deployer::job::Settings;
use deployer::lease::LeaseConfig;
use deployer::records::RecordStore;
use deployer::AwsClients;
use deployer_devkit::emulator::sdk_config_for;
use deployer_devkit::events::recorded_ecs_event;
use deployer_devkit::faults::{Fault, FaultPlan, FaultProxy};
use deployer_devkit::world::{self, invoke_job, push_event, World};
use deployer_devkit::Emulator;

pub(super) const BUCKET: &str = "deployer-state";

pub(super) fn settings() -> Settings {
    Settings {
        lease: Some(LeaseConfig::in_bucket(BUCKET)),
        records: Some(RecordStore::in_bucket(BUCKET)),
        ..Settings::default()
    }
}

/// The digest a tag names in the `orders` repository, if any.
async fn tagged(kit: &World, tag: &str) -> Option<String> {
    let found = deployer::aws::ecr::describe_images(
        &kit.clients.ecr,
        None,
        "orders",
        &[deployer::aws::ecr::ImageQuery::Tag(tag.into())],
    )
    .await
    .unwrap();
    found.into_iter().next().map(|image| image.digest)
}

#[tokio::test]
async fn the_images_in_use_keep_their_tags_until_a_newer_deploy_completes() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_bucket(&kit.clients, BUCKET).await;
    let (app, _) = kit.orders().await;
    let config = world::config_for(&[&app]);
    let settings = settings();
    let deploy = |seed: &'static str| {
        let (kit, config, settings) = (&kit, &config, &settings);
        async move {
            let digest = world::push_image(&kit.clients, "orders", "latest", seed).await;
            let answer =
                invoke_job::<ImagePush>(&kit.clients, config, &push_event("orders", "latest", &digest), settings)
                    .await
                    .unwrap();
            let report = answer.results.into_iter().next().unwrap();
            assert_eq!(report.outcome, Outcome::Deployed, "{report:?}");
            (digest, report.ecs_deployment_id.unwrap())
        }
    };
    let complete = |deployment: String| {
        let (kit, config, settings) = (&kit, &config, &settings);
        async move {
            let event = recorded_ecs_event("ecs-deployment-completed.json", "sss", "orders", &deployment);
            invoke_job::<ImagePush>(&kit.clients, config, &event, settings)
                .await
                .unwrap()
                .results
                .remove(0)
        }
    };

    let (v2, deployment) = deploy("v2").await;
    // Not completed yet: nothing is tagged.
    assert_eq!(tagged(&kit, "live-orders").await, None);
    let report = complete(deployment.clone()).await;
    assert!(
        report
            .actions
            .iter()
            .any(|a| a == &format!("~ tag live-orders -> {v2}")),
        "{report:?}"
    );
    assert_eq!(tagged(&kit, "live-orders").await.as_deref(), Some(v2.as_str()));

    let (v3, deployment_v3) = deploy("v3").await;
    let report = complete(deployment_v3).await;
    assert!(
        report
            .actions
            .iter()
            .any(|a| a == &format!("~ tag prev-orders -> {v2}")),
        "{report:?}"
    );
    assert_eq!(tagged(&kit, "live-orders").await.as_deref(), Some(v3.as_str()));
    assert_eq!(tagged(&kit, "prev-orders").await.as_deref(), Some(v2.as_str()));

    // A newer push, deployed but not completed (ECS still rolling out): the tags stay where the
    // running and the last good images are.
    let (v4, deployment_v4) = deploy("v4").await;
    assert_eq!(tagged(&kit, "latest").await.as_deref(), Some(v4.as_str()));
    assert_eq!(tagged(&kit, "live-orders").await.as_deref(), Some(v3.as_str()));
    assert_eq!(tagged(&kit, "prev-orders").await.as_deref(), Some(v2.as_str()));

    // v4 completes: the tags move on; the same event delivered again moves nothing.
    complete(deployment_v4.clone()).await;
    assert_eq!(tagged(&kit, "live-orders").await.as_deref(), Some(v4.as_str()));
    assert_eq!(tagged(&kit, "prev-orders").await.as_deref(), Some(v3.as_str()));
    let again = complete(deployment_v4).await;
    assert!(again.actions.iter().all(|a| !a.starts_with("~ tag")), "{again:?}");
}

mod revisions {
    use deployer::service_sync::{Outcome as SyncOutcome, ServiceSync};
    use deployer_devkit::world::{self, invoke_job, World};
    use deployer_devkit::Emulator;
    use serde_json::json;

    /// An INACTIVE revision AWS will not describe (AWS says describing INACTIVE revisions may
    /// change) is skipped and said; the pass deletes the rest.
    #[tokio::test]
    async fn an_inactive_revision_aws_will_not_describe_is_skipped_and_the_rest_is_removed() {
        use deployer_devkit::emulator::sdk_config_for;
        use deployer_devkit::faults::{Fault, FaultPlan, FaultProxy};
        let emulator = Emulator::start();
        let kit = World::new(&emulator).await;
        world::create_bucket(&kit.clients, super::BUCKET).await;
        let (app, _) = kit.orders().await;
        let image_config = world::config_for(&[&app]);
        for n in 2..=4 {
            let digest = world::push_image(&kit.clients, "orders", "latest", &format!("r{n}")).await;
            world::invoke_image_push(
                &kit.clients,
                &image_config,
                &world::push_event("orders", "latest", &digest),
            )
            .await
            .unwrap();
        }
        // orders:2 and orders:3 (the deployer's) deregistered by hand: INACTIVE.
        let revisions = world::family_revisions(&kit.clients, "orders").await;
        for n in [2, 3] {
            let arn = &revisions.iter().find(|(r, _)| *r == n).unwrap().1;
            kit.clients
                .ecs
                .deregister_task_definition()
                .task_definition(arn)
                .send()
                .await
                .unwrap();
        }
        let mut config: serde_json::Value = serde_json::from_str(&image_config).unwrap();
        config["apps"][0]["retention_grace_days"] = json!(0);
        let config = config.to_string();
        let proxy = FaultProxy::start_with(
            emulator.port,
            FaultPlan {
                only: Some("task-definition/orders:2\"".into()),
                ..FaultPlan::always(Fault::ClientException)
            },
        )
        .await;
        let through = deployer::AwsClients::from_sdk_config(&sdk_config_for(&proxy.endpoint()).await);
        let answer = invoke_job::<ServiceSync>(
            &through,
            &config,
            &json!({"retention": {"app": "orders"}}),
            &super::settings(),
        )
        .await
        .expect("the pass goes on");
        let report = &answer.results[0];
        assert!(proxy.stats.count(Fault::ClientException) >= 1);
        assert!(
            report
                .kept
                .iter()
                .any(|k| k.starts_with("orders:2 (inactive, and AWS would not describe it")),
            "{report:?}"
        );
        assert!(
            report.actions.iter().any(|a| a.starts_with("- delete orders:3")),
            "{report:?}"
        );
    }

    /// ACTIVE revision numbers of the `orders` family.
    async fn active(kit: &World) -> Vec<i32> {
        world::family_revisions(&kit.clients, "orders")
            .await
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }

    #[tokio::test]
    async fn a_shared_family_is_never_cut_below_what_runs_and_the_dry_run_is_what_the_pass_does() {
        let emulator = Emulator::start();
        let kit = World::new(&emulator).await;
        world::create_bucket(&kit.clients, super::BUCKET).await;
        let (app, _) = kit.orders().await;
        let image_config = world::config_for(&[&app]);
        // The deployer registers orders:2..=7; the service runs orders:7.
        for n in 2..=7 {
            let digest = world::push_image(&kit.clients, "orders", "latest", &format!("r{n}")).await;
            world::invoke_image_push(
                &kit.clients,
                &image_config,
                &world::push_event("orders", "latest", &digest),
            )
            .await
            .unwrap();
        }
        // A second service of the family runs orders:3.
        let revisions = world::family_revisions(&kit.clients, "orders").await;
        let three = &revisions.iter().find(|(n, _)| *n == 3).unwrap().1;
        world::create_service(
            &kit.clients,
            "sss",
            "orders-worker",
            three,
            &kit.subnets,
            &kit.security_group,
        )
        .await;
        let mut config: serde_json::Value = serde_json::from_str(&image_config).unwrap();
        config["apps"][0]["keep_revisions"] = json!(2);
        config["apps"][0]["retention_grace_days"] = json!(0);
        let config = config.to_string();
        let tap = deployer_devkit::events::EventTap::new(&kit.clients, "deploys").await;
        let settings = deployer::job::Settings {
            event_bus: Some("deploys".into()),
            ..super::settings()
        };

        let dry = invoke_job::<ServiceSync>(
            &kit.clients,
            &config,
            &json!({"retention": {"app": "orders"}, "dry_run": true}),
            &settings,
        )
        .await
        .unwrap();
        let planned = &dry.results[0];
        assert_eq!(planned.outcome, SyncOutcome::Planned, "{planned:?}");
        assert!(
            planned
                .kept
                .iter()
                .any(|k| k.starts_with("orders:3 (runs or is deploying")),
            "{planned:?}"
        );
        assert!(
            planned
                .kept
                .iter()
                .any(|k| k.starts_with("orders:1 (not registered by the deployer")),
            "{planned:?}"
        );
        assert_eq!(
            active(&kit).await,
            vec![7, 6, 5, 4, 3, 2, 1],
            "a dry run changes nothing"
        );

        // A pass cut off after its first deregistration, then the retry: the same end as the plan.
        let first = planned.actions[0]
            .trim_start_matches("- deregister ")
            .split(' ')
            .next()
            .unwrap()
            .to_owned();
        kit.clients
            .ecs
            .deregister_task_definition()
            .task_definition(&first)
            .send()
            .await
            .unwrap();
        let real = invoke_job::<ServiceSync>(
            &kit.clients,
            &config,
            &json!({"retention": {"app": "orders"}}),
            &settings,
        )
        .await
        .unwrap();
        assert_eq!(real.results[0].outcome, SyncOutcome::Synced, "{:?}", real.results[0]);
        // Kept: 7 (running), 6 (keep 2 without completed records: the running one and one more),
        // 3 (orders-worker), 1 (Terraform's).
        assert_eq!(active(&kit).await, vec![7, 6, 3, 1]);
        let (types, details) = tap.detail_types().await;
        assert_eq!(
            types,
            vec!["Revisions Removed".to_string()],
            "the dry run published nothing"
        );
        assert_eq!(details[0]["detail"]["app"], "orders");
        assert_eq!(details[0]["detail"]["removed"], json!(real.results[0].actions));
        let planned_kept: Vec<i32> = planned
            .kept
            .iter()
            .filter_map(|k| k.strip_prefix("orders:")?.split(' ').next()?.parse().ok())
            .collect();
        assert_eq!(planned_kept, vec![7, 6, 3, 1], "the dry run said so");
        // A pass deletes what was INACTIVE when it looked (the hand-deregistered orders:5 here);
        // with a zero-day grace the next one deletes what this one deregistered, and the one
        // after that has nothing left to do.
        assert!(real.results[0]
            .actions
            .contains(&"- delete orders:5 (inactive for 0 days or more)".to_string()));
        let retention = json!({"retention": {"app": "orders"}});
        let next = invoke_job::<ServiceSync>(&kit.clients, &config, &retention, &settings)
            .await
            .unwrap();
        assert_eq!(next.results[0].actions.len(), 2, "{:?}", next.results[0]);
        let last = invoke_job::<ServiceSync>(&kit.clients, &config, &retention, &settings)
            .await
            .unwrap();
        assert_eq!(last.results[0].outcome, SyncOutcome::Unchanged, "{:?}", last.results[0]);
        assert_eq!(active(&kit).await, vec![7, 6, 3, 1]);
    }
}

/// Moving `live-`/`prev-` is a `PutImage`, which AWS reports as a push of that tag: those pushes
/// (made by the test kit from the recorded calls, as ECR would send them) deploy nothing, even
/// for an application following every tag, so a completion never flips the service back to the
/// previous image. Without the reservation the `prev-orders` push would deploy v2 over v3.
#[tokio::test]
async fn the_deployers_own_retags_never_deploy() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_bucket(&kit.clients, BUCKET).await;
    let (app, _) = kit.orders().await;
    let mut config: serde_json::Value = serde_json::from_str(&world::config_for(&[&app])).unwrap();
    config["apps"][0]["tags"] = serde_json::json!(["*"]);
    let config = config.to_string();
    let settings = settings();
    let mut retags = Vec::new();
    let mut running = String::new();
    for seed in ["v2", "v3"] {
        let digest = world::push_image(&kit.clients, "orders", "latest", seed).await;
        let answer = invoke_job::<ImagePush>(
            &kit.clients,
            &config,
            &push_event("orders", "latest", &digest),
            &settings,
        )
        .await
        .unwrap();
        let deployment = answer.results[0].ecs_deployment_id.clone().unwrap();
        emulator.start_recording();
        let event = recorded_ecs_event("ecs-deployment-completed.json", "sss", "orders", &deployment);
        invoke_job::<ImagePush>(&kit.clients, &config, &event, &settings)
            .await
            .unwrap();
        retags.extend(deployer_devkit::events::pushes_of(&emulator.stop_recording()));
        running = world::service_task_definition(&kit.clients, "sss", "orders").await;
    }
    let tags: Vec<&str> = retags
        .iter()
        .map(|e| e["detail"]["image-tag"].as_str().unwrap())
        .collect();
    assert_eq!(
        tags,
        ["live-orders", "prev-orders", "live-orders"],
        "the pushes ECR would send"
    );

    emulator.start_recording();
    for event in &retags {
        let answer = invoke_job::<ImagePush>(&kit.clients, &config, event, &settings)
            .await
            .unwrap();
        assert_eq!(answer.results[0].outcome, Outcome::Ignored, "{answer:?}");
    }
    assert!(emulator.stop_recording().is_empty(), "ignored before any AWS call");
    assert_eq!(
        world::service_task_definition(&kit.clients, "sss", "orders").await,
        running
    );
}

/// A repository with immutable tags refuses to move `live-`/`prev-`: the completion is still a
/// completion (no failed invocation, no retries, no alarm), and the report and the record say
/// what to change.
#[tokio::test]
async fn a_tag_move_ecr_refuses_immutable_or_past_its_limit_is_a_warning_not_a_failure() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_bucket(&kit.clients, BUCKET).await;
    let (app, _) = kit.orders().await;
    // An immutable repository takes each tag once: the app follows release tags.
    let mut config: serde_json::Value = serde_json::from_str(&world::config_for(&[&app])).unwrap();
    config["apps"][0]["tags"] = serde_json::json!(["release-*"]);
    let config = config.to_string();
    let settings = settings();
    let complete = |seed: &'static str, clients: &AwsClients| {
        let (kit, config, settings, clients) = (&kit, &config, &settings, clients.clone());
        async move {
            let tag = format!("release-{seed}");
            let digest = world::push_image(&kit.clients, "orders", &tag, seed).await;
            let deployed = invoke_job::<ImagePush>(&clients, config, &push_event("orders", &tag, &digest), settings)
                .await
                .unwrap()
                .results
                .remove(0);
            let deployment = deployed.ecs_deployment_id.clone().unwrap();
            let event = recorded_ecs_event("ecs-deployment-completed.json", "sss", "orders", &deployment);
            (
                deployed,
                invoke_job::<ImagePush>(&clients, config, &event, settings).await,
            )
        }
    };
    // live-orders is put on v2; then the repository refuses to move it.
    let (_, first) = complete("v2", &kit.clients).await;
    assert!(first.is_ok(), "{first:?}");
    // The emulator moves tags of an immutable repository without a word: the fault proxy answers
    // the move of live-orders as ECR does.
    let proxy = FaultProxy::start_with(
        emulator.port,
        FaultPlan {
            only: Some(r#""imageTag":"live-orders""#.into()),
            ..FaultPlan::always(Fault::ImmutableTag)
        },
    )
    .await;
    let through = AwsClients::from_sdk_config(&sdk_config_for(&proxy.endpoint()).await);
    let (deployed, heard) = complete("v3", &through).await;
    assert_eq!(proxy.stats.count(Fault::ImmutableTag), 1);
    let answer = heard.expect("a refused tag move is not a failed invocation");
    let report = &answer.results[0];
    assert_eq!(report.outcome, Outcome::Followed, "{report:?}");
    assert!(
        report.actions.iter().any(|a| a.contains("tags are immutable")),
        "{report:?}"
    );
    let store = RecordStore::in_bucket(BUCKET);
    let index = store.read(&kit.clients.s3, "orders").await.unwrap();
    let record = index.get(deployed.deploy_id.as_deref().unwrap()).unwrap();
    assert_eq!(record.outcome, deployer::records::DeployOutcome::Completed);
    assert!(
        record.notes.iter().any(|n| n.contains("IMMUTABLE_WITH_EXCLUSION")),
        "{record:?}"
    );

    // An image shared by more applications than ECR's 1,000 tags an image can mark: said on the
    // report, not a failed invocation that retries and alarms.
    let limited = FaultProxy::start_with(
        emulator.port,
        FaultPlan {
            only: Some(r#""imageTag":"live-orders""#.into()),
            ..FaultPlan::always(Fault::TagLimit)
        },
    )
    .await;
    let through = AwsClients::from_sdk_config(&sdk_config_for(&limited.endpoint()).await);
    let (_, heard) = complete("v4", &through).await;
    // The SDK's standard retries take LimitExceededException for throttling: 5 attempts.
    assert_eq!(
        limited.stats.count(Fault::TagLimit),
        deployer::aws::MAX_ATTEMPTS as usize
    );
    let answer = heard.expect("a tag past ECR's limit is not a failed invocation");
    assert!(
        answer.results[0].actions.iter().any(|a| a.contains("1,000 tags")),
        "{answer:?}"
    );
}
