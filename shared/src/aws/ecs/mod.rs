//! ECS: services and task definition revisions; [`deployments`]: the service deployments API.

pub mod deployments;
pub mod express;
pub mod tasks;

use aws_sdk_ecs::types::{DeploymentConfiguration, ServiceRegistry, SortOrder, Tag, TaskDefinitionField};

use std::collections::BTreeMap;

use futures::stream::{self, StreamExt};

use crate::aws::arn::{family_and_revision, short_name};
pub use crate::aws::pace::Ecs;
use crate::aws::pace::EcsBucket;
use crate::aws::revision::{register_request, Revision};
use crate::aws::AwsError;

/// DescribeServices takes at most this many services per call.
pub const DESCRIBE_SERVICES_BATCH: usize = 10;

/// What the deployer needs to know of an ECS service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceState {
    /// Service ARN.
    pub arn: String,
    /// Service name.
    pub name: String,
    /// `ACTIVE`, `DRAINING` or `INACTIVE`.
    pub status: String,
    /// The task definition the service runs (as ECS reports it: normally a full ARN).
    pub task_definition: String,
    /// The deployment configuration, if ECS reported one.
    pub deployment_configuration: Option<DeploymentConfiguration>,
    /// Cloud Map registries of the service.
    pub registries: Vec<ServiceRegistry>,
    /// The service's deployments, as ECS lists them.
    pub deployments: Vec<Deployment>,
    /// The deployment controller: `ECS`, `CODE_DEPLOY` or `EXTERNAL` (none: ECS's default).
    pub controller: Option<String>,
    /// Where its tasks run (network configuration, launch type or capacity providers).
    pub placement: tasks::TaskPlacement,
}

/// One deployment of a service, as `DescribeServices` lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deployment {
    /// `ecs-svc/...`.
    pub id: String,
    /// `PRIMARY` (the newest), `ACTIVE` (older, still running tasks) or `INACTIVE`.
    pub status: String,
    /// The revision it rolls out.
    pub task_definition: String,
    /// `IN_PROGRESS`, `COMPLETED` or `FAILED` (empty when ECS gave none).
    pub rollout_state: String,
    /// ECS's reason for the rollout state.
    pub rollout_state_reason: String,
    /// Tasks it should run.
    pub desired_count: i32,
    /// Tasks of it running.
    pub running_count: i32,
}

impl Deployment {
    fn from_sdk(d: &aws_sdk_ecs::types::Deployment) -> Self {
        Self {
            id: d.id().unwrap_or_default().to_owned(),
            status: d.status().unwrap_or_default().to_owned(),
            task_definition: d.task_definition().unwrap_or_default().to_owned(),
            rollout_state: d.rollout_state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
            rollout_state_reason: d.rollout_state_reason().unwrap_or_default().to_owned(),
            desired_count: d.desired_count(),
            running_count: d.running_count(),
        }
    }
}

impl ServiceState {
    /// True when this is the service a configuration names (by name or ARN).
    pub fn is(&self, configured: &str) -> bool {
        self.arn == configured || self.name == short_name(configured)
    }
}

/// Describes the named `(cluster, service)` pairs of any clusters, 10 services a call as the API
/// allows, up to `concurrency` calls at once. Per cluster: the services found (one that does not
/// exist is absent), or the error of a failed call.
pub async fn describe_services_in_clusters<'a>(
    client: &Ecs,
    services: impl IntoIterator<Item = (&'a str, &'a str)>,
    concurrency: usize,
) -> BTreeMap<&'a str, Result<Vec<ServiceState>, AwsError>> {
    let mut by_cluster: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (cluster, service) in services {
        by_cluster.entry(cluster).or_default().push(service.to_owned());
    }
    let calls: Vec<(&str, Vec<String>)> = by_cluster
        .iter()
        .flat_map(|(cluster, names)| {
            names
                .chunks(DESCRIBE_SERVICES_BATCH)
                .map(move |chunk| (*cluster, chunk.to_vec()))
        })
        .collect();
    let answers: Vec<_> = stream::iter(
        calls
            .into_iter()
            .map(|(cluster, chunk)| async move { (cluster, describe_services(client, cluster, &chunk).await) }),
    )
    .buffered(concurrency.max(1))
    .collect()
    .await;
    let mut found: BTreeMap<&str, Result<Vec<ServiceState>, AwsError>> = BTreeMap::new();
    for (cluster, answer) in answers {
        match (found.entry(cluster).or_insert_with(|| Ok(Vec::new())), answer) {
            (Ok(all), Ok(services)) => all.extend(services),
            (entry @ Ok(_), Err(err)) => *entry = Err(err),
            (Err(_), _) => {}
        }
    }
    found
}

