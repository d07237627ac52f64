//! What image-push answers: one report per application, with how it ended.

use serde::Serialize;

use crate::input::config::AppConfig;

/// How one application ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The service now runs the new (or rolled-back) revision.
    Deployed,
    /// Dry run: the actions listed would have been taken.
    Planned,
    /// The service already runs the image (or revision): nothing to do.
    Unchanged,
    /// The event is older than what ECR or the service hold now: skipped.
    Stale,
    /// Nothing follows this image, or the event is not a successful push.
    Ignored,
    /// Something went wrong; `reason` says what, and the service is left on a working revision.
    Failed,
    /// An ECS event or the settle run moved a deploy's record (`actions` says how).
    Followed,
    /// A `status` answer (`status` holds it).
    Status,
    /// A promotion waits for an `approve` payload naming its digest.
    Pending,
    /// The pushed image has not reached the replica the service pulls from: nothing changed,
    /// and not a failure; the replica's `ECR Replication Action` event or the settle run
    /// deploys it.
    Waiting,
    /// AWS throttled a call past its retries (other clients share the account's ECS buckets):
    /// nothing failed and nothing is recorded as failed; the invocation ends `Deferred`, so
    /// Lambda's retry of the event does it.
    Deferred,
    /// The new revision is registered and its gate task (`before_deploy`) runs: the service is
    /// updated when the task's container exits 0 (its `ECS Task State Change` event, or the
    /// settle run), and the deploy fails, the service untouched, otherwise.
    Gated,
    /// Sent to the deploy queue (a push to more than `inline_max` applications): the deploy
    /// worker deploys it.
    Queued,
}

/// One entry of the response: one application (or the event, when ignored as a whole).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Application name; absent when the event as a whole was ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// `cluster/service`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// The task definition the service ran before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_task_definition: Option<String>,
    /// The task definition the service runs now (or would run, in a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_task_definition: Option<String>,
    /// The image deployed (digest-pinned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Each container's image in the new revision, for an application with `containers`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub images: std::collections::BTreeMap<String, String>,
    /// The template the new revision was built from (see [`super::template`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Why nothing was done, or what failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The planned actions, readable (`+ register ...`, `~ service ...`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    /// The deploy record this attempt wrote (see [`crate::records`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy_id: Option<String>,
    /// The gate task started before the rollout (see [`Outcome::Gated`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<Box<crate::records::GateProgress>>,
    /// The ECS deployment rolling the new revision out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ecs_deployment_id: Option<String>,
    /// A `status` answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Box<super::status::AppStatus>>,
    /// The account of the service, when the application names a role (another account).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The region of the service, when the application names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

impl Report {
    pub(crate) fn skipped(app: &AppConfig, outcome: Outcome, reason: impl Into<String>) -> Self {
        Report {
            app: Some(app.name.clone()),
            service: Some(app.service_label()),
            outcome,
            old_task_definition: None,
            new_task_definition: None,
            image: None,
            images: Default::default(),
            template: None,
            reason: Some(reason.into()),
            actions: Vec::new(),
            deploy_id: None,
            ecs_deployment_id: None,
            gate: None,
            status: None,
            account: app.account().map(str::to_owned),
            region: app.region.clone(),
        }
    }

    pub(crate) fn ignored(reason: impl Into<String>) -> Self {
        Report {
            app: None,
            service: None,
            outcome: Outcome::Ignored,
            old_task_definition: None,
            new_task_definition: None,
            image: None,
            images: Default::default(),
            template: None,
            reason: Some(reason.into()),
            actions: Vec::new(),
            deploy_id: None,
            ecs_deployment_id: None,
            gate: None,
            status: None,
            account: None,
            region: None,
        }
    }
}
