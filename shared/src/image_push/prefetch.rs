//! What a deploy's writes start from, read beside the reads that plan it, so that none costs a
//! round trip of its own: each application's deploy index and lease, read beside
//! `DescribeServices` ([`read`]), and the lease taken beside the task-definition and image reads
//! ([`take`], one conditional write) when the index says the deploy will likely write.
//!
//! A replay, or a push of the digest the newest deploy brought, usually changes nothing and must
//! write nothing: when the service runs the revision a recorded deploy of that very digest
//! registered, the index answers `unchanged` with no further read ([`answered_by_records`]);
//! otherwise, and without records, the lease is taken after planning, only if the plan writes.

use futures::stream::{self, StreamExt};

use super::apply::{lease_purpose, LeaseStart};
use super::{Clients, Goal, Outcome, Plan, Report};
use crate::aws::ecs::ServiceState;
use crate::input::config::AppConfig;
use crate::input::events::DeployTarget;
use crate::job::Settings;
use crate::lease;
use crate::records::{deploy_id, DeployIndex, Trigger, VersionedIndex, INVALID_INDEX};

/// One application's prefetched state.
#[derive(Debug, Default)]
pub(crate) struct Prefetched {
    /// Its deploy index (none: not kept, a dry run, or the read failed, and the write reads).
    pub index: Option<VersionedIndex>,
    /// Its lease: taken, or as read.
    pub lease: LeaseStart,
}

/// The digest a goal names outright (a push, or a manual deploy of a digest).
fn named_digest(goal: &Goal) -> Option<&str> {
    match goal {
        Goal::Push { digest, .. } | Goal::Manual(DeployTarget::Digest(digest)) => Some(digest),
        _ => None,
    }
}

/// True when the index says this deploy likely changes nothing: it recorded this very deploy
/// (`owner`) already, or its newest deploy brought the digest the goal names.
fn likely_unchanged(index: &DeployIndex, goal: &Goal, owner: &str) -> bool {
    index.get(owner).is_some()
        || named_digest(goal)
            .is_some_and(|digest| index.records.first().and_then(|r| r.digest.as_deref()) == Some(digest))
}

/// The answer the records give without another read (pure): `unchanged` when `service` runs the
/// very revision a recorded deploy of the goal's digest registered (a task definition never
/// changes, so that revision runs that digest). The tag's current digest is not read: a replay
/// of a push whose tag has moved on since is `unchanged`, not `stale` (neither writes).
pub(crate) fn answered_by_records(
    app: &AppConfig,
    goal: &Goal,
    service: &ServiceState,
    index: &DeployIndex,
) -> Option<Report> {
    let digest = named_digest(goal)?;
    let record = index.records.iter().find(|r| {
        r.digest.as_deref() == Some(digest)
            && r.new_task_definition.as_deref() == Some(service.task_definition.as_str())
    })?;
    Some(Report {
        old_task_definition: Some(service.task_definition.clone()),
        new_task_definition: Some(service.task_definition.clone()),
        image: record.image.clone(),
        ..Report::skipped(
            app,
            Outcome::Unchanged,
            format!(
                "{} already runs {digest} (deploy {} registered it)",
                crate::aws::arn::short_name(&service.task_definition),
                record.id
            ),
        )
    })
}

/// The digest of `app`'s repository `service` runs as the records say: that of the recorded
/// deploy that registered the revision it runs (none: no deploy recorded it, or that deploy
/// was of another repository the application's `containers` follow).
pub(crate) fn recorded_digest(app: &AppConfig, service: &ServiceState, index: &DeployIndex) -> Option<String> {
    let record = index
        .records
        .iter()
        .find(|r| r.new_task_definition.as_deref() == Some(service.task_definition.as_str()))?;
    let image = crate::aws::ecr::ImageRef::parse(record.image.as_deref()?);
    (image.repository == app.repository)
        .then(|| record.digest.clone())
        .flatten()
}

/// What [`read`] found for one application.
#[derive(Debug, Default)]
pub(crate) struct Reads {
    /// Its deploy index (none: not kept, a dry run, or the read failed).
    pub index: Option<VersionedIndex>,
    /// Why the index object cannot be trusted (too large, not an index): the application is not
    /// deployed on it. Any other failure to read it is left to the record's write.
    pub unusable: Option<crate::aws::AwsError>,
    /// Its lease as it was.
    pub seen: Option<lease::Seen>,
}

impl Reads {
    /// The plan these reads decide with no other read: a failure when the index cannot be
    /// trusted (it steers nothing: the deploy waits for it to be repaired), `unchanged` when the
    /// records answer a replay ([`answered_by_records`], or deploy `deploy_id` already ran its
    /// gate task: [`super::gate::recorded`]); none otherwise.
    pub(crate) fn answer(
        &self,
        app: &AppConfig,
        goal: &Goal,
        service: Option<&ServiceState>,
        deploy_id: &str,
    ) -> Option<Plan> {
        if let Some(err) = &self.unusable {
            let reason = format!(
                "the deploy index cannot be used ({err}): nothing is deployed on it; repair or remove the object"
            );
            return Some(Plan::nothing(Report::skipped(app, Outcome::Failed, reason)));
        }
        let read = self.index.as_ref()?;
        if let Some(report) = super::gate::recorded(app, &read.index, deploy_id) {
            return Some(Plan::nothing(report));
        }
        let service = service?;
        let report = answered_by_records(app, goal, service, &read.index)?;
        Some(Plan {
            observed_task_definition: Some(service.task_definition.clone()),
            ..Plan::nothing(report)
        })
    }