/// Describes services of one cluster, batching as the API allows. A service that does not exist
/// is absent from the answer.
pub async fn describe_services(
    client: &Ecs,
    cluster: &str,
    services: &[String],
) -> Result<Vec<ServiceState>, AwsError> {
    let mut found = Vec::new();
    for chunk in services.chunks(DESCRIBE_SERVICES_BATCH) {
        client.paced(EcsBucket::ServiceReads).await;
        let output = client
            .describe_services()
            .cluster(cluster)
            .set_services(Some(chunk.to_vec()))
            .send()
            .await;
        client.heard(EcsBucket::ServiceReads, &output);
        let output = output
            .map_err(|e| AwsError::from_sdk("ECS", "DescribeServices", format!("{cluster}/{}", chunk.join(",")), e))?;
        for service in output.services() {
            found.push(ServiceState {
                arn: service.service_arn().unwrap_or_default().to_owned(),
                name: service.service_name().unwrap_or_default().to_owned(),
                status: service.status().unwrap_or_default().to_owned(),
                task_definition: service.task_definition().unwrap_or_default().to_owned(),
                deployment_configuration: service.deployment_configuration().cloned(),
                registries: service.service_registries().to_vec(),
                deployments: service.deployments().iter().map(Deployment::from_sdk).collect(),
                controller: service.deployment_controller().map(|c| c.r#type().as_str().to_owned()),
                placement: tasks::TaskPlacement::of(service),
            });
        }
    }
    Ok(found)
}

/// Describes one revision (ARN, `family:revision`, or a family for its latest ACTIVE revision)
/// with its tags.
pub async fn describe_task_definition(client: &Ecs, task_definition: &str) -> Result<Revision, AwsError> {
    client.paced(EcsBucket::TaskDefinitionReads).await;
    let output = client
        .describe_task_definition()
        .task_definition(task_definition)
        .include(TaskDefinitionField::Tags)
        .send()
        .await;
    client.heard(EcsBucket::TaskDefinitionReads, &output);
    let output = output.map_err(|e| AwsError::from_sdk("ECS", "DescribeTaskDefinition", task_definition, e))?;
    let definition = output.task_definition().cloned().ok_or_else(|| AwsError {
        service: "ECS",
        transient: false,
        operation: "DescribeTaskDefinition",
        resource: task_definition.to_owned(),
        code: None,
        message: "the answer held no task definition".into(),
    })?;
    Ok(Revision {
        definition,
        tags: output.tags().to_vec(),
    })
}

/// Registers `revision` as a new revision of its family and returns what ECS registered.
pub async fn register_task_definition(client: &Ecs, revision: &Revision) -> Result<Revision, AwsError> {
    let family = revision.definition.family().unwrap_or_default().to_owned();
    // Each attempt waits for its token (a throttle slows the scope down, so a resend waits
    // longer): tag-on-create draws from the tagging bucket too.
    let output = crate::aws::at_most_once(|| async {
        client.paced(EcsBucket::TaskDefinitionWrites).await;
        client.paced(EcsBucket::Tagging).await;
        let answer = register_request(client, revision)
            .customize()
            .config_override(aws_sdk_ecs::config::Builder::default().retry_config(crate::aws::no_retries()))
            .send()
            .await;
        client.heard(EcsBucket::TaskDefinitionWrites, &answer);
        answer
    })
    .await
    .map_err(|e| AwsError::from_sdk("ECS", "RegisterTaskDefinition", &family, e))?;
    let definition = output.task_definition().cloned().ok_or_else(|| AwsError {
        service: "ECS",
        transient: false,
        operation: "RegisterTaskDefinition",
        resource: family,
        code: None,
        message: "the answer held no task definition".into(),
    })?;
    Ok(Revision {
        definition,
        tags: output.tags().to_vec(),
    })
}

/// Points a service at a task definition (by full ARN); the desired count is left alone.
/// Returns the id of the deployment ECS started for it (the `PRIMARY` one), when it named one.
pub async fn update_service(
    client: &Ecs,
    cluster: &str,
    service: &str,
    task_definition_arn: &str,
    deployment_configuration: Option<DeploymentConfiguration>,
) -> Result<Option<String>, AwsError> {
    client.paced(EcsBucket::ServiceWrites).await;
    let output = client
        .update_service()
        .cluster(cluster)
        .service(service)
        .task_definition(task_definition_arn)
        .set_deployment_configuration(deployment_configuration)
        .send()
        .await;
    client.heard(EcsBucket::ServiceWrites, &output);
    let output = output.map_err(|e| {
        AwsError::from_sdk(
            "ECS",
            "UpdateService",
            format!("{}/{}", short_name(cluster), short_name(service)),
            e,
        )
    })?;
    Ok(output.service().and_then(|service| {
        service
            .deployments()
            .iter()
            .find(|d| d.status() == Some("PRIMARY"))
            .and_then(|d| d.id().map(str::to_owned))
    }))
}

/// Sets a service's Cloud Map registries (ECS starts a deployment to apply them).
pub async fn update_service_registries(
    client: &Ecs,
    cluster: &str,
    service: &str,
    registries: Vec<ServiceRegistry>,
) -> Result<(), AwsError> {
    client.paced(EcsBucket::ServiceWrites).await;
    let output = client
        .update_service()
        .cluster(cluster)
        .service(service)
        .set_service_registries(Some(registries))
        .send()
        .await;
    client.heard(EcsBucket::ServiceWrites, &output);
    output.map_err(|e| {
        AwsError::from_sdk(
            "ECS",
            "UpdateService",
            format!("{}/{}", short_name(cluster), short_name(service)),
            e,
        )
    })?;
    Ok(())
}

/// The tags of a resource (a task definition revision, say).
pub async fn list_tags(client: &Ecs, arn: &str) -> Result<Vec<Tag>, AwsError> {
    client.paced(EcsBucket::TagReads).await;
    let output = client.list_tags_for_resource().resource_arn(arn).send().await;
    client.heard(EcsBucket::TagReads, &output);
    let output = output.map_err(|e| AwsError::from_sdk("ECS", "ListTagsForResource", arn, e))?;
    Ok(output.tags().to_vec())
}

/// Deregisters one revision (it stays usable by running tasks, but no new task starts on it).
pub async fn deregister_task_definition(client: &Ecs, arn: &str) -> Result<(), AwsError> {
    client.paced(EcsBucket::TaskDefinitionWrites).await;
    let output = client.deregister_task_definition().task_definition(arn).send().await;
    client.heard(EcsBucket::TaskDefinitionWrites, &output);
    output.map_err(|e| AwsError::from_sdk("ECS", "DeregisterTaskDefinition", arn, e))?;
    Ok(())
}

/// ACTIVE revisions of a family as `(revision, ARN)`, newest first.
pub async fn list_revisions(client: &Ecs, family: &str) -> Result<Vec<(i32, String)>, AwsError> {
    list_revisions_in(client, family, aws_sdk_ecs::types::TaskDefinitionStatus::Active).await
}

/// INACTIVE (deregistered) revisions of a family as `(revision, ARN)`, newest first.
pub async fn list_inactive_revisions(client: &Ecs, family: &str) -> Result<Vec<(i32, String)>, AwsError> {
    list_revisions_in(client, family, aws_sdk_ecs::types::TaskDefinitionStatus::Inactive).await
}

async fn list_revisions_in(
    client: &Ecs,
    family: &str,
    status: aws_sdk_ecs::types::TaskDefinitionStatus,
) -> Result<Vec<(i32, String)>, AwsError> {
    let mut pages = client
        .list_task_definitions()
        .family_prefix(family)
        .status(status)
        .sort(SortOrder::Desc)
        .into_paginator()
        .send();
    let mut revisions = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk("ECS", "ListTaskDefinitions", family, e))?;
        for arn in page.task_definition_arns() {
            // familyPrefix matches by prefix: keep this family only.
            if let Some((f, revision)) = family_and_revision(arn) {
                if f == family {
                    revisions.push((revision, arn.clone()));
                }
            }
        }
    }
    revisions.sort_by_key(|r| std::cmp::Reverse(r.0));
    Ok(revisions)
}

