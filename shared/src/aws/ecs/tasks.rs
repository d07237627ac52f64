//! Standalone tasks: a deploy's gate task run from the new revision (`RunTask` with the
//! service's network configuration), read (`DescribeTasks`) and stopped (`StopTask`).

use aws_sdk_ecs::types::{
    CapacityProviderStrategyItem, ContainerOverride, LaunchType, NetworkConfiguration, TaskOverride,
};

use super::Ecs;
use crate::aws::pace::EcsBucket;
use crate::aws::AwsError;

/// Where a service's tasks run, as a standalone task of it must run too.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskPlacement {
    /// Subnets, security groups and public IP of an `awsvpc` service.
    pub network_configuration: Option<NetworkConfiguration>,
    /// `FARGATE`, `EC2`, ... (none with a capacity provider strategy).
    pub launch_type: Option<LaunchType>,
    /// The service's capacity provider strategy (empty: none).
    pub capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
    /// The Fargate platform version.
    pub platform_version: Option<String>,
}

impl TaskPlacement {
    /// The placement of a service as `DescribeServices` answers it.
    pub fn of(service: &aws_sdk_ecs::types::Service) -> TaskPlacement {
        TaskPlacement {
            network_configuration: service.network_configuration().cloned(),
            launch_type: service.launch_type().cloned(),
            capacity_provider_strategy: service.capacity_provider_strategy().to_vec(),
            platform_version: service.platform_version().map(str::to_owned),
        }
    }
}

/// What `RunTask` starts.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRun<'a> {
    /// The cluster.
    pub cluster: &'a str,
    /// The revision run.
    pub task_definition: &'a str,
    /// Where it runs.
    pub placement: &'a TaskPlacement,
    /// The container whose command is replaced.
    pub container: &'a str,
    /// The command.
    pub command: &'a [String],
    /// `startedBy` (up to 128 letters, digits, `-`, `/`, `_`): what the task state events are
    /// matched on.
    pub started_by: &'a str,
    /// ECS's idempotency token (up to 64 characters): the same token starts one task only.
    pub client_token: &'a str,
}

/// Starts the task and returns its ARN; a task ECS could not place is an error with ECS's
/// reason. Paced as a service write: RunTask's own, larger bucket is not modelled, so this only
/// errs on the slow side.
pub async fn run_task(client: &Ecs, run: &TaskRun<'_>) -> Result<String, AwsError> {
    let overrides = TaskOverride::builder()
        .container_overrides(
            ContainerOverride::builder()
                .name(run.container)
                .set_command(Some(run.command.to_vec()))
                .build(),
        )
        .build();
    client.paced(EcsBucket::ServiceWrites).await;
    let output = client
        .run_task()
        .cluster(run.cluster)
        .task_definition(run.task_definition)
        .count(1)
        .set_network_configuration(run.placement.network_configuration.clone())
        .set_launch_type(run.placement.launch_type.clone())
        .set_capacity_provider_strategy(
            Some(run.placement.capacity_provider_strategy.clone()).filter(|s| !s.is_empty()),
        )
        .set_platform_version(run.placement.platform_version.clone())
        .overrides(overrides)
        .started_by(run.started_by)
        .client_token(run.client_token)
        .send()
        .await;
    client.heard(EcsBucket::ServiceWrites, &output);
    let output = output.map_err(|e| AwsError::from_sdk("ECS", "RunTask", run.task_definition, e))?;
    if let Some(task) = output.tasks().first().and_then(|t| t.task_arn()) {
        return Ok(task.to_owned());
    }
    let failure = output.failures().first();
    Err(AwsError {
        service: "ECS",
        operation: "RunTask",
        resource: run.task_definition.to_owned(),
        code: failure.and_then(|f| f.reason()).map(str::to_owned),
        message: failure
            .and_then(|f| f.detail())
            .unwrap_or("ECS started no task")
            .to_owned(),
        transient: false,
    })
}

/// How a task stands, as `DescribeTasks` or its `ECS Task State Change` event says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskState {
    /// `PROVISIONING` ... `RUNNING` ... `STOPPED`.
    pub last_status: String,
    /// Why it stopped.
    pub stopped_reason: Option<String>,
    /// ECS's stop code (`EssentialContainerExited`, `UserInitiated`, `TaskFailedToStart`, ...).
    pub stop_code: Option<String>,
    /// Each container: name, exit code (none: it never ran or ECS does not know), reason.
    pub containers: Vec<(String, Option<i32>, Option<String>)>,
}

/// The state of `task` in `cluster`; none when ECS no longer knows it (stopped tasks are kept
/// for about an hour).
pub async fn describe_task(client: &Ecs, cluster: &str, task: &str) -> Result<Option<TaskState>, AwsError> {
    client.paced(EcsBucket::ServiceReads).await;
    let output = client.describe_tasks().cluster(cluster).tasks(task).send().await;
    client.heard(EcsBucket::ServiceReads, &output);
    let output = output.map_err(|e| AwsError::from_sdk("ECS", "DescribeTasks", task, e))?;
    Ok(output.tasks().first().map(|t| TaskState {
        last_status: t.last_status().unwrap_or_default().to_owned(),
        stopped_reason: t.stopped_reason().map(str::to_owned),
        stop_code: t.stop_code().map(|c| c.as_str().to_owned()),
        containers: t
            .containers()
            .iter()
            .map(|c| {
                (
                    c.name().unwrap_or_default().to_owned(),
                    c.exit_code(),
                    c.reason().map(str::to_owned),
                )
            })
            .collect(),
    }))
}

/// Stops `task` with `reason` (a task already stopped is fine).
pub async fn stop_task(client: &Ecs, cluster: &str, task: &str, reason: &str) -> Result<(), AwsError> {
    client.paced(EcsBucket::ServiceWrites).await;
    let output = client
        .stop_task()
        .cluster(cluster)
        .task(task)
        .reason(reason)
        .send()
        .await;
    client.heard(EcsBucket::ServiceWrites, &output);
    output
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("ECS", "StopTask", task, e))
}
