//! Scheduled tasks follow the deploy: an application's `schedules` (EventBridge rules and
//! EventBridge Scheduler schedules whose ECS target runs its family) move to the new revision
//! when its deploy completes, not before; a target pointed elsewhere is left alone and said.

use aws_sdk_eventbridge::types::{
    AwsVpcConfiguration, EcsParameters, LaunchType, NetworkConfiguration, Target as RuleTarget,
};
use aws_sdk_scheduler::types::{
    EcsParameters as ScheduleEcs, FlexibleTimeWindow, FlexibleTimeWindowMode, Target as ScheduleTarget,
};
use deployer::aws::schedules::Schedulers;
use deployer::image_push::{ImagePush, Outcome};
use deployer::job::Settings;
use deployer::records::{DeployOutcome, RecordStore};
use deployer_devkit::emulator::count_op;
use deployer_devkit::events::recorded_ecs_event;
use deployer_devkit::world::{self, invoke_job, push_event, World};
use deployer_devkit::Emulator;
use serde_json::json;

const BUCKET: &str = "deployer-state";
const ROLE: &str = "arn:aws:iam::123456789012:role/ecsEventsRole";

/// The task definition the ECS target of rule `name` (default bus) runs, and the whole target.
async fn rule_target(schedulers: &Schedulers, name: &str) -> RuleTarget {
    let targets = schedulers
        .rules
        .list_targets_by_rule()
        .rule(name)
        .send()
        .await
        .expect("ListTargetsByRule")
        .targets
        .unwrap_or_default();
    assert_eq!(targets.len(), 1, "{targets:?}");
    targets.into_iter().next().unwrap()
}

fn runs(target: &RuleTarget) -> &str {
    &target.ecs_parameters.as_ref().unwrap().task_definition_arn
}

async fn schedule_runs(schedulers: &Schedulers, name: &str) -> (String, Option<String>) {
    let got = schedulers
        .schedules
        .get_schedule()
        .name(name)
        .send()
        .await
        .expect("GetSchedule");
    let target = got.target.unwrap();
    (target.ecs_parameters.unwrap().task_definition_arn, got.description)
}

