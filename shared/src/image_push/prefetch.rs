//! What a deploy's writes start from, read beside the reads that plan it, so that none costs a
//! round trip of its own: each application's deploy index and its lease, and the lease taken
//! there and then (one conditional write) when the index says the deploy will likely write.
//! A replay, or a push of the digest the newest deploy brought, usually changes nothing and
//! must write nothing: there, and without records, the lease is taken after planning, only if
//! the plan writes.

use futures::stream::{self, StreamExt};

use super::apply::{lease_purpose, LeaseStart};
use super::{Clients, Goal};
use crate::input::config::AppConfig;
use crate::input::events::DeployTarget;
use crate::job::Settings;
use crate::lease;
use crate::records::{deploy_id, DeployIndex, Trigger, VersionedIndex};

/// One application's prefetched state.
#[derive(Debug, Default)]
pub(crate) struct Prefetched {
    /// Its deploy index (none: not kept, a dry run, or the read failed, and the write reads).
    pub index: Option<VersionedIndex>,
    /// Its lease: taken, or as read.
    pub lease: LeaseStart,
}

/// True when the index says this deploy likely changes nothing: it recorded this very deploy
/// (`owner`) already, or its newest deploy brought the digest the goal names.
fn likely_unchanged(index: &DeployIndex, goal: &Goal, owner: &str) -> bool {
    let digest = match goal {
        Goal::Push { digest, .. } | Goal::Manual(DeployTarget::Digest(digest)) => Some(digest),
        _ => None,
    };
    index.get(owner).is_some()
        || digest.is_some_and(|digest| index.records.first().and_then(|r| r.digest.as_ref()) == Some(digest))
}

/// Reads each application's deploy index and lease at once and takes the lease (see the
/// module's documentation); `observed_at` is when the service reads began.
pub(crate) async fn prefetch(
    clients: &Clients,
    settings: &Settings,
    apps: &[&AppConfig],
    goal: &Goal,
    trigger: &Trigger,
    observed_at: u64,
    dry_run: bool,
) -> Vec<Prefetched> {
    stream::iter(apps.iter().map(|app| async move {
        let mut prefetched = Prefetched::default();
        if dry_run {
            return prefetched;
        }
        prefetched.lease.observed_at = Some(observed_at);
        let index = async {
            match &settings.records {
                Some(store) => store.read_versioned(&clients.s3, &app.name).await.ok(),
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
        let owner = deploy_id(trigger, &app.name);
        let speculate = index
            .as_ref()
            .is_some_and(|read| !likely_unchanged(&read.index, goal, &owner));
        match &settings.lease {
            Some(leases) if speculate => {
                let key = leases.key_of(app);
                let purpose = lease_purpose(app, goal);
                let taken = lease::acquire_seen(&clients.s3, leases, &key, &owner, &purpose, seen, Some(observed_at));
                prefetched.lease.taken = Some(taken.await);
            }
            _ => prefetched.lease.seen = seen,
        }
        prefetched.index = index;
        prefetched
    }))
    .buffered(settings.concurrency.max(1))
    .collect()
    .await
}
