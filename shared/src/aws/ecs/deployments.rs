//! ECS's service deployments API: what a deployment of any strategy (rolling, blue/green,
//! linear, canary) is doing, stage by stage (`ListServiceDeployments`,
//! `DescribeServiceDeployments`, `DescribeServiceRevisions`). `DescribeServices` documents a
//! `rolloutState` for rolling updates only; this API says of every strategy whether it bakes,
//! waits at a lifecycle hook, rolls back or succeeded.

use std::time::SystemTime;

use aws_sdk_ecs::types::CreatedAt;

use crate::aws::arn::short_name;
use crate::aws::pace::{Ecs, EcsBucket};
use crate::aws::AwsError;

/// `DescribeServiceDeployments` and `DescribeServiceRevisions` take at most this many ARNs.
pub const DESCRIBE_BATCH: usize = 20;

/// A lifecycle hook of a service deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hook {
    /// The hook's id.
    pub id: String,
    /// `IN_PROGRESS`, `AWAITING_ACTION` (a pause hook waiting for `ContinueServiceDeployment`),
    /// `SUCCEEDED`, `FAILED` or `TIMED_OUT`.
    pub status: String,
    /// When ECS stops waiting (RFC 3339), for a hook awaiting action.
    pub expires_at: Option<String>,
    /// What ECS does then: `CONTINUE` or `ROLLBACK`.
    pub timeout_action: Option<String>,
}

/// One service deployment, with the task definition of the revision it rolls out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceDeployment {
    /// Its ARN.
    pub arn: String,
    /// `PENDING`, `IN_PROGRESS`, `SUCCESSFUL`, `STOP_REQUESTED`, `STOPPED`,
    /// `ROLLBACK_REQUESTED`, `ROLLBACK_IN_PROGRESS`, `ROLLBACK_SUCCESSFUL` or `ROLLBACK_FAILED`.
    pub status: String,
    /// ECS's reason for the status.
    pub status_reason: String,
    /// The stage it is in (`SCALE_UP`, `TEST_TRAFFIC_SHIFT`, `PRODUCTION_TRAFFIC_SHIFT`,
    /// `BAKE_TIME`, `CLEAN_UP`, ...); empty when ECS names none.
    pub lifecycle_stage: String,
    /// The task definition of the revision it rolls out.
    pub task_definition: String,
    /// The bake time its deployment configuration asks for.
    pub bake_minutes: Option<i32>,
    /// When ECS created it.
    pub created_at: Option<SystemTime>,
    /// When ECS last changed it.
    pub updated_at: Option<SystemTime>,
    /// Its lifecycle hooks, as ECS reports them.
    pub hooks: Vec<Hook>,
    /// Why ECS rolls it back, when it does.
    pub rollback_reason: Option<String>,
}

/// True when `err` says the endpoint has no such operation (an emulator, a partition without
/// the API): the caller then reads `DescribeServices` alone.
pub fn unavailable(err: &AwsError) -> bool {
    matches!(
        err.code.as_deref(),
        Some("UnknownOperationException" | "InvalidAction" | "NotImplemented")
    ) || err.message.contains("not yet implemented")
        || err.message.contains("has not been implemented")
}