    /// The digest `service` runs as the records say (see [`recorded_digest`]).
    pub(crate) fn runs(&self, app: &AppConfig, service: Option<&ServiceState>) -> Option<String> {
        recorded_digest(app, service?, &self.index.as_ref()?.index)
    }
}

/// Reads each application's deploy index and lease at once (nothing in a dry run).
pub(crate) async fn read(clients: &Clients, settings: &Settings, apps: &[&AppConfig], dry_run: bool) -> Vec<Reads> {
    stream::iter(apps.iter().map(|app| async move {
        if dry_run {
            return Reads::default();
        }
        let index = async {
            match &settings.records {
                Some(store) => Some(store.read_versioned(&clients.s3, &app.name).await),
                None => None,
            }
        };
        let seen = async {
            match &settings.lease {
                Some(leases) => lease::peek(&clients.s3, leases, &leases.key_of(app)).await.ok(),
                None => None,
            }
        };
        let (index, seen) = tokio::join!(index, seen);
        match index {
            Some(Err(err)) if matches!(err.code.as_deref(), Some("EntityTooLarge" | INVALID_INDEX)) => Reads {
                unusable: Some(err),
                seen,
                ..Reads::default()
            },
            index => Reads {
                index: index.and_then(Result::ok),
                seen,
                ..Reads::default()
            },
        }
    }))
    .buffered(settings.concurrency.max(1))
    .collect()
    .await
}

/// Takes each application's lease when its index says the deploy will likely write (see the
/// module's documentation); `observed_at` is when the service reads began.
#[allow(clippy::too_many_arguments)] // the deploy's context, passed down once
pub(crate) async fn take(
    clients: &Clients,
    settings: &Settings,
    apps: &[&AppConfig],
    reads: Vec<Reads>,
    goal: &Goal,
    trigger: &Trigger,
    observed_at: u64,
    dry_run: bool,
) -> Vec<Prefetched> {
    stream::iter(apps.iter().zip(reads).map(|(app, reads)| async move {
        let mut prefetched = Prefetched::default();
        if dry_run {
            return prefetched;
        }
        prefetched.lease.observed_at = Some(observed_at);
        let owner = deploy_id(trigger, &app.name);
        let speculate = reads
            .index
            .as_ref()
            .is_some_and(|read| !likely_unchanged(&read.index, goal, &owner));
        match &settings.lease {
            Some(leases) if speculate => {
                let key = leases.key_of(app);
                let purpose = lease_purpose(app, goal);
                let taken = lease::acquire_seen(
                    &clients.s3,
                    leases,
                    &key,
                    &owner,
                    &purpose,
                    reads.seen,
                    Some(observed_at),
                );
                prefetched.lease.taken = Some(taken.await);
            }
            _ => prefetched.lease.seen = reads.seen,
        }
        prefetched.index = reads.index;
        prefetched
    }))
    .buffered(settings.concurrency.max(1))
    .collect()
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::DeployOutcome;
    use crate::testing::{app, deploy_record, digest, service};

    const RUNNING: &str = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/orders:7";

    fn push(n: u8) -> Goal {
        Goal::Push {
            tag: "latest".into(),
            digest: digest(n),
            happened_at: None,
        }
    }

    /// An index whose one deploy brought digest `n` as `revision`.
    fn index_with(n: u8, revision: &str) -> DeployIndex {
        let mut record = deploy_record("push-1", DeployOutcome::Completed, &digest(n), "2026-12-06T10:00:00Z");
        record.new_task_definition = Some(revision.into());
        DeployIndex { records: vec![record] }
    }

    #[test]
    fn the_records_answer_a_push_of_the_digest_the_running_revision_was_registered_for() {
        let found = answered_by_records(&app(), &push(2), &service(RUNNING), &index_with(2, RUNNING)).unwrap();
        assert_eq!(found.outcome, Outcome::Unchanged);
        assert_eq!(found.new_task_definition.as_deref(), Some(RUNNING));
        assert!(found.reason.unwrap().contains("deploy push-1 registered it"));
        let manual = Goal::Manual(DeployTarget::Digest(digest(2)));
        assert!(answered_by_records(&app(), &manual, &service(RUNNING), &index_with(2, RUNNING)).is_some());
    }

    #[test]
    fn the_records_do_not_answer_when_the_service_runs_another_revision_or_the_digest_is_another() {
        let other = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/orders:6";
        // Rolled back by ECS, or changed by hand: the full reads decide.
        assert!(answered_by_records(&app(), &push(2), &service(other), &index_with(2, RUNNING)).is_none());
        // A new digest.
        assert!(answered_by_records(&app(), &push(3), &service(RUNNING), &index_with(2, RUNNING)).is_none());
        // A tag or a rollback names no digest.
        let tag = Goal::Manual(DeployTarget::Tag("latest".into()));
        assert!(answered_by_records(&app(), &tag, &service(RUNNING), &index_with(2, RUNNING)).is_none());
        let rollback = Goal::Rollback {
            revision: None,
            force: false,
        };
        assert!(answered_by_records(&app(), &rollback, &service(RUNNING), &index_with(2, RUNNING)).is_none());
        assert!(answered_by_records(&app(), &push(2), &service(RUNNING), &DeployIndex::default()).is_none());
    }
}
