//! Deploy records: what each deploy was, and how it ended. A deploy does not end at
//! `UpdateService`; it ends when ECS says so (an `ECS Deployment State Change` event, or the
//! settle run asking `DescribeServices` when no event came).
//!
//! One object per deploy (`deploys/<app>/<id>.json`) plus a small per-app index
//! (`deploys/<app>/index.json`, the newest [`KEPT_IN_INDEX`] records) in the state bucket. The
//! index is the truth: every change to it is a conditional write (read, change, write only if
//! the object is still the one read), so the event handler, the settle run and a new deploy
//! never lose each other's update; the per-deploy object is a copy written after it.
//!
//! [`DeployIndex`]'s methods decide the transitions (pure, unit-tested); [`store`] reads and
//! writes.

pub mod dora;
mod gate;
mod settle;
pub mod store;
#[cfg(test)]
mod tests;
mod trigger;

pub use gate::GateProgress;
pub use settle::{deployment_of, NativeProgress, PausedHook};

use std::time::SystemTime;

use aws_sdk_s3::primitives::{DateTime, DateTimeFormat as Format};
use serde::{Deserialize, Serialize};

pub use store::{RecordStore, VersionedIndex, INVALID_INDEX};
pub use trigger::{deploy_id, fnv1a, Trigger, TriggerKind};

/// Records kept in an application's index (older ones stay in their own objects).
pub const KEPT_IN_INDEX: usize = 20;

/// How a deploy stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployOutcome {
    /// ECS is rolling it out (or the deployer has not heard the end yet).
    InProgress,
    /// ECS finished the rollout: the service runs the new revision.
    Completed,
    /// The deploy failed: the deployer could not start it, or ECS failed it without a rollback.
    Failed,
    /// ECS failed it and rolled the service back (circuit breaker, alarms, or the deployment
    /// strategy). A failure.
    RolledBack,
    /// A newer deploy of the application started before this one ended.
    Superseded,
    /// No end was heard within the settle time and ECS still reported it in progress.
    TimedOut,
}

impl DeployOutcome {
    /// True when nothing more is expected to happen to the deploy. `timed_out` is an end, but a
    /// later word from ECS still corrects it.
    pub fn is_end(self) -> bool {
        self != DeployOutcome::InProgress
    }

    /// Its name as records and answers spell it (`in_progress`, `rolled_back`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            DeployOutcome::InProgress => "in_progress",
            DeployOutcome::Completed => "completed",
            DeployOutcome::Failed => "failed",
            DeployOutcome::RolledBack => "rolled_back",
            DeployOutcome::Superseded => "superseded",
            DeployOutcome::TimedOut => "timed_out",
        }
    }

    /// True for the outcomes that are failures (`failed`, `rolled_back`, `timed_out`).
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            DeployOutcome::Failed | DeployOutcome::RolledBack | DeployOutcome::TimedOut
        )
    }
}

/// One deploy of one application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployRecord {
    /// Stable id: the same trigger and application always give the same id.
    pub id: String,
    /// Application name.
    pub app: String,
    /// ECS cluster (as configured).
    pub cluster: String,
    /// ECS service (as configured).
    pub service: String,
    /// The service's account, when the application reaches it through a role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The service's region, when the application names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// What started it.
    pub trigger: Trigger,
    /// The tag deployed, when the deploy followed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The digest deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The image deployed (digest-pinned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Each container's image in the new revision, for an application with `containers`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub images: std::collections::BTreeMap<String, String>,
    /// The revision the service ran before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_task_definition: Option<String>,
    /// The revision deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_task_definition: Option<String>,
    /// The ECS deployment that rolls it out (`ecs-svc/...`); none when ECS was never asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecs_deployment_id: Option<String>,
    /// True when ECS rolls the service back by itself on failure (circuit breaker or alarms
    /// with rollback, or a blue/green, linear or canary strategy).
    #[serde(default)]
    pub rolls_back_on_failure: bool,
    /// When the deployer started it (RFC 3339).
    pub started_at: String,
    /// When it ended (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// How it stands.
    pub outcome: DeployOutcome,
    /// Why it ended as it did (ECS's reason for a failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The template the new revision was built from: the revision registered outside the
    /// deployer (Terraform's) whose shape it copies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// What happened on the way that did not end the deploy: a warning ECS sent
    /// (`SERVICE_TASK_START_IMPAIRED`), a protecting tag the repository would not move.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// What ECS's service deployments API last said of the deploy's service deployment (its
    /// status, lifecycle stage and hooks waiting), when the settle run asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native: Option<NativeProgress>,
    /// Its gate task (`before_deploy`), when the application has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<GateProgress>,
}

/// Characters a stored reason or note keeps (AWS's error texts and ECS's reasons can be long).
pub const MAX_REASON_CHARS: usize = 1000;
/// Notes a record keeps (the oldest go first).
pub const MAX_NOTES: usize = 20;

/// `text` cut to `max` characters (an ellipsis says it was).
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