/// The ARNs of every service of a cluster.
pub async fn list_services(client: &Ecs, cluster: &str) -> Result<Vec<String>, AwsError> {
    let mut pages = client
        .list_services()
        .cluster(cluster)
        .max_results(100)
        .into_paginator()
        .send();
    let mut arns = Vec::new();
    loop {
        client.paced(EcsBucket::ServiceReads).await;
        let Some(page) = pages.next().await else { break };
        client.heard(EcsBucket::ServiceReads, &page);
        let page = page.map_err(|e| AwsError::from_sdk("ECS", "ListServices", cluster, e))?;
        arns.extend(page.service_arns().iter().cloned());
    }
    Ok(arns)
}

/// Every task definition revision the services of `clusters` run or are deploying (each
/// service's own and each of its deployments'), whoever made the services.
pub async fn revisions_in_use(
    client: &Ecs,
    clusters: &[&str],
    concurrency: usize,
) -> Result<std::collections::BTreeSet<String>, AwsError> {
    let mut services: Vec<(&str, String)> = Vec::new();
    for cluster in clusters {
        services.extend(
            list_services(client, cluster)
                .await?
                .into_iter()
                .map(|arn| (*cluster, arn)),
        );
    }
    let described =
        describe_services_in_clusters(client, services.iter().map(|(c, s)| (*c, s.as_str())), concurrency).await;
    let mut in_use = std::collections::BTreeSet::new();
    for found in described.into_values() {
        for service in found? {
            in_use.extend(service.deployments.iter().map(|d| d.task_definition.clone()));
            in_use.insert(service.task_definition);
        }
    }
    in_use.remove("");
    Ok(in_use)
}

