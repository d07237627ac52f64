//! Planning over hand-made observations: deploys, replays, stale events, rollbacks.

use aws_sdk_ecs::types::DeploymentConfiguration;

use super::plan::{circuit_breaker_change, copy_with_image, rolls_back_on_failure};
use super::*;
use crate::aws::ecr::ImageDetail;
use crate::aws::revision::same_content;
use crate::input::events::DeployTarget;
use crate::ownership::MANAGED_TAG_KEY;
use crate::testing::{app, digest, full_revision, image, service, REGISTRY};
use template::TEMPLATE_TAG_KEY;

/// Nanoseconds in `s` seconds.
fn seconds(s: i128) -> i128 {
    s * 1_000_000_000
}

/// A push event of digest `n` that happened at second `n * 10`.
fn push(tag: &str, n: u8) -> Goal {
    Goal::Push {
        tag: tag.into(),
        digest: digest(n),
        happened_at: Some(seconds(i128::from(n) * 10)),
    }
}

/// The service runs `orders:1`, whose `app` container runs `running`.
fn observed(running: &str, target: Option<ImageDetail>) -> Observation {
    let current = full_revision("orders", 1, running);
    Observation {
        service: Some(service(current.arn())),
        current: Some(current),
        target_image: target,
        ..Observation::default()
    }
}

/// A rollback payload's goal (without `force`).
fn rollback(revision: Option<i32>) -> Goal {
    Goal::Rollback { revision, force: false }
}

fn pinned(n: u8) -> String {
    format!("{REGISTRY}/orders@{}", digest(n))
}

#[test]
fn a_current_push_registers_a_pinned_copy_then_updates_the_service() {
    let obs = observed(
        &format!("{REGISTRY}/orders:latest"),
        Some(image(&digest(2), &["latest"], 20)),
    );
    let plan = plan_app(&app(), &push("latest", 2), &obs, "ap-northeast-1");

    assert_eq!(plan.report.outcome, Outcome::Planned);
    assert_eq!(plan.report.image.as_deref(), Some(pinned(2).as_str()));
    let [Step::Register(revision), Step::UpdateService {
        task_definition,
        deployment_configuration,
        ..
    }] = plan.steps.as_slice()
    else {
        panic!("{plan:?}")
    };
    assert_eq!(revision.container_image("app"), Some(pinned(2).as_str()));
    assert_eq!(
        revision.container_image("log-router"),
        Some("fluent-bit:2"),
        "other containers kept"
    );
    assert_eq!(*task_definition, TaskDefinitionChoice::JustRegistered);
    assert_eq!(*deployment_configuration, None, "breaker untouched unless configured");
    // Only the image and the managed tag differ from the current revision.
    let mut back = revision.clone();
    back.definition.container_definitions.as_mut().unwrap()[0].image = Some(format!("{REGISTRY}/orders:latest"));
    back.tags
        .retain(|t| t.key() != Some(MANAGED_TAG_KEY) && t.key() != Some(TEMPLATE_TAG_KEY));
    assert!(same_content(&back, obs.current.as_ref().unwrap()));
    assert!(revision.tags.iter().any(|t| t.key() == Some(MANAGED_TAG_KEY)));
    // The copy names the template it was built from: the running revision, Terraform's own.
    let current = obs.current.as_ref().unwrap().arn().to_owned();
    assert_eq!(template::built_from(revision), Some(current.clone()));
    assert_eq!(plan.report.template, Some(current));
}

