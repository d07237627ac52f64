//! `image_tags: "per-image"`: one `live-sha256-<hex>` on each image some application runs or
//! rolls back to, however many applications share it (ECR keeps at most 1,000 tags an image),
//! released by the settle run once none does, and never by deleting an image.

use deployer::image_push::{protect, release, Outcome};
use deployer::job::Settings;
use deployer::records::RecordStore;
use deployer::AwsClients;
use deployer_devkit::emulator::count_op;
use deployer_devkit::events::recorded_ecs_event;
use deployer_devkit::world::{self, invoke_job, push_event, AppWorld, World};
use deployer_devkit::Emulator;
use serde_json::{json, Value};

use deployer::image_push::ImagePush;

const BUCKET: &str = "deployer-state";

/// The tags of the image `digest` of `orders`, sorted; none when ECR no longer holds it.
async fn tags_of(clients: &AwsClients, digest: &str) -> Option<Vec<String>> {
    let query = deployer::aws::ecr::ImageQuery::Digest(digest.to_owned());
    let found = deployer::aws::ecr::describe_images(&clients.ecr, None, "orders", &[query])
        .await
        .unwrap();
    found.into_iter().next().map(|image| {
        let mut tags = image.tags;
        tags.sort();
        tags
    })
}

/// Pushes `seed` as `latest` (and `extra_tag`), deploys it to every app and completes each
/// deploy with ECS's event; returns the digest.
async fn deploy_and_complete(
    kit: &World,
    config: &str,
    settings: &Settings,
    seed: &str,
    extra_tag: Option<&str>,
) -> String {
    let digest = world::push_image(&kit.clients, "orders", "latest", seed).await;
    if let Some(tag) = extra_tag {
        world::push_image_with_digest(&kit.clients, "orders", tag, &digest).await;
    }
    let pushed = invoke_job::<ImagePush>(&kit.clients, config, &push_event("orders", "latest", &digest), settings)
        .await
        .unwrap();
    for report in pushed.results {
        assert_eq!(report.outcome, Outcome::Deployed, "{report:?}");
        let app = report.app.clone().unwrap();
        let completed = recorded_ecs_event(
            "ecs-deployment-completed.json",
            "sss",
            &app,
            report.ecs_deployment_id.as_deref().unwrap(),
        );
        let heard = invoke_job::<ImagePush>(&kit.clients, config, &completed, settings)
            .await
            .unwrap();
        assert_eq!(heard.results[0].outcome, Outcome::Followed, "{heard:?}");
    }
    digest
}

fn settle_event(id: &str) -> Value {
    json!({
        "version": "0", "id": id, "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-12-07T10:40:00Z", "region": "ap-northeast-1",
        "resources": [], "detail": {}
    })
}

#[tokio::test]
async fn one_tag_an_image_for_every_app_released_when_no_app_needs_it_and_no_image_deleted() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_bucket(&kit.clients, BUCKET).await;
    world::create_cluster(&kit.clients, "sss").await;
    world::create_repository(&kit.clients, "orders").await;
    world::push_image(&kit.clients, "orders", "latest", "v0").await;
    let apps: Vec<AppWorld> = vec![
        kit.create_app("sss", "orders", "orders").await,
        kit.create_app("sss", "orders", "billing").await,
    ];
    let config = world::config_with(&apps, json!({"image_tags": "per-image"}));
    let settings = Settings {
        records: Some(RecordStore::in_bucket(BUCKET)),
        ..Settings::default()
    };

    // v1 carries nothing but `latest`, which moves on; v2 keeps a release tag of its own.
    let v1 = deploy_and_complete(&kit, &config, &settings, "v1", None).await;
    let v2 = deploy_and_complete(&kit, &config, &settings, "v2", Some("release-2")).await;
    // Both apps run v2 and roll back to v1: one tag on each image, none per application.
    assert_eq!(tags_of(&kit.clients, &v1).await, Some(vec![protect::image_tag(&v1)]));
    assert_eq!(
        tags_of(&kit.clients, &v2).await,
        Some(vec![
            "latest".to_owned(),
            protect::image_tag(&v2),
            "release-2".to_owned()
        ])
    );
    // Nothing to release while both are needed.
    let settled = invoke_job::<ImagePush>(&kit.clients, &config, &settle_event("settle-1"), &settings)
        .await
        .unwrap();
    assert!(
        settled.results.iter().all(|r| r.outcome == Outcome::Ignored),
        "{settled:?}"
    );

    // v3: v1 is nobody's any more. It has no other tag, so it is retired, not deleted.
    let v3 = deploy_and_complete(&kit, &config, &settings, "v3", None).await;
    emulator.start_recording();
    let settled = invoke_job::<ImagePush>(&kit.clients, &config, &settle_event("settle-2"), &settings)
        .await
        .unwrap();
    let calls = emulator.stop_recording();
    let released: Vec<_> = settled
        .results
        .iter()
        .filter(|r| r.outcome == Outcome::Followed)
        .collect();
    assert_eq!(released.len(), 1, "{settled:?}");
    assert_eq!(
        released[0].actions,
        [
            format!("+ tag {} (nothing else tags the image)", release::retired_tag(&v1)),
            format!("- tag {}", protect::image_tag(&v1)),
        ]
    );
    assert_eq!(tags_of(&kit.clients, &v1).await, Some(vec![release::retired_tag(&v1)]));
    assert_eq!(count_op(&calls, "BatchDeleteImage"), 1, "{calls:?}");
    assert_eq!(
        tags_of(&kit.clients, &v2).await,
        Some(vec![protect::image_tag(&v2), "release-2".to_owned()])
    );
    assert!(tags_of(&kit.clients, &v3)
        .await
        .unwrap()
        .contains(&protect::image_tag(&v3)));

    // v4: v2 keeps its release tag, so only the deployer's tag comes off. A settle run after
    // that releases nothing more.
    deploy_and_complete(&kit, &config, &settings, "v4", None).await;
    let settled = invoke_job::<ImagePush>(&kit.clients, &config, &settle_event("settle-3"), &settings)
        .await
        .unwrap();
    assert!(
        settled
            .results
            .iter()
            .any(|r| r.actions == [format!("- tag {}", protect::image_tag(&v2))]),
        "{settled:?}"
    );
    assert_eq!(tags_of(&kit.clients, &v2).await, Some(vec!["release-2".to_owned()]));
    let settled = invoke_job::<ImagePush>(&kit.clients, &config, &settle_event("settle-4"), &settings)
        .await
        .unwrap();
    assert!(
        settled.results.iter().all(|r| r.outcome == Outcome::Ignored),
        "{settled:?}"
    );
}