/// Deletes INACTIVE revisions, 10 a call (ECS's limit). A revision ECS reports as already
/// deleted counts as done; any other failure is an error naming the revisions.
pub async fn delete_task_definitions(client: &Ecs, arns: &[String]) -> Result<(), AwsError> {
    for chunk in arns.chunks(10) {
        client.paced(EcsBucket::TaskDefinitionDeletes).await;
        let output = client
            .delete_task_definitions()
            .set_task_definitions(Some(chunk.to_vec()))
            .send()
            .await;
        client.heard(EcsBucket::TaskDefinitionDeletes, &output);
        let output = output.map_err(|e| AwsError::from_sdk("ECS", "DeleteTaskDefinitions", chunk.join(","), e))?;
        let failures: Vec<String> = output
            .failures()
            .iter()
            .filter(|f| {
                !f.reason()
                    .unwrap_or_default()
                    .to_ascii_lowercase()
                    .contains("delete_in_progress")
            })
            .map(|f| format!("{}: {}", f.arn().unwrap_or_default(), f.reason().unwrap_or_default()))
            .collect();
        if !failures.is_empty() {
            return Err(AwsError {
                service: "ECS",
                transient: false,
                operation: "DeleteTaskDefinitions",
                resource: chunk.join(","),
                code: None,
                message: failures.join("; "),
            });
        }
    }
    Ok(())
}
