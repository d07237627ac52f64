use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::aws::ecs::Deployment;
use crate::testing::service;

fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000 + seconds)
}

fn record(event: &str, deployment: Option<&str>, rolls_back: bool) -> DeployRecord {
    let trigger = Trigger {
        kind: TriggerKind::Push,
        id: event.into(),
        by: Some("aws.ecr".into()),
    };
    DeployRecord {
        id: deploy_id(&trigger, "orders"),
        app: "orders".into(),
        cluster: "sss".into(),
        service: "orders".into(),
        account: None,
        region: None,
        trigger,
        tag: Some("latest".into()),
        digest: Some("sha256:aa".into()),
        image: None,
        old_task_definition: Some("orders:1".into()),
        new_task_definition: Some(format!("orders:{}", event.len() + 1)),
        ecs_deployment_id: deployment.map(str::to_owned),
        rolls_back_on_failure: rolls_back,
        started_at: format_time(at(0)),
        ended_at: None,
        outcome: DeployOutcome::InProgress,
        reason: None,
        template: None,
        notes: Vec::new(),
        native: None,
        gate: None,
        images: Default::default(),
    }
}

#[test]
fn ids_are_stable_per_trigger_and_app() {
    let trigger = |kind, id: &str| Trigger {
        kind,
        id: id.into(),
        by: None,
    };
    let a = deploy_id(&trigger(TriggerKind::Push, "e1"), "orders");
    assert_eq!(a, deploy_id(&trigger(TriggerKind::Push, "e1"), "orders"));
    assert!(a.starts_with("push-"), "{a}");
    assert_ne!(a, deploy_id(&trigger(TriggerKind::Push, "e1"), "payments"));
    assert_ne!(a, deploy_id(&trigger(TriggerKind::Push, "e2"), "orders"));
    assert_ne!(a, deploy_id(&trigger(TriggerKind::Manual, "e1"), "orders"));
}

#[test]
fn the_same_trigger_twice_is_one_record_and_a_new_deploy_supersedes_the_open_one() {
    let mut index = DeployIndex::default();
    let first = record("e1", Some("ecs-svc/1"), false);
    assert_eq!(index.start(first.clone()).len(), 1);
    // A retry of the same event: one record, still in progress, its start time kept.
    let mut again = first.clone();
    again.started_at = format_time(at(60));
    let changes = index.start(again);
    assert_eq!(changes.len(), 1);
    assert_eq!(index.records.len(), 1);
    assert_eq!(index.records[0].started_at, first.started_at);

    let second = record("e22", Some("ecs-svc/2"), false);
    let changes = index.start(second.clone());
    let outcomes: Vec<_> = changes
        .iter()
        .map(|c| (c.record.id.clone(), c.record.outcome))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (first.id.clone(), DeployOutcome::Superseded),
            (second.id.clone(), DeployOutcome::InProgress)
        ]
    );
    assert_eq!(index.records[0].id, second.id, "newest first");
    assert_eq!(index.in_progress().map(|r| r.id.as_str()), Some(second.id.as_str()));
}

#[test]
fn ecs_words_end_the_record_they_name_and_nothing_else() {
    let mut index = DeployIndex::default();
    index.start(record("e1", Some("ecs-svc/1"), false));
    let now = format_time(at(120));
    // Another deployment (a registry update, someone else's deploy): nothing moves.
    assert!(index.hear("ecs-svc/9", &EcsWord::Completed, &now).is_empty());
    assert!(index.hear("ecs-svc/1", &EcsWord::InProgress, &now).is_empty());
    let changes = index.hear("ecs-svc/1", &EcsWord::Completed, &now);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].from, Some(DeployOutcome::InProgress));
    assert_eq!(index.records[0].outcome, DeployOutcome::Completed);
    assert_eq!(index.records[0].duration_seconds(at(999)), Some(120));
    // A replay, or a late failure of an ended deploy, changes nothing.
    assert!(index.hear("ecs-svc/1", &EcsWord::Completed, &now).is_empty());
    assert!(index
        .hear("ecs-svc/1", &EcsWord::Failed("late".into()), &now)
        .is_empty());
}

