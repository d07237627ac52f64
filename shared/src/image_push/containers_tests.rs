//! Planning deploys of applications with `containers`: sidecars of the application's own image
//! move with it; a container that follows another repository is deployed by its pushes and
//! otherwise keeps what it runs (a newer template's image for it included).

use super::*;
use crate::aws::ecr::ImageDetail;
use crate::input::config::Config;
use crate::testing::{digest, full_revision, image, REGISTRY};

/// `orders` whose `app` and `log-router` containers are both listed (`log-router` following
/// repository `log-router` with tag `stable` when `other_repository`), and its facets.
fn config(other_repository: bool) -> Config {
    let log_router = match other_repository {
        true => r#"{"name": "log-router", "repository": "log-router", "tags": ["stable"]}"#,
        false => r#""log-router""#,
    };
    Config::parse(
        &format!(
            r#"{{"apps": [{{"name": "orders", "cluster": "sss", "service": "orders", "repository": "orders", "tags": ["latest"], "containers": ["app", {log_router}]}}]}}"#
        ),
        "test",
    )
    .unwrap()
}

/// The service runs `orders:1`: `app` on `app_image`, `log-router` on `router_image`.
fn observed(app_image: &str, router_image: &str, target: ImageDetail) -> Observation {
    let mut current = full_revision("orders", 1, app_image);
    current.definition.container_definitions.as_mut().unwrap()[1].image = Some(router_image.to_owned());
    Observation {
        service: Some(crate::testing::service(current.arn())),
        current: Some(current),
        target_image: Some(target),
        ..Observation::default()
    }
}

fn push(n: u8) -> Goal {
    Goal::Push {
        tag: "latest".into(),
        digest: digest(n),
        happened_at: None,
    }
}

fn registered(plan: &Plan) -> &crate::aws::revision::Revision {
    match plan.steps.first() {
        Some(Step::Register(revision)) => revision,
        _ => panic!("{plan:?}"),
    }
}

#[test]
fn a_sidecar_of_the_same_image_moves_with_the_app_and_each_image_is_named() {
    let config = config(false);
    let app = &config.apps[0];
    let pinned = format!("{REGISTRY}/orders@{}", digest(2));
    let obs = observed(
        &format!("{REGISTRY}/orders:latest"),
        &format!("{REGISTRY}/orders:latest"),
        image(&digest(2), &["latest"], 20),
    );
    let plan = plan_app(app, &push(2), &obs, "ap-northeast-1");
    let revision = registered(&plan);
    assert_eq!(revision.container_image("app"), Some(pinned.as_str()));
    assert_eq!(revision.container_image("log-router"), Some(pinned.as_str()));
    assert_eq!(
        plan.report.images.values().collect::<Vec<_>>(),
        [&pinned, &pinned],
        "{plan:?}"
    );
    let register = &plan.report.actions[0];
    assert!(
        register.contains("app ") && register.contains(", log-router "),
        "{register}"
    );

    // Unchanged only when every listed container runs the digest.
    let half = observed(
        &pinned,
        &format!("{REGISTRY}/orders:latest"),
        image(&digest(2), &["latest"], 20),
    );
    assert_eq!(
        plan_app(app, &push(2), &half, "ap-northeast-1").report.outcome,
        Outcome::Planned
    );
    let both = observed(&pinned, &pinned, image(&digest(2), &["latest"], 20));
    assert_eq!(
        plan_app(app, &push(2), &both, "ap-northeast-1").report.outcome,
        Outcome::Unchanged
    );
}

#[test]
fn a_push_of_one_repository_keeps_the_container_of_the_other_where_it_runs() {
    let config = config(true);
    let (app, facet) = (&config.apps[0], &config.facets[0]);
    let app_runs = format!("{REGISTRY}/orders@{}", digest(1));
    let router_runs = format!("{REGISTRY}/log-router@{}", digest(7));

    // `log-router` pushed: only its container moves.
    let obs = observed(&app_runs, &router_runs, image(&digest(8), &["stable"], 20));
    let plan = plan_app(facet, &push(8), &obs, "ap-northeast-1");
    let revision = registered(&plan);
    let router_new = format!("{REGISTRY}/log-router@{}", digest(8));
    assert_eq!(revision.container_image("log-router"), Some(router_new.as_str()));
    assert_eq!(revision.container_image("app"), Some(app_runs.as_str()));
    assert!(
        plan.report.actions.iter().any(|a| a.starts_with("= app keeps")),
        "{plan:?}"
    );

    // `orders` pushed while a newer template names `log-router` by tag: the template's shape,
    // but `log-router` stays on the digest it runs.
    let mut obs = observed(&app_runs, &router_runs, image(&digest(2), &["latest"], 20));
    let mut terraform = full_revision("orders", 3, &format!("{REGISTRY}/orders:latest"));
    terraform.definition.cpu = Some("1024".into());
    terraform.definition.container_definitions.as_mut().unwrap()[1].image = Some("log-router:stable".into());
    obs.template = Some(terraform);
    let plan = plan_app(app, &push(2), &obs, "ap-northeast-1");
    let revision = registered(&plan);
    assert_eq!(revision.definition.cpu(), Some("1024"));
    assert_eq!(revision.container_image("log-router"), Some(router_runs.as_str()));
    assert_eq!(
        revision.container_image("app"),
        Some(format!("{REGISTRY}/orders@{}", digest(2)).as_str())
    );
    // The template's tag for a listed container is not a shape change to report.
    assert!(
        !plan.report.actions.iter().any(|a| a.contains("~ image")),
        "{:?}",
        plan.report.actions
    );
}