impl DeployRecord {
    /// Cuts the free texts it stores (the reason, the notes) to their bounds.
    pub fn cut_texts(&mut self) {
        if let Some(reason) = &mut self.reason {
            *reason = cut(reason, MAX_REASON_CHARS);
        }
        let drop = self.notes.len().saturating_sub(MAX_NOTES);
        self.notes.drain(..drop);
        for note in &mut self.notes {
            *note = cut(note, MAX_REASON_CHARS);
        }
    }

    /// Seconds from start to end (or to `now` while in progress).
    pub fn duration_seconds(&self, now: SystemTime) -> Option<u64> {
        let start = parse_time(&self.started_at)?;
        let end = match &self.ended_at {
            Some(at) => parse_time(at)?,
            None => now,
        };
        Some(end.duration_since(start).unwrap_or_default().as_secs())
    }
}

/// A record that moved: the record as it is now and the outcome it had before (none: new).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The record after the change.
    pub record: DeployRecord,
    /// Its outcome before; none when the record is new.
    pub from: Option<DeployOutcome>,
    /// A step of a deploy still in progress that is published (`Deploy Live`, `Deploy Paused`);
    /// none for an outcome's change or a change nobody needs to hear of.
    pub milestone: Option<Milestone>,
}

/// A step of a deploy in progress worth an event of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Milestone {
    /// Production traffic has shifted to the new revision (ECS's lifecycle stage is past
    /// `PRODUCTION_TRAFFIC_SHIFT`); the deploy may still bake or roll back.
    Live,
    /// ECS waits at a pause hook for `ContinueServiceDeployment`.
    Paused,
}

/// What ECS said of a deployment, from an event or from `DescribeServices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EcsWord {
    /// The deployment is rolling out.
    InProgress,
    /// The deployment completed.
    Completed,
    /// The deployment failed, for this reason.
    Failed(String),
}

/// One application's recent deploys, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployIndex {
    /// The newest records, newest first (at most [`KEPT_IN_INDEX`]).
    pub records: Vec<DeployRecord>,
}

impl DeployIndex {
    /// Changes the index with `change` and bounds the free texts of what it stores and of the
    /// changes (see [`DeployRecord::cut_texts`]): every change to an index goes through here.
    pub fn apply(&mut self, change: impl Fn(&mut DeployIndex) -> Vec<Change>) -> Vec<Change> {
        let mut changes = change(self);
        if !changes.is_empty() {
            self.records.iter_mut().for_each(DeployRecord::cut_texts);
            changes.iter_mut().for_each(|c| c.record.cut_texts());
        }
        changes
    }

    /// The record with this id.
    pub fn get(&self, id: &str) -> Option<&DeployRecord> {
        self.records.iter().find(|r| r.id == id)
    }

    /// The digests of `repository` in use to protect in ECR: the newest completed deploy's
    /// (`live`) and the newest completed one before it with another digest (`prev`, where a
    /// rollback goes). Deploys of another repository (an application's `containers` may follow
    /// several) are not its.
    pub fn protected_digests(&self, repository: &str) -> (Option<&str>, Option<&str>) {
        let of_repository = |r: &&DeployRecord| {
            r.image
                .as_deref()
                .is_none_or(|image| crate::aws::ecr::ImageRef::parse(image).repository == repository)
        };
        let mut completed = self
            .records
            .iter()
            .filter(|r| r.outcome == DeployOutcome::Completed)
            .filter(of_repository)
            .filter_map(|r| r.digest.as_deref());
        let live = completed.next();
        let prev = completed.find(|d| Some(*d) != live);
        (live, prev)
    }

    /// The revisions of the completed deploys, newest first.
    pub fn completed_revisions(&self) -> Vec<String> {
        self.records
            .iter()
            .filter(|r| r.outcome == DeployOutcome::Completed)
            .filter_map(|r| r.new_task_definition.clone())
            .collect()
    }

    /// The deploy in progress, if any.
    pub fn in_progress(&self) -> Option<&DeployRecord> {
        self.records.iter().find(|r| r.outcome == DeployOutcome::InProgress)
    }

    /// The newest completed deploy whose revision is not `except` (the one running now): the
    /// last good revision to go back to.
    pub fn last_good_except(&self, except: &str) -> Option<&DeployRecord> {
        self.records.iter().find(|r| {
            r.outcome == DeployOutcome::Completed && r.new_task_definition.as_deref().is_some_and(|td| td != except)
        })
    }

