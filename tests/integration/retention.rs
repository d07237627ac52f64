//! Digest-aware retention against the emulator: the images a service runs (and the one a
//! rollback would go to) carry protecting tags in ECR, moved only when a deploy completes.

use deployer::image_push::{ImagePush, Outcome};
use deployer::job::Settings;
use deployer::lease::LeaseConfig;
use deployer::records::RecordStore;
use deployer_devkit::events::recorded_ecs_event;
use deployer_devkit::world::{self, invoke_job, push_event, World};
use deployer_devkit::Emulator;

const BUCKET: &str = "deployer-state";

fn settings() -> Settings {
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