#[test]
fn a_failure_is_a_rollback_when_the_service_rolls_back_or_ecs_says_so() {
    let failed = |rolls_back: bool, reason: &str| {
        let mut index = DeployIndex::default();
        index.start(record("e1", Some("ecs-svc/1"), rolls_back));
        index.hear("ecs-svc/1", &EcsWord::Failed(reason.into()), "t");
        (index.records[0].outcome, index.records[0].reason.clone())
    };
    assert_eq!(
        failed(true, "ECS deployment circuit breaker: tasks failed to start."),
        (
            DeployOutcome::RolledBack,
            Some("ECS deployment circuit breaker: tasks failed to start.".into())
        )
    );
    assert_eq!(
        failed(false, "rolling back to deployment ecs-svc/0").0,
        DeployOutcome::RolledBack
    );
    assert_eq!(failed(false, "tasks failed").0, DeployOutcome::Failed);
    assert_eq!(failed(false, "").1.as_deref(), Some("ECS gave no reason"));
}

#[test]
fn impaired_tasks_are_a_warning_noted_once_and_a_later_completion_completes() {
    for rolls_back in [true, false] {
        let mut index = DeployIndex::default();
        index.start(record("e1", Some("ecs-svc/1"), rolls_back));
        let changes = index.hear_tasks_impaired("tasks keep failing");
        assert_eq!(changes[0].record.outcome, DeployOutcome::InProgress);
        assert_eq!(changes[0].record.notes, vec!["tasks keep failing"]);
        assert!(index.hear_tasks_impaired("tasks keep failing").is_empty(), "noted once");
        let completed = index.hear("ecs-svc/1", &EcsWord::Completed, "t2");
        assert_eq!(completed[0].record.outcome, DeployOutcome::Completed);
    }
    // Nothing in progress: nothing to note.
    assert!(DeployIndex::default()
        .hear_tasks_impaired("tasks keep failing")
        .is_empty());
}

#[test]
fn settling_asks_what_ecs_lists_and_waits_for_the_settle_time() {
    let deployment = |id: &str, state: &str| Deployment {
        id: id.into(),
        status: "PRIMARY".into(),
        task_definition: "orders:3".into(),
        rollout_state: state.into(),
        rollout_state_reason: format!("reason for {state}"),
        ..Default::default()
    };
    let settle = |rolls_back: bool, running: &str, deployments: Vec<Deployment>, after_minutes: u64| {
        let mut index = DeployIndex::default();
        index.start(record("ab", Some("ecs-svc/1"), rolls_back)); // new revision orders:3
        let mut svc = service(running);
        svc.deployments = deployments;
        index.settle(&svc, &[], at(31 * 60), Duration::from_secs(after_minutes * 60));
        (index.records[0].outcome, index.records[0].reason.clone())
    };
    // Too young to settle.
    assert_eq!(
        settle(false, "orders:3", vec![deployment("ecs-svc/1", "COMPLETED")], 60).0,
        DeployOutcome::InProgress
    );
    assert_eq!(
        settle(false, "orders:3", vec![deployment("ecs-svc/1", "COMPLETED")], 30).0,
        DeployOutcome::Completed
    );
    assert_eq!(
        settle(true, "orders:1", vec![deployment("ecs-svc/1", "FAILED")], 30),
        (DeployOutcome::RolledBack, Some("reason for FAILED".into()))
    );
    assert_eq!(
        settle(false, "orders:3", vec![deployment("ecs-svc/1", "IN_PROGRESS")], 30).0,
        DeployOutcome::TimedOut
    );
    // A blue/green, linear or canary deployment has no rolloutState (AWS documents it for
    // rolling updates only): the revision that runs and the task counts tell, never the lack.
    let counted = |status: &str, running: i32| Deployment {
        id: "ecs-svc/1".into(),
        status: status.into(),
        task_definition: "orders:3".into(),
        desired_count: 2,
        running_count: running,
        ..Default::default()
    };
    assert_eq!(
        settle(false, "orders:3", vec![counted("PRIMARY", 2)], 30).0,
        DeployOutcome::Completed
    );
    assert_eq!(
        settle(false, "orders:1", vec![counted("ACTIVE", 0)], 30).0,
        DeployOutcome::RolledBack
    );
    let (outcome, reason) = settle(false, "orders:3", vec![counted("PRIMARY", 1)], 30);
    assert_eq!(outcome, DeployOutcome::TimedOut);
    assert!(reason.unwrap().contains("runs 1 of 2 tasks"));
    // ECS no longer lists it: the running revision tells.
    assert_eq!(settle(false, "orders:3", vec![], 30).0, DeployOutcome::Completed);
    assert_eq!(settle(false, "orders:1", vec![], 30).0, DeployOutcome::RolledBack);
    assert_eq!(settle(false, "orders:7", vec![], 30).0, DeployOutcome::Superseded);
}

