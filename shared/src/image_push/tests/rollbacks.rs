//! Rollbacks: to the previous completed revision, or to a named one.

use super::*;

#[test]
fn rollbacks_pick_the_previous_or_named_revision() {
    let mut obs = observed(&pinned(3), None);
    let current = obs.current.as_mut().unwrap();
    current.definition.revision = 3;
    current.definition.task_definition_arn =
        Some("arn:aws:ecs:ap-northeast-1:123456789012:task-definition/orders:3".into());
    obs.family_revisions = vec![
        (
            3,
            "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/orders:3".into(),
        ),
        (
            2,
            "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/orders:2".into(),
        ),
        (
            1,
            "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/orders:1".into(),
        ),
    ];
    let plan = plan_app(&app(), &rollback(None), &obs, "r");
    assert_eq!(
        plan.report.new_task_definition.as_deref(),
        Some("arn:aws:ecs:ap-northeast-1:123456789012:task-definition/orders:2")
    );
    assert!(
        plan.report.actions[0].starts_with("= no completed deploy of another revision is recorded"),
        "{:?}",
        plan.report.actions
    );
    assert!(
        plan.report.actions[1].contains("orders:3 -> orders:2"),
        "{:?}",
        plan.report.actions
    );

    // With records, the last good deploy wins over "the one before".
    let mut good = crate::records::DeployRecord {
        id: "push-1".into(),
        app: "orders".into(),
        cluster: "sss".into(),
        service: "orders".into(),
        account: None,
        region: None,
        trigger: crate::records::Trigger {
            kind: crate::records::TriggerKind::Push,
            id: "e".into(),
            by: None,
        },
        tag: None,
        digest: None,
        image: None,
        old_task_definition: None,
        new_task_definition: Some("arn:aws:ecs:ap-northeast-1:123456789012:task-definition/orders:1".into()),
        ecs_deployment_id: None,
        rolls_back_on_failure: false,
        started_at: "2026-11-22T10:00:00Z".into(),
        ended_at: Some("2026-11-22T10:05:00Z".into()),
        outcome: crate::records::DeployOutcome::Completed,
        reason: None,
        template: None,
        notes: Vec::new(),
        native: None,
        gate: None,
        images: Default::default(),
    };
    // ECS describes the recorded revision: the deployer's, running the recorded image.
    good.image = Some(pinned(1));
    let mut described = full_revision("orders", 1, &pinned(1));
    described.tags.push(crate::ownership::managed_tag());
    obs.rollback_to = Some(described.clone());
    obs.last_good = Some(good.clone());
    let plan = plan_app(&app(), &rollback(None), &obs, "r");
    assert_eq!(plan.report.new_task_definition, good.new_task_definition);
    assert_eq!(
        plan.report.actions[0],
        "= last good: orders:1, deploy push-1 completed 2026-11-22T10:05:00Z"
    );
    // A record steers a rollback only to the service's own family, account and region, for its
    // own application: one written by someone else to point elsewhere is refused.
    for (field, forged) in [
        (
            "family",
            "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/payments:1",
        ),
        (
            "account",
            "arn:aws:ecs:ap-northeast-1:666666666666:task-definition/orders:1",
        ),
        ("region", "arn:aws:ecs:us-east-1:123456789012:task-definition/orders:1"),
        ("short name", "orders:1"),
    ] {
        obs.last_good = Some(crate::records::DeployRecord {
            new_task_definition: Some(forged.into()),
            ..good.clone()
        });
        let plan = plan_app(&app(), &rollback(None), &obs, "r");
        assert_eq!(plan.report.outcome, Outcome::Failed, "{field}");
        assert!(plan.steps.is_empty(), "{field}");
        assert!(plan.report.reason.unwrap().contains("not rolled back"), "{field}");
    }
    obs.last_good = Some(crate::records::DeployRecord {
        app: "payments".into(),
        ..good.clone()
    });
    assert_eq!(
        plan_app(&app(), &rollback(None), &obs, "r").report.outcome,
        Outcome::Failed
    );
    // Nor to a revision the deployer did not register, one running another image than recorded,
    // or one ECS no longer describes.
    obs.last_good = Some(good.clone());
    let mut unmanaged = described.clone();
    unmanaged.tags.clear();
    let mut other_image = described.clone();
    other_image.definition.container_definitions =
        full_revision("orders", 1, &pinned(2)).definition.container_definitions;
    for (why, revision) in [
        ("ecs-deployer:managed", Some(unmanaged)),
        ("not the recorded image", Some(other_image)),
        ("no longer describes", None),
    ] {
        obs.rollback_to = revision;
        let plan = plan_app(&app(), &rollback(None), &obs, "r");
        assert_eq!(plan.report.outcome, Outcome::Failed, "{why}");
        assert!(
            plan.report.reason.as_deref().unwrap().contains(why),
            "{why}: {:?}",
            plan.report.reason
        );
    }
    obs.rollback_to = None;
    obs.last_good = Some(good.clone());
    good.new_task_definition = None;
    obs.last_good = None;

    obs.family_revisions = vec![(
        3,
        "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/orders:3".into(),
    )];
    let plan = plan_app(&app(), &rollback(None), &obs, "r");
    assert_eq!(plan.report.outcome, Outcome::Failed);

    let plan = plan_app(&app(), &rollback(Some(7)), &obs, "r");
    assert!(plan.report.reason.unwrap().contains("orders:7 does not exist"));

    obs.rollback_to = Some(full_revision("orders", 1, &pinned(1)));
    let plan = plan_app(&app(), &rollback(Some(1)), &obs, "r");
    assert_eq!(plan.report.image.as_deref(), Some(pinned(1).as_str()));
    assert_eq!(plan.steps.len(), 1);
}