    /// Records that a deploy started (ECS accepted the new revision). The same id again (a
    /// retry of the same trigger) updates that record instead of adding one; any other deploy
    /// still in progress is superseded.
    pub fn start(&mut self, record: DeployRecord) -> Vec<Change> {
        let mut changes = Vec::new();
        for other in self.records.iter_mut().filter(|r| r.id != record.id) {
            if matches!(other.outcome, DeployOutcome::InProgress | DeployOutcome::TimedOut) {
                let from = other.outcome;
                other.outcome = DeployOutcome::Superseded;
                other.ended_at = Some(record.started_at.clone());
                other.reason = Some(format!("deploy {} started", record.id));
                changes.push(Change {
                    record: other.clone(),
                    from: Some(from),
                    milestone: None,
                });
            }
        }
        match self.records.iter_mut().find(|r| r.id == record.id) {
            // ECS already ended this deploy: a late retry of its trigger changes nothing.
            Some(existing) if existing.ecs_deployment_id.is_some() && existing.outcome.is_end() => {}
            Some(existing) => {
                let from = existing.outcome;
                *existing = DeployRecord {
                    started_at: existing.started_at.clone(),
                    ..record
                };
                changes.push(Change {
                    record: existing.clone(),
                    from: Some(from),
                    milestone: None,
                });
            }
            None => {
                changes.push(Change {
                    record: record.clone(),
                    from: None,
                    milestone: None,
                });
                self.records.insert(0, record);
            }
        }
        self.records.truncate(KEPT_IN_INDEX);
        changes
    }

    /// Records a deploy the deployer could not start (ECS was never asked, or refused): a new
    /// `failed` record, unless the trigger already has one.
    pub fn fail_to_start(&mut self, record: DeployRecord) -> Vec<Change> {
        if self.get(&record.id).is_some() {
            return Vec::new();
        }
        let change = Change {
            record: record.clone(),
            from: None,
            milestone: None,
        };
        self.records.insert(0, record);
        self.records.truncate(KEPT_IN_INDEX);
        vec![change]
    }

    /// Applies what ECS said of one deployment to the record that started it. A word about a
    /// deployment no record names (a deploy by someone else, a Cloud Map registry update, the
    /// rollback deployment ECS starts by itself) or about a record already ended changes
    /// nothing, so a replayed or late event is harmless.
    pub fn hear(&mut self, deployment_id: &str, word: &EcsWord, at: &str) -> Vec<Change> {
        let Some(record) = self
            .records
            .iter_mut()
            .find(|r| r.ecs_deployment_id.as_deref() == Some(deployment_id))
        else {
            return Vec::new();
        };
        if !matches!(record.outcome, DeployOutcome::InProgress | DeployOutcome::TimedOut) {
            return Vec::new();
        }
        let (outcome, reason) = match word {
            EcsWord::InProgress => return Vec::new(),
            EcsWord::Completed => (DeployOutcome::Completed, None),
            EcsWord::Failed(reason) if record.rolls_back_on_failure || mentions_rollback(reason) => {
                (DeployOutcome::RolledBack, Some(reason.clone()))
            }
            EcsWord::Failed(reason) => (DeployOutcome::Failed, Some(reason.clone())),
        };
        let from = record.outcome;
        record.outcome = outcome;
        record.ended_at = Some(at.to_owned());
        record.reason = reason.filter(|r| !r.is_empty()).or_else(|| match outcome {
            DeployOutcome::Completed => None,
            _ => Some("ECS gave no reason".into()),
        });
        vec![Change {
            record: record.clone(),
            from: Some(from),
            milestone: None,
        }]
    }

    /// ECS says the service's tasks keep failing to start (`SERVICE_TASK_START_IMPAIRED`). It is
    /// a warning (ECS keeps trying, and may yet succeed): the deploy in progress keeps its
    /// outcome and notes it once. Only ECS's `SERVICE_DEPLOYMENT_FAILED`, the settle run or the
    /// deploy's bound end it.
    pub fn hear_tasks_impaired(&mut self, note: &str) -> Vec<Change> {
        let Some(record) = self.records.iter_mut().find(|r| r.outcome == DeployOutcome::InProgress) else {
            return Vec::new();
        };
        if record.notes.iter().any(|n| n == note) {
            return Vec::new();
        }
        record.notes.push(note.to_owned());
        vec![Change {
            record: record.clone(),
            from: Some(DeployOutcome::InProgress),
            milestone: None,
        }]
    }

    /// Adds a note to a deploy (once); no change when it is already there or the deploy is gone.
    pub fn note(&mut self, id: &str, note: &str) -> Vec<Change> {
        let Some(record) = self.records.iter_mut().find(|r| r.id == id) else {
            return Vec::new();
        };
        if record.notes.iter().any(|n| n == note) {
            return Vec::new();
        }
        record.notes.push(note.to_owned());
        vec![Change {
            record: record.clone(),
            from: Some(record.outcome),
            milestone: None,
        }]
    }
}

pub(crate) fn mentions_rollback(reason: &str) -> bool {
    let reason = reason.to_ascii_lowercase();
    reason.contains("rolling back") || reason.contains("rolled back") || reason.contains("rollback")
}

/// `now` as RFC 3339 (seconds).
pub fn format_time(at: SystemTime) -> String {
    DateTime::from(at)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

/// An RFC 3339 time, or none when it does not parse.
pub fn parse_time(text: &str) -> Option<SystemTime> {
    DateTime::from_str(text, Format::DateTime)
        .ok()
        .and_then(|t| SystemTime::try_from(t).ok())
}