#[test]
fn a_timed_out_deploy_is_corrected_by_a_later_word_from_ecs() {
    let mut index = DeployIndex::default();
    index.start(record("ab", Some("ecs-svc/1"), false));
    let mut svc = service("orders:3");
    svc.deployments = vec![Deployment {
        id: "ecs-svc/1".into(),
        rollout_state: "IN_PROGRESS".into(),
        ..Default::default()
    }];
    index.settle(&svc, &[], at(3600), Duration::from_secs(1800));
    assert_eq!(index.records[0].outcome, DeployOutcome::TimedOut);
    let changes = index.hear("ecs-svc/1", &EcsWord::Completed, "t");
    assert_eq!(changes[0].from, Some(DeployOutcome::TimedOut));
    assert_eq!(index.records[0].outcome, DeployOutcome::Completed);
}

#[test]
fn the_last_good_is_the_newest_completed_deploy_of_another_revision() {
    let mut index = DeployIndex::default();
    let mut good = record("a", Some("ecs-svc/1"), false); // orders:2
    good.outcome = DeployOutcome::Completed;
    let mut bad = record("bb", Some("ecs-svc/2"), false); // orders:3
    bad.outcome = DeployOutcome::RolledBack;
    let mut current = record("ccc", Some("ecs-svc/3"), false); // orders:4
    current.outcome = DeployOutcome::Completed;
    index.records = vec![current, bad, good];
    assert_eq!(
        index
            .last_good_except("orders:4")
            .and_then(|r| r.new_task_definition.as_deref()),
        Some("orders:2")
    );
    assert!(index.last_good_except("orders:2").is_some());
    assert_eq!(DeployIndex::default().last_good_except("orders:4"), None);
}

#[test]
fn the_index_keeps_the_newest_records_only() {
    let mut index = DeployIndex::default();
    for n in 0..(KEPT_IN_INDEX + 5) {
        index.start(record(&format!("e{n}"), Some(&format!("ecs-svc/{n}")), false));
    }
    assert_eq!(index.records.len(), KEPT_IN_INDEX);
    assert_eq!(index.records[0].trigger.id, format!("e{}", KEPT_IN_INDEX + 4));
}

#[test]
fn outcome_names_are_the_serialized_ones() {
    use DeployOutcome::*;
    for outcome in [InProgress, Completed, Failed, RolledBack, Superseded, TimedOut] {
        assert_eq!(serde_json::to_value(outcome).unwrap(), outcome.as_str());
    }
}

#[test]
fn what_an_index_stores_has_bounded_texts() {
    let mut index = DeployIndex::default();
    let mut long = record("e1", Some("ecs-svc/1"), false);
    long.reason = Some("x".repeat(5000));
    long.notes = (0..30).map(|n| format!("note {n} {}", "y".repeat(2000))).collect();
    let changes = index.apply(|index| index.start(long.clone()));
    for stored in [&index.records[0], &changes[0].record] {
        let reason = stored.reason.as_deref().unwrap();
        assert_eq!(reason.chars().count(), MAX_REASON_CHARS + 1, "cut, with an ellipsis");
        assert!(reason.ends_with('…'));
        assert_eq!(stored.notes.len(), MAX_NOTES);
        assert!(stored.notes[0].starts_with("note 10 "), "the oldest notes go first");
        assert!(stored.notes.iter().all(|n| n.chars().count() <= MAX_REASON_CHARS + 1));
    }
    assert_eq!(cut("short", 10), "short");
    assert_eq!(cut("héllo wörld", 5), "héllo…");
}