/// Terraform registered `orders:3` with a new variable and more CPU after the service's
/// `orders:1`: the push deploys a copy of `orders:3` with the digest pinned, says what changes
/// beyond the image, and records the template; `base: "running"` keeps copying `orders:1`.
#[test]
fn a_newer_template_is_what_the_push_copies_unless_the_app_copies_the_running_revision() {
    let mut obs = observed(
        &format!("{REGISTRY}/orders:latest"),
        Some(image(&digest(2), &["latest"], 20)),
    );
    let mut terraform = full_revision("orders", 3, &format!("{REGISTRY}/orders:latest"));
    terraform.definition.cpu = Some("1024".into());
    let app_container = &mut terraform.definition.container_definitions.as_mut().unwrap()[0];
    app_container.environment = Some(vec![aws_sdk_ecs::types::KeyValuePair::builder()
        .name("NEW_FLAG")
        .value("on")
        .build()]);
    obs.latest = Some(terraform.clone());
    obs.template = Some(terraform.clone());
    let plan = plan_app(&app(), &push("latest", 2), &obs, "ap-northeast-1");
    let Some(Step::Register(revision)) = plan.steps.first() else {
        panic!("{plan:?}")
    };
    assert_eq!(revision.container_image("app"), Some(pinned(2).as_str()));
    assert_eq!(revision.definition.cpu(), Some("1024"));
    assert_eq!(revision.definition.container_definitions()[0].environment().len(), 1);
    assert_eq!(template::built_from(revision).as_deref(), Some(terraform.arn()));
    assert_eq!(plan.report.template.as_deref(), Some(terraform.arn()));
    let actions = plan.report.actions.join("\n");
    assert!(actions.contains("~ base orders:3"), "{actions}");
    assert!(actions.contains("+ env NEW_FLAG (app)"), "{actions}");
    assert!(actions.contains("~ cpu 512 -> 1024"), "{actions}");

    // The observation holds no template when the application copies the running revision
    // (observe reads none); the plan then copies orders:1 as before.
    obs.template = None;
    let mut running_app = app();
    running_app.base = crate::input::config::Base::Running;
    let plan = plan_app(&running_app, &push("latest", 2), &obs, "ap-northeast-1");
    let Some(Step::Register(revision)) = plan.steps.first() else {
        panic!("{plan:?}")
    };
    assert_eq!(revision.definition.cpu(), Some("512"));
    assert!(!plan.report.actions.join(" ").contains("base"), "{plan:?}");

    // A template without the followed container fails before any write, saying why.
    let mut broken = terraform;
    broken.definition.container_definitions.as_mut().unwrap().remove(0);
    obs.template = Some(broken);
    let plan = plan_app(&app(), &push("latest", 2), &obs, "ap-northeast-1");
    assert_eq!(plan.report.outcome, Outcome::Failed);
    assert!(plan.steps.is_empty());
    assert!(
        plan.report.reason.as_deref().unwrap().contains("template orders:3"),
        "{plan:?}"
    );
}

#[test]
fn a_push_of_what_already_runs_is_unchanged() {
    let obs = observed(&pinned(2), Some(image(&digest(2), &["latest"], 20)));
    let plan = plan_app(&app(), &push("latest", 2), &obs, "ap-northeast-1");
    assert_eq!(plan.report.outcome, Outcome::Unchanged);
    assert!(plan.steps.is_empty());
}

#[test]
fn a_push_whose_tag_moved_on_is_stale() {
    let obs = observed(&pinned(1), Some(image(&digest(3), &["latest"], 30)));
    let plan = plan_app(&app(), &push("latest", 2), &obs, "ap-northeast-1");
    assert_eq!(plan.report.outcome, Outcome::Stale);
    assert!(plan.report.reason.unwrap().contains(&digest(3)));
    assert!(plan.steps.is_empty());
}

#[test]
fn a_push_whose_tag_is_gone_is_stale() {
    let plan = plan_app(
        &app(),
        &push("latest", 2),
        &observed(&pinned(1), None),
        "ap-northeast-1",
    );
    assert_eq!(plan.report.outcome, Outcome::Stale);
}