async fn put_rule(schedulers: &Schedulers, name: &str, subnet: &str, task_definition: &str) {
    schedulers
        .rules
        .put_rule()
        .name(name)
        .schedule_expression("cron(0 3 * * ? *)")
        .send()
        .await
        .expect("PutRule");
    let target = RuleTarget::builder()
        .id("report")
        .arn("arn:aws:ecs:ap-northeast-1:123456789012:cluster/sss")
        .role_arn(ROLE)
        .input(r#"{"containerOverrides": [{"name": "app", "command": ["report"]}]}"#)
        .ecs_parameters(
            EcsParameters::builder()
                .task_definition_arn(task_definition)
                .task_count(2)
                .launch_type(LaunchType::Fargate)
                .network_configuration(
                    NetworkConfiguration::builder()
                        .awsvpc_configuration(AwsVpcConfiguration::builder().subnets(subnet).build().unwrap())
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    schedulers
        .rules
        .put_targets()
        .rule(name)
        .targets(target)
        .send()
        .await
        .expect("PutTargets");
}

async fn create_schedule(schedulers: &Schedulers, name: &str, task_definition: &str) {
    schedulers
        .schedules
        .create_schedule()
        .name(name)
        .schedule_expression("rate(1 day)")
        .description("the daily report")
        .flexible_time_window(
            FlexibleTimeWindow::builder()
                .mode(FlexibleTimeWindowMode::Off)
                .build()
                .unwrap(),
        )
        .target(
            ScheduleTarget::builder()
                .arn("arn:aws:ecs:ap-northeast-1:123456789012:cluster/sss")
                .role_arn(ROLE)
                .ecs_parameters(
                    ScheduleEcs::builder()
                        .task_definition_arn(task_definition)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("CreateSchedule");
}

#[tokio::test]
async fn a_schedule_moves_to_the_completed_revision_not_before_and_one_pointed_elsewhere_stays() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_bucket(&kit.clients, BUCKET).await;
    let (app, _) = kit.orders().await;
    let schedulers = Schedulers::new(&kit.clients.sdk_config);
    // Someone's own revision of the family, which one rule runs on purpose.
    let theirs = world::register_rich_task_definition(
        &kit.clients,
        "orders",
        vec![world::app_container("app", "public.ecr.aws/docker/library/busybox:1")],
    )
    .await;
    put_rule(&schedulers, "nightly", &kit.subnets[0], &app.task_definition).await;
    put_rule(&schedulers, "cleanup", &kit.subnets[0], &theirs).await;
    create_schedule(&schedulers, "report", &app.task_definition).await;
    let mut entry = app.config();
    // `theirs` is newer than the running revision: the deploy copies what runs, not it.
    entry["base"] = json!("running");
    entry["schedules"] = json!(["nightly", "rule/default/cleanup", "schedule/default/report"]);
    let config = json!({"apps": [entry]}).to_string();
    let settings = Settings {
        records: Some(RecordStore::in_bucket(BUCKET)),
        ..Settings::default()
    };

    // The push deploys; the schedules stay where they were while ECS rolls it out.
    let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;
    let pushed = invoke_job::<ImagePush>(
        &kit.clients,
        &config,
        &push_event("orders", "latest", &digest),
        &settings,
    )
    .await
    .unwrap();
    let report = &pushed.results[0];
    assert_eq!(report.outcome, Outcome::Deployed, "{pushed:?}");
    let new = report.new_task_definition.clone().unwrap();
    assert_eq!(runs(&rule_target(&schedulers, "nightly").await), app.task_definition);
    assert_eq!(schedule_runs(&schedulers, "report").await.0, app.task_definition);

    // ECS says it completed: both move to the new revision, with everything else kept.
    let completed = recorded_ecs_event(
        "ecs-deployment-completed.json",
        "sss",
        "orders",
        report.ecs_deployment_id.as_deref().unwrap(),
    );
    let heard = invoke_job::<ImagePush>(&kit.clients, &config, &completed, &settings)
        .await
        .unwrap();
    let followed = &heard.results[0];
    assert_eq!(followed.outcome, Outcome::Followed, "{heard:?}");
    let nightly = rule_target(&schedulers, "nightly").await;
    assert_eq!(runs(&nightly), new);
    let ecs = nightly.ecs_parameters.as_ref().unwrap();
    assert_eq!(
        (ecs.task_count, nightly.role_arn.as_deref(), ecs.launch_type.clone()),
        (Some(2), Some(ROLE), Some(LaunchType::Fargate))
    );
    assert!(nightly.input.as_deref().unwrap().contains("report"), "{nightly:?}");
    assert!(ecs.network_configuration.is_some(), "{nightly:?}");
    assert_eq!(
        schedule_runs(&schedulers, "report").await,
        (new.clone(), Some("the daily report".to_owned()))
    );
    // The rule someone pointed at their own revision is left alone, and said.
    assert_eq!(runs(&rule_target(&schedulers, "cleanup").await), theirs);
    let said = |text: &str| followed.actions.iter().any(|a| a.contains(text));
    assert!(
        said("~ scheduled task rule/default/nightly (target report) runs orders:")
            && said("~ scheduled task schedule/default/report runs orders:")
            && said("! scheduled task rule/default/cleanup (target report) left alone"),
        "{followed:?}"
    );
    let index = RecordStore::in_bucket(BUCKET)
        .read(&kit.clients.s3, "orders")
        .await
        .unwrap();
    let notes = &index.records[0].notes;
    assert_eq!(
        notes.iter().filter(|n| n.starts_with("scheduled task")).count(),
        3,
        "{notes:?}"
    );

    // A replay of the completion moves nothing again.
    emulator.start_recording();
    invoke_job::<ImagePush>(&kit.clients, &config, &completed, &settings)
        .await
        .unwrap();
    let calls = emulator.stop_recording();
    assert_eq!(count_op(&calls, "PutTargets"), 0);
    assert!(
        calls.iter().all(|c| !c.operation.starts_with("PUT /schedules")),
        "{calls:?}"
    );

    // A move that did not happen (here: the target put back on the replaced revision) is made
    // by the next settle run; the rule left alone stays so.
    put_rule(&schedulers, "nightly", &kit.subnets[0], &app.task_definition).await;
    let settle = json!({
        "version": "0", "id": "settle-1", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-12-07T10:40:00Z", "region": "ap-northeast-1",
        "resources": [], "detail": {}
    });
    let settled = invoke_job::<ImagePush>(&kit.clients, &config, &settle, &settings)
        .await
        .unwrap();
    assert_eq!(runs(&rule_target(&schedulers, "nightly").await), new, "{settled:?}");
    assert_eq!(runs(&rule_target(&schedulers, "cleanup").await), theirs);
    let entry = settled
        .results
        .iter()
        .find(|r| r.app.as_deref() == Some("orders"))
        .unwrap();
    assert_eq!(entry.outcome, Outcome::Followed, "{settled:?}");
}

/// Retention keeps what a scheduled task runs, and removes nothing when a named rule cannot be
/// read.
#[tokio::test]
async fn retention_keeps_the_revision_a_scheduled_task_runs() {
    use deployer::service_sync::{Outcome as SyncOutcome, ServiceSync};
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_bucket(&kit.clients, BUCKET).await;
    let (app, _) = kit.orders().await;
    let schedulers = Schedulers::new(&kit.clients.sdk_config);
    // The deployer registers orders:2..=5 (the service runs orders:5).
    let plain = world::config_for(&[&app]);
    for n in 2..=5 {
        let digest = world::push_image(&kit.clients, "orders", "latest", &format!("r{n}")).await;
        world::invoke_image_push(&kit.clients, &plain, &push_event("orders", "latest", &digest))
            .await
            .unwrap();
    }
    let revisions = world::family_revisions(&kit.clients, "orders").await;
    let three = revisions.iter().find(|(n, _)| *n == 3).unwrap().1.clone();
    put_rule(&schedulers, "nightly", &kit.subnets[0], &three).await;
    let four = revisions.iter().find(|(n, _)| *n == 4).unwrap().1.clone();
    create_schedule(&schedulers, "report", &four).await;
    let with = |schedules: serde_json::Value| {
        let mut entry = app.config();
        entry["keep_revisions"] = json!(1);
        entry["schedules"] = schedules;
        json!({"apps": [entry]}).to_string()
    };
    let settings = Settings {
        records: Some(RecordStore::in_bucket(BUCKET)),
        ..Settings::default()
    };
    let retention = json!({"retention": {"app": "orders"}, "dry_run": true});

    let planned = invoke_job::<ServiceSync>(
        &kit.clients,
        &with(json!(["nightly", "schedule/default/report"])),
        &retention,
        &settings,
    )
    .await
    .unwrap();
    let report = &planned.results[0];
    assert_eq!(report.outcome, SyncOutcome::Planned, "{report:?}");
    assert!(
        report
            .kept
            .iter()
            .any(|k| k.starts_with("orders:3 (runs or is deploying")),
        "{report:?}"
    );
    assert!(
        report
            .kept
            .iter()
            .any(|k| k.starts_with("orders:4 (runs or is deploying")),
        "{report:?}"
    );
    assert!(
        report.actions.iter().any(|a| a.starts_with("- deregister orders:2")),
        "{report:?}"
    );
    // Without the rule's word, nothing is removed.
    let failed = invoke_job::<ServiceSync>(&kit.clients, &with(json!(["missing"])), &retention, &settings)
        .await
        .unwrap();
    let report = &failed.results[0];
    assert_eq!(report.outcome, SyncOutcome::Failed, "{report:?}");
    let reason = report.reason.as_deref().unwrap();
    assert!(
        reason.contains("ListTargetsByRule on rule/default/missing") && reason.ends_with("nothing removed"),
        "{reason}"
    );
}

/// An application that is only scheduled tasks (`family` and `schedules`, no service): a push
/// registers the revision and moves every target at once, recorded completed (nothing rolls
/// out); the service that follows the same repository is left rolling out; a replay changes
/// nothing.
#[tokio::test]
async fn an_application_without_a_service_moves_its_schedules_at_once() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_bucket(&kit.clients, BUCKET).await;
    let (app, _) = kit.orders().await;
    let schedulers = Schedulers::new(&kit.clients.sdk_config);
    let image = format!("{}/orders:latest", world::registry());
    let first =
        world::register_rich_task_definition(&kit.clients, "report", vec![world::app_container("app", &image)]).await;
    put_rule(&schedulers, "report-nightly", &kit.subnets[0], &first).await;
    create_schedule(&schedulers, "report-daily", &first).await;
    let report_app = json!({
        "name": "report", "cluster": "sss", "family": "report", "container": "app",
        "repository": "orders", "tags": ["latest"],
        "schedules": ["report-nightly", "schedule/default/report-daily"]
    });
    let config = json!({"apps": [app.config(), report_app]}).to_string();
    let settings = Settings {
        records: Some(RecordStore::in_bucket(BUCKET)),
        ..Settings::default()
    };

    let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;
    let push = push_event("orders", "latest", &digest);
    let pushed = invoke_job::<ImagePush>(&kit.clients, &config, &push, &settings)
        .await
        .unwrap();
    let of = |name: &str| pushed.results.iter().find(|r| r.app.as_deref() == Some(name)).unwrap();
    let report = of("report");
    assert_eq!(report.outcome, Outcome::Deployed, "{pushed:?}");
    let new = report.new_task_definition.clone().unwrap();
    assert_ne!(new, first);
    assert!(
        world::container_image(&kit.clients, &new, "app")
            .await
            .ends_with(&digest),
        "{report:?}"
    );
    assert_eq!(runs(&rule_target(&schedulers, "report-nightly").await), new);
    assert_eq!(schedule_runs(&schedulers, "report-daily").await.0, new);
    assert!(
        report
            .actions
            .iter()
            .any(|a| a.starts_with("~ scheduled tasks report-nightly")),
        "{report:?}"
    );
    let index = RecordStore::in_bucket(BUCKET)
        .read(&kit.clients.s3, "report")
        .await
        .unwrap();
    let record = &index.records[0];
    assert_eq!(
        (
            record.outcome,
            record.old_task_definition.as_deref(),
            record.ended_at.is_some()
        ),
        (DeployOutcome::Completed, Some(first.as_str()), true),
        "{record:?}"
    );
    // The service of the same repository deploys as ever: it is rolling out, not completed.
    assert_eq!(of("orders").outcome, Outcome::Deployed, "{pushed:?}");
    let orders = RecordStore::in_bucket(BUCKET)
        .read(&kit.clients.s3, "orders")
        .await
        .unwrap();
    assert_eq!(orders.records[0].outcome, DeployOutcome::InProgress);

    // A replay registers and moves nothing.
    emulator.start_recording();
    let replayed = invoke_job::<ImagePush>(&kit.clients, &config, &push, &settings)
        .await
        .unwrap();
    let calls = emulator.stop_recording();
    let again = replayed
        .results
        .iter()
        .find(|r| r.app.as_deref() == Some("report"))
        .unwrap();
    assert_eq!(again.outcome, Outcome::Unchanged, "{replayed:?}");
    assert_eq!(count_op(&calls, "RegisterTaskDefinition"), 0);
    assert_eq!(count_op(&calls, "PutTargets"), 0);
    assert!(
        calls.iter().all(|c| !c.operation.starts_with("PUT /schedules")),
        "{calls:?}"
    );
}