/// A service deployment of `orders:3` (the revision `record("ab", ..)` deploys) created when the
/// deploy started.
fn native(status: &str, stage: &str) -> crate::aws::ecs::deployments::ServiceDeployment {
    crate::aws::ecs::deployments::ServiceDeployment {
        arn: "arn:aws:ecs:r:1:service-deployment/sss/orders/sd1".into(),
        status: status.into(),
        status_reason: format!("reason for {status}"),
        lifecycle_stage: stage.into(),
        task_definition: "orders:3".into(),
        created_at: Some(at(5)),
        updated_at: Some(at(60)),
        ..Default::default()
    }
}

#[test]
fn a_deploy_ecs_still_moves_is_never_timed_out_and_its_stage_is_recorded_once() {
    use crate::aws::ecs::deployments::Hook;
    let after = Duration::from_secs(30 * 60);
    // ECS's DescribeServices view of a blue/green deployment: no rollout state, not all tasks
    // yet; alone, it would call the deploy timed out.
    let mut svc = service("orders:3");
    svc.deployments = vec![Deployment {
        id: "ecs-svc/1".into(),
        status: "PRIMARY".into(),
        task_definition: "orders:3".into(),
        desired_count: 2,
        running_count: 1,
        ..Default::default()
    }];
    let mut index = DeployIndex::default();
    index.start(record("ab", Some("ecs-svc/1"), true));
    // Baking for 90 minutes: in progress, the stage recorded by the first run only.
    let baking = vec![native("IN_PROGRESS", "BAKE_TIME")];
    let changes = index.settle(&svc, &baking, at(40 * 60), after);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].from, Some(DeployOutcome::InProgress));
    assert_eq!(
        changes[0].milestone,
        Some(Milestone::Live),
        "baking: production traffic shifted"
    );
    assert_eq!(index.records[0].outcome, DeployOutcome::InProgress);
    assert_eq!(index.records[0].native.as_ref().unwrap().lifecycle_stage, "BAKE_TIME");
    assert!(index.settle(&svc, &baking, at(90 * 60), after).is_empty());
    assert_eq!(index.records[0].outcome, DeployOutcome::InProgress);
    // Paused at a hook for days: still in progress, the hook named.
    let mut paused = native("IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT");
    paused.hooks = vec![Hook {
        id: "approve-canary".into(),
        status: "AWAITING_ACTION".into(),
        expires_at: Some("2027-01-01T00:00:00Z".into()),
        timeout_action: Some("ROLLBACK".into()),
    }];
    let changes = index.settle(&svc, std::slice::from_ref(&paused), at(3 * 24 * 3600), after);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].milestone, Some(Milestone::Paused));
    let seen = index.records[0].native.clone().unwrap();
    assert_eq!(seen.awaiting[0].hook_id, "approve-canary");
    assert_eq!(seen.awaiting[0].timeout_action.as_deref(), Some("ROLLBACK"));
    assert_eq!(index.records[0].outcome, DeployOutcome::InProgress);
    // The same pause seen again (an event, a later run): not a second milestone.
    assert!(index
        .follow_native(std::slice::from_ref(&paused), at(3 * 24 * 3600 + 60))
        .is_empty());
    // ECS ends it: completed.
    index.settle(&svc, &[native("SUCCESSFUL", "CLEAN_UP")], at(4 * 24 * 3600), after);
    assert_eq!(index.records[0].outcome, DeployOutcome::Completed);
}