/// The service's deployments created at or after `since`, newest first, each with its target
/// revision's task definition. `Ok(None)` when the endpoint has no service deployments API.
pub async fn created_since(
    client: &Ecs,
    cluster: &str,
    service: &str,
    since: SystemTime,
) -> Result<Option<Vec<ServiceDeployment>>, AwsError> {
    let label = format!("{}/{}", short_name(cluster), short_name(service));
    let mut arns = Vec::new();
    let mut token = None;
    loop {
        client.paced(EcsBucket::ServiceReads).await;
        let page = client
            .list_service_deployments()
            .cluster(cluster)
            .service(service)
            .created_at(CreatedAt::builder().after(since.into()).build())
            .set_next_token(token)
            .send()
            .await;
        client.heard(EcsBucket::ServiceReads, &page);
        let page = match page {
            Ok(page) => page,
            Err(e) => {
                let err = AwsError::from_sdk("ECS", "ListServiceDeployments", &label, e);
                return if unavailable(&err) { Ok(None) } else { Err(err) };
            }
        };
        arns.extend(
            page.service_deployments()
                .iter()
                .filter_map(|d| d.service_deployment_arn().map(str::to_owned)),
        );
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let mut found = Vec::new();
    for chunk in arns.chunks(DESCRIBE_BATCH) {
        found.extend(describe(client, chunk, &label).await?);
    }
    found.sort_by_key(|d| std::cmp::Reverse(d.created_at));
    Ok(Some(found))
}

/// Describes service deployments by ARN (at most [`DESCRIBE_BATCH`]), with their target
/// revisions' task definitions.
pub async fn describe(client: &Ecs, arns: &[String], label: &str) -> Result<Vec<ServiceDeployment>, AwsError> {
    if arns.is_empty() {
        return Ok(Vec::new());
    }
    client.paced(EcsBucket::ServiceReads).await;
    let output = client
        .describe_service_deployments()
        .set_service_deployment_arns(Some(arns.to_vec()))
        .send()
        .await;
    client.heard(EcsBucket::ServiceReads, &output);
    let output = output.map_err(|e| AwsError::from_sdk("ECS", "DescribeServiceDeployments", label, e))?;
    let mut deployments: Vec<(ServiceDeployment, Option<String>)> = output
        .service_deployments()
        .iter()
        .map(|d| {
            let configuration = d.deployment_configuration();
            (
                ServiceDeployment {
                    arn: d.service_deployment_arn().unwrap_or_default().to_owned(),
                    status: d.status().map(|s| s.as_str().to_owned()).unwrap_or_default(),
                    status_reason: d.status_reason().unwrap_or_default().to_owned(),
                    lifecycle_stage: d.lifecycle_stage().map(|s| s.as_str().to_owned()).unwrap_or_default(),
                    task_definition: String::new(),
                    bake_minutes: configuration.and_then(|c| c.bake_time_in_minutes()),
                    created_at: d.created_at().and_then(|t| SystemTime::try_from(*t).ok()),
                    updated_at: d.updated_at().and_then(|t| SystemTime::try_from(*t).ok()),
                    hooks: d
                        .lifecycle_hook_details()
                        .iter()
                        .map(|h| Hook {
                            id: h.hook_id().unwrap_or_default().to_owned(),
                            status: h.status().map(|s| s.as_str().to_owned()).unwrap_or_default(),
                            expires_at: h
                                .expires_at()
                                .and_then(|t| t.fmt(aws_sdk_ecs::primitives::DateTimeFormat::DateTime).ok()),
                            timeout_action: h.timeout_action().map(|a| a.as_str().to_owned()),
                        })
                        .collect(),
                    rollback_reason: d.rollback().and_then(|r| r.reason()).map(str::to_owned),
                },
                d.target_service_revision().and_then(|r| r.arn()).map(str::to_owned),
            )
        })
        .collect();
    let revisions: Vec<String> = deployments.iter().filter_map(|(_, r)| r.clone()).collect();
    if !revisions.is_empty() {
        client.paced(EcsBucket::ServiceReads).await;
        let output = client
            .describe_service_revisions()
            .set_service_revision_arns(Some(revisions))
            .send()
            .await;
        client.heard(EcsBucket::ServiceReads, &output);
        let output = output.map_err(|e| AwsError::from_sdk("ECS", "DescribeServiceRevisions", label, e))?;
        for (deployment, revision) in &mut deployments {
            if let Some(found) = output
                .service_revisions()
                .iter()
                .find(|r| r.service_revision_arn() == revision.as_deref())
            {
                deployment.task_definition = found.task_definition().unwrap_or_default().to_owned();
            }
        }
    }
    Ok(deployments.into_iter().map(|(d, _)| d).collect())
}

/// Answers a lifecycle hook awaiting action: `CONTINUE` lets the deployment go on, `ROLLBACK`
/// rolls it back (`ContinueServiceDeployment`).
pub async fn continue_deployment(client: &Ecs, arn: &str, hook_id: &str, roll_back: bool) -> Result<(), AwsError> {
    use aws_sdk_ecs::types::DeploymentLifecycleHookAction as Action;
    client.paced(EcsBucket::ServiceWrites).await;
    let output = client
        .continue_service_deployment()
        .service_deployment_arn(arn)
        .hook_id(hook_id)
        .action(if roll_back { Action::Rollback } else { Action::Continue })
        .send()
        .await;
    client.heard(EcsBucket::ServiceWrites, &output);
    output
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("ECS", "ContinueServiceDeployment", arn, e))
}

/// Stops a service deployment still in progress and has ECS roll the service back to the
/// revision it ran before (`StopServiceDeployment`, `ROLLBACK`).
pub async fn stop_with_rollback(client: &Ecs, arn: &str) -> Result<(), AwsError> {
    use aws_sdk_ecs::types::StopServiceDeploymentStopType as StopType;
    client.paced(EcsBucket::ServiceWrites).await;
    let output = client
        .stop_service_deployment()
        .service_deployment_arn(arn)
        .stop_type(StopType::Rollback)
        .send()
        .await;
    client.heard(EcsBucket::ServiceWrites, &output);
    output
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("ECS", "StopServiceDeployment", arn, e))
}
