//! The promotion rule ([`super::decide`]), from hand-made records.

use super::*;
use crate::records::DeployRecord;
use crate::testing::{deploy_record, digest};

/// A deploy record; with `promoted_from`, a promotion named by that source deploy.
fn record(id: &str, outcome: DeployOutcome, digest: &str, ended: &str, promoted_from: Option<&str>) -> DeployRecord {
    let mut record = deploy_record(id, outcome, digest, ended);
    if let Some(source) = promoted_from {
        record.trigger = Trigger {
            kind: TriggerKind::Promotion,
            id: source.into(),
            by: None,
        };
    }
    record
}

fn index(records: Vec<DeployRecord>) -> DeployIndex {
    DeployIndex { records }
}

fn at(text: &str) -> SystemTime {
    parse_time(text).unwrap()
}

#[test]
fn a_completed_deploy_is_promoted_after_its_soak_and_once() {
    let staging = index(vec![record(
        "push-2",
        DeployOutcome::Completed,
        &digest(2),
        "2026-12-01T10:00:00Z",
        None,
    )]);
    let prod = DeployIndex::default();
    let soak = Duration::from_secs(30 * 60);
    let decide_at = |now, prod: &DeployIndex| decide("staging", &staging, prod, Wanted::Auto, soak, at(now)).unwrap();
    assert_eq!(
        decide_at("2026-12-01T10:10:00Z", &prod),
        Decision::Soaking {
            digest: digest(2),
            until: "2026-12-01T10:30:00Z".into()
        }
    );
    assert_eq!(
        decide_at("2026-12-01T10:30:00Z", &prod),
        Decision::Promote {
            digest: digest(2),
            source_deploy: "push-2".into(),
            completed_at: "2026-12-01T10:00:00Z".into()
        }
    );
    // Once the promotion is recorded in prod, it is not started again.
    let promoted = index(vec![record(
        "promotion-1",
        DeployOutcome::InProgress,
        &digest(2),
        "2026-12-01T10:31:00Z",
        Some("push-2"),
    )]);
    assert!(
        matches!(decide_at("2026-12-01T11:00:00Z", &promoted), Decision::Nothing(r) if r.contains("already promoted"))
    );
}

#[test]
fn a_promotion_that_never_started_is_tried_again_one_that_started_is_not() {
    let staging = index(vec![record(
        "push-2",
        DeployOutcome::Completed,
        &digest(2),
        "2026-12-01T10:00:00Z",
        None,
    )]);
    let now = at("2026-12-01T11:00:00Z");
    let mut refused = record(
        "promotion-1",
        DeployOutcome::Failed,
        &digest(2),
        "2026-12-01T10:01:00Z",
        Some("push-2"),
    );
    let decision = decide(
        "staging",
        &staging,
        &index(vec![refused.clone()]),
        Wanted::Auto,
        Duration::ZERO,
        now,
    )
    .unwrap();
    assert!(matches!(decision, Decision::Promote { .. }), "{decision:?}");
    // Started (ECS took it) and then failed: not promoted again by the rule.
    refused.ecs_deployment_id = Some("ecs-svc/1".into());
    let decision = decide(
        "staging",
        &staging,
        &index(vec![refused]),
        Wanted::Auto,
        Duration::ZERO,
        now,
    )
    .unwrap();
    assert!(
        matches!(&decision, Decision::Nothing(r) if r.contains("already promoted")),
        "{decision:?}"
    );
}

#[test]
fn failed_and_superseded_source_deploys_promote_nothing() {
    let now = at("2026-12-01T12:00:00Z");
    let prod = DeployIndex::default();
    let good = record(
        "push-1",
        DeployOutcome::Completed,
        &digest(1),
        "2026-12-01T09:00:00Z",
        None,
    );
    for (newest, says) in [
        (DeployOutcome::Failed, "ended failed"),
        (DeployOutcome::RolledBack, "ended rolled_back"),
        (DeployOutcome::InProgress, "once that deploy completes"),
        (DeployOutcome::Superseded, "ended superseded"),
    ] {
        let staging = index(vec![
            record("push-2", newest, &digest(2), "2026-12-01T10:00:00Z", None),
            good.clone(),
        ]);
        let decision = decide("staging", &staging, &prod, Wanted::Auto, Duration::ZERO, now).unwrap();
        assert!(
            matches!(&decision, Decision::Nothing(r) if r.contains(says)),
            "{newest:?}: {decision:?}"
        );
    }
    // A payload may still promote the last completed one, or name it.
    let staging = index(vec![
        record(
            "push-2",
            DeployOutcome::Failed,
            &digest(2),
            "2026-12-01T10:00:00Z",
            None,
        ),
        good,
    ]);
    for wanted in [Wanted::LastCompleted, Wanted::Digest(&digest(1))] {
        assert!(matches!(
            decide("staging", &staging, &prod, wanted, Duration::ZERO, now).unwrap(),
            Decision::Promote { digest: d, .. } if d == digest(1)
        ));
    }
    let refused = decide(
        "staging",
        &staging,
        &prod,
        Wanted::Digest(&digest(2)),
        Duration::ZERO,
        now,
    )
    .unwrap_err();
    assert!(refused.contains("never completed in `staging`"), "{refused}");
}