#[test]
fn a_service_deployment_that_stops_moving_times_out_and_ends_are_read_from_ecs() {
    let after = Duration::from_secs(30 * 60);
    let settled = |deployment: crate::aws::ecs::deployments::ServiceDeployment, minutes: u64| {
        let mut index = DeployIndex::default();
        index.start(record("ab", Some("ecs-svc/1"), false));
        // First seen when the settle run came; `since` then is that run.
        index.settle(
            &service("orders:1"),
            std::slice::from_ref(&deployment),
            at(minutes * 60),
            after,
        );
        (index.records[0].outcome, index.records[0].reason.clone())
    };
    // Rolling, scaling up, last changed by ECS at 1 minute: stalled at 31 minutes; changed at
    // 10 minutes: still moving at 31, stalled at 40.
    let (outcome, reason) = settled(native("IN_PROGRESS", "SCALE_UP"), 31);
    assert_eq!(outcome, DeployOutcome::TimedOut);
    assert!(reason.unwrap().contains("without moving"));
    let mut recent = native("IN_PROGRESS", "SCALE_UP");
    recent.updated_at = Some(at(10 * 60));
    let mut index = DeployIndex::default();
    index.start(record("ab", Some("ecs-svc/1"), false));
    index.settle(&service("orders:1"), &[recent.clone()], at(31 * 60), after);
    assert_eq!(index.records[0].outcome, DeployOutcome::InProgress);
    index.settle(&service("orders:1"), &[recent], at(40 * 60), after);
    assert_eq!(index.records[0].outcome, DeployOutcome::TimedOut);
    // Ends, whatever the DescribeServices view says.
    let mut rolled = native("ROLLBACK_SUCCESSFUL", "");
    rolled.rollback_reason = Some("alarm fired".into());
    assert_eq!(
        settled(rolled, 31),
        (DeployOutcome::RolledBack, Some("alarm fired".into()))
    );
    assert_eq!(settled(native("ROLLBACK_FAILED", ""), 31).0, DeployOutcome::Failed);
    assert_eq!(settled(native("STOPPED", ""), 31).0, DeployOutcome::Failed);
    // A service deployment of another revision, or one made before the deploy, is not its own:
    // DescribeServices decides (the service runs the old revision: rolled back).
    let mut other = native("SUCCESSFUL", "");
    other.task_definition = "orders:9".into();
    assert_eq!(settled(other, 31).0, DeployOutcome::RolledBack);
    let mut older = native("SUCCESSFUL", "");
    older.created_at = Some(at(0).checked_sub(Duration::from_secs(3600)).unwrap());
    assert_eq!(settled(older, 31).0, DeployOutcome::RolledBack);
}

#[test]
fn an_event_follows_a_young_deploy_through_its_stages_without_timing_it_out() {
    let mut index = DeployIndex::default();
    index.start(record("ab", Some("ecs-svc/1"), true));
    // Two minutes in: scaling up (recorded, nothing published), then the test traffic shift
    // (recorded), then production traffic (live, once).
    let stage = |s: &str| native("IN_PROGRESS", s);
    let changes = index.follow_native(&[stage("SCALE_UP")], at(120));
    assert_eq!((changes.len(), changes[0].milestone), (1, None));
    assert!(index.follow_native(&[stage("SCALE_UP")], at(180)).is_empty());
    assert_eq!(
        index.follow_native(&[stage("TEST_TRAFFIC_SHIFT")], at(240))[0].milestone,
        None
    );
    let live = index.follow_native(&[stage("POST_PRODUCTION_TRAFFIC_SHIFT")], at(300));
    assert_eq!(live[0].milestone, Some(Milestone::Live));
    assert_eq!(
        index.follow_native(&[stage("BAKE_TIME")], at(360))[0].milestone,
        None,
        "live once"
    );
    assert_eq!(index.records[0].outcome, DeployOutcome::InProgress);
    // A deployment stuck for days is not timed out by an event: that is the settle run's.
    let mut stuck = stage("SCALE_UP");
    stuck.updated_at = Some(at(0));
    index.follow_native(&[stuck], at(5 * 24 * 3600));
    assert_eq!(index.records[0].outcome, DeployOutcome::InProgress);
    // ECS rolled it back: the end is its deployment event's (or the settle run's), which also
    // do what follows an end.
    assert!(index
        .follow_native(&[native("ROLLBACK_SUCCESSFUL", "")], at(6 * 24 * 3600))
        .is_empty());
    assert_eq!(index.records[0].outcome, DeployOutcome::InProgress);
}