#[test]
fn a_late_push_event_is_stale_and_a_tag_moved_back_later_is_a_deploy() {
    // The service runs digest 5 (pushed at 50 s). `release-4` still names digest 4 (40 s).
    let mut obs = observed(&pinned(5), Some(image(&digest(4), &["release-4"], seconds(40))));
    obs.running_image = Some(image(&digest(5), &["release-5"], seconds(50) + 300_000_000));
    // Its push event, happening at 40 and delivered late: it never rolls the service back.
    let late = plan_app(&app(), &push("release-4", 4), &obs, "ap-northeast-1");
    assert_eq!(late.report.outcome, Outcome::Stale, "{:?}", late.report);
    // The user moves `release-4` back to digest 4 within the same second as the running
    // image's push (event times are whole seconds), or later: a new event, so it deploys
    // although the image is older.
    let moved = Goal::Push {
        tag: "release-4".into(),
        digest: digest(4),
        happened_at: Some(seconds(50)),
    };
    let plan = plan_app(&app(), &moved, &obs, "ap-northeast-1");
    assert_eq!(plan.report.outcome, Outcome::Planned, "{:?}", plan.report);
    // A manual deploy of the same older image is the user's explicit wish.
    let manual = plan_app(
        &app(),
        &Goal::Manual(DeployTarget::Tag("release-4".into())),
        &obs,
        "ap-northeast-1",
    );
    assert_eq!(manual.report.outcome, Outcome::Planned);
}

#[test]
fn a_revision_left_by_an_interrupted_attempt_is_reused() {
    let mut obs = observed(&pinned(1), Some(image(&digest(2), &["latest"], 20)));
    let mut left = copy_with_image(obs.current.as_ref().unwrap(), "app", &pinned(2));
    left.definition.revision = 2;
    left.definition.task_definition_arn =
        Some("arn:aws:ecs:ap-northeast-1:123456789012:task-definition/orders:2".into());
    obs.latest = Some(left.clone());
    let plan = plan_app(&app(), &push("latest", 2), &obs, "ap-northeast-1");
    assert_eq!(
        plan.steps,
        vec![Step::UpdateService {
            cluster: "sss".into(),
            service: "orders".into(),
            task_definition: TaskDefinitionChoice::Existing(left.arn().into()),
            deployment_configuration: None,
        }]
    );
    // A latest revision with other content (say, Terraform's) is not reused.
    left.definition.cpu = Some("1024".into());
    obs.latest = Some(left);
    let plan = plan_app(&app(), &push("latest", 2), &obs, "ap-northeast-1");
    assert!(matches!(plan.steps[0], Step::Register(_)));
}

#[test]
fn missing_service_container_or_image_fail_with_reasons() {
    let goal = push("latest", 2);
    let target = Some(image(&digest(2), &["latest"], 20));
    let plan = plan_app(&app(), &goal, &Observation::default(), "r");
    assert_eq!(plan.report.outcome, Outcome::Failed);
    assert!(plan.report.reason.unwrap().contains("not found in cluster `sss`"));

    let mut draining = observed(&pinned(1), target.clone());
    draining.service.as_mut().unwrap().status = "DRAINING".into();
    assert!(plan_app(&app(), &goal, &draining, "r")
        .report
        .reason
        .unwrap()
        .contains("DRAINING"));

    let mut other = app();
    other.container = "web".into();
    let plan = plan_app(&other, &goal, &observed(&pinned(1), target), "r");
    assert_eq!(plan.report.outcome, Outcome::Failed);
    assert!(plan.report.reason.unwrap().contains("containers: app, log-router"));

    let manual = Goal::Manual(DeployTarget::Digest(digest(9)));
    let plan = plan_app(&app(), &manual, &observed(&pinned(1), None), "r");
    assert_eq!(plan.report.outcome, Outcome::Failed);
}

#[test]
fn the_circuit_breaker_is_turned_on_only_when_asked_and_off() {
    let mut guarded = app();
    guarded.circuit_breaker = true;
    let mut svc = service("x");
    svc.deployment_configuration = Some(
        DeploymentConfiguration::builder()
            .maximum_percent(200)
            .minimum_healthy_percent(100)
            .build(),
    );
    let change = circuit_breaker_change(&guarded, &svc).expect("a change");
    assert_eq!(
        change.maximum_percent(),
        Some(200),
        "the rest of the configuration is kept"
    );
    let breaker = change.deployment_circuit_breaker().unwrap();
    assert!(breaker.enable() && breaker.rollback());
    svc.deployment_configuration = Some(change);
    assert_eq!(circuit_breaker_change(&guarded, &svc), None, "already on");
    assert_eq!(circuit_breaker_change(&app(), &service("x")), None, "not configured");
}

#[test]
fn an_answer_with_a_failed_application_is_a_deploy_failed_invocation_error() {
    use crate::job::{settle, Answer};
    let failed = Report::skipped(&app(), Outcome::Failed, "UpdateService failed");
    let quiet = |outcome| Report::skipped(&app(), outcome, "nothing to do");
    let answer = |results| Answer {
        results,
        dry_run: false,
    };

    let Err(crate::error::InvokeError::ItemsFailed(err)) =
        settle::<ImagePush>(answer(vec![quiet(Outcome::Stale), failed.clone()]))
    else {
        panic!("a failed application must fail the invocation")
    };
    assert_eq!(err.error_type, "DeployFailed");
    assert_eq!((err.failures.len(), err.total), (1, 2));
    assert_eq!(err.failures[0], "orders: UpdateService failed");
    let message = err.to_string();
    assert!(
        message.starts_with("1 of 2 failed: orders: UpdateService failed; answer: {"),
        "{message}"
    );
    assert!(
        message.contains(r#""outcome":"stale""#),
        "the whole answer is in the message: {message}"
    );

    // Many failures: the first 20 are named, the rest counted; all are in the answer.
    let Err(many) = settle::<ImagePush>(answer(vec![failed.clone(); 30])) else {
        panic!("30 failures must fail the invocation")
    };
    let message = many.to_string();
    assert!(
        message.starts_with("30 of 30 failed: orders: UpdateService failed;"),
        "{message}"
    );
    assert!(
        message.contains("; and 10 more (all in the answer); answer: {"),
        "{message}"
    );
    assert_eq!(message.matches("orders: UpdateService failed").count(), 20);

    // Stale, ignored, unchanged and deployed are not failures.
    let fine = vec![
        quiet(Outcome::Stale),
        quiet(Outcome::Unchanged),
        quiet(Outcome::Ignored),
        quiet(Outcome::Deployed),
    ];
    assert!(settle::<ImagePush>(answer(fine)).is_ok());
}

#[test]
fn services_under_another_deployment_controller_are_refused_before_any_write() {
    for controller in ["CODE_DEPLOY", "EXTERNAL"] {
        let mut obs = observed(&pinned(3), Some(image(&digest(9), &["latest"], 2)));
        obs.service.as_mut().unwrap().controller = Some(controller.into());
        let plan = plan_app(&app(), &push("latest", 9), &obs, "r");
        assert!(plan.steps.is_empty(), "{controller}");
        assert_eq!(plan.report.outcome, Outcome::Failed);
        let reason = plan.report.reason.unwrap();
        assert!(
            reason.contains(controller) && reason.contains("nothing was changed"),
            "{reason}"
        );
    }
    let mut obs = observed(&pinned(3), Some(image(&digest(9), &["latest"], 2)));
    obs.service.as_mut().unwrap().controller = Some("ECS".into());
    assert!(!plan_app(&app(), &push("latest", 9), &obs, "r").steps.is_empty());
}

#[test]
fn a_strategy_that_rolls_back_by_itself_keeps_its_configuration() {
    use aws_sdk_ecs::types::{DeploymentConfiguration, DeploymentStrategy};
    let mut guarded = app();
    guarded.circuit_breaker = true;
    let mut svc = service("x");
    svc.deployment_configuration = Some(
        DeploymentConfiguration::builder()
            .strategy(DeploymentStrategy::BlueGreen)
            .bake_time_in_minutes(5)
            .build(),
    );
    assert_eq!(circuit_breaker_change(&guarded, &svc), None);
    assert!(rolls_back_on_failure(&svc, &[]));
    svc.deployment_configuration = Some(DeploymentConfiguration::builder().build());
    assert!(!rolls_back_on_failure(&svc, &[]));
    let change = circuit_breaker_change(&guarded, &svc);
    assert!(
        change.is_some(),
        "a rolling service gets the breaker it is configured with"
    );
    let steps = vec![Step::UpdateService {
        cluster: "c".into(),
        service: "s".into(),
        task_definition: TaskDefinitionChoice::JustRegistered,
        deployment_configuration: change,
    }];
    assert!(rolls_back_on_failure(&svc, &steps));
}

mod rollbacks;
