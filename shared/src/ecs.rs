//! ECS: services and task definition revisions.

use aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder;
use aws_sdk_ecs::types::{
    DeploymentConfiguration, ServiceRegistry, SortOrder, Tag, TaskDefinition, TaskDefinitionField,
};

use crate::config::short_name;
use crate::error::AwsError;

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
    /// `(deployment ID, task definition)` of the service's deployments.
    pub deployments: Vec<(String, String)>,
}

impl ServiceState {
    /// True when this is the service a configuration names (by name or ARN).
    pub fn is(&self, configured: &str) -> bool {
        self.arn == configured || self.name == short_name(configured)
    }
}

/// A task definition revision with its tags.
#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    /// The definition as ECS describes it.
    pub definition: TaskDefinition,
    /// Its resource tags.
    pub tags: Vec<Tag>,
}

impl Revision {
    /// The revision's ARN (empty for a revision not yet registered).
    pub fn arn(&self) -> &str {
        self.definition.task_definition_arn().unwrap_or_default()
    }

    /// `family:revision`, for messages.
    pub fn label(&self) -> String {
        format!(
            "{}:{}",
            self.definition.family().unwrap_or("?"),
            self.definition.revision()
        )
    }

    /// The image of the named container, if the container exists.
    pub fn container_image(&self, container: &str) -> Option<&str> {
        self.definition
            .container_definitions()
            .iter()
            .find(|c| c.name() == Some(container))
            .and_then(|c| c.image())
    }

    /// Names of all containers.
    pub fn container_names(&self) -> Vec<&str> {
        self.definition
            .container_definitions()
            .iter()
            .filter_map(|c| c.name())
            .collect()
    }
}

/// `(family, revision)` from a task definition ARN or `family:revision`.
pub fn family_and_revision(task_definition: &str) -> Option<(String, i32)> {
    let name = short_name(task_definition);
    let (family, revision) = name.rsplit_once(':')?;
    Some((family.to_owned(), revision.parse().ok()?))
}

/// Describes services of one cluster, batching as the API allows. A service that does not exist
/// is absent from the answer.
pub async fn describe_services(
    client: &aws_sdk_ecs::Client,
    cluster: &str,
    services: &[String],
) -> Result<Vec<ServiceState>, AwsError> {
    let mut found = Vec::new();
    for chunk in services.chunks(DESCRIBE_SERVICES_BATCH) {
        let output = client
            .describe_services()
            .cluster(cluster)
            .set_services(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ECS", "DescribeServices", format!("{cluster}/{}", chunk.join(",")), e))?;
        for service in output.services() {
            found.push(ServiceState {
                arn: service.service_arn().unwrap_or_default().to_owned(),
                name: service.service_name().unwrap_or_default().to_owned(),
                status: service.status().unwrap_or_default().to_owned(),
                task_definition: service.task_definition().unwrap_or_default().to_owned(),
                deployment_configuration: service.deployment_configuration().cloned(),
                registries: service.service_registries().to_vec(),
                deployments: service
                    .deployments()
                    .iter()
                    .map(|d| {
                        (
                            d.id().unwrap_or_default().to_owned(),
                            d.task_definition().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect(),
            });
        }
    }
    Ok(found)
}

/// Describes one revision (ARN, `family:revision`, or a family for its latest ACTIVE revision)
/// with its tags.
pub async fn describe_task_definition(
    client: &aws_sdk_ecs::Client,
    task_definition: &str,
) -> Result<Revision, AwsError> {
    let output = client
        .describe_task_definition()
        .task_definition(task_definition)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ECS", "DescribeTaskDefinition", task_definition, e))?;
    let definition = output.task_definition().cloned().ok_or_else(|| AwsError {
        service: "ECS",
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

/// The RegisterTaskDefinition request for `revision`: every writable field is carried over;
/// read-only ones (ARN, revision, status, registration times, compatibilities, required
/// attributes) are left out as the API requires.
#[allow(deprecated)] // inference accelerators are retired, but old revisions may still carry them
pub fn register_request(client: &aws_sdk_ecs::Client, revision: &Revision) -> RegisterTaskDefinitionFluentBuilder {
    let td = &revision.definition;
    client
        .register_task_definition()
        .set_family(td.family.clone())
        .set_task_role_arn(td.task_role_arn.clone())
        .set_execution_role_arn(td.execution_role_arn.clone())
        .set_network_mode(td.network_mode.clone())
        .set_container_definitions(td.container_definitions.clone())
        .set_volumes(td.volumes.clone())
        .set_placement_constraints(td.placement_constraints.clone())
        .set_requires_compatibilities(td.requires_compatibilities.clone())
        .set_cpu(td.cpu.clone())
        .set_memory(td.memory.clone())
        .set_tags((!revision.tags.is_empty()).then(|| revision.tags.clone()))
        .set_pid_mode(td.pid_mode.clone())
        .set_ipc_mode(td.ipc_mode.clone())
        .set_proxy_configuration(td.proxy_configuration.clone())
        .set_inference_accelerators(td.inference_accelerators.clone())
        .set_ephemeral_storage(td.ephemeral_storage.clone())
        .set_runtime_platform(td.runtime_platform.clone())
        .set_enable_fault_injection(td.enable_fault_injection)
}

/// Registers `revision` as a new revision of its family and returns what ECS registered.
pub async fn register_task_definition(client: &aws_sdk_ecs::Client, revision: &Revision) -> Result<Revision, AwsError> {
    let family = revision.definition.family().unwrap_or_default().to_owned();
    let output = crate::aws::at_most_once(|| {
        register_request(client, revision)
            .customize()
            .config_override(aws_sdk_ecs::config::Builder::default().retry_config(crate::aws::no_retries()))
            .send()
    })
    .await
    .map_err(|e| AwsError::from_sdk("ECS", "RegisterTaskDefinition", &family, e))?;
    let definition = output.task_definition().cloned().ok_or_else(|| AwsError {
        service: "ECS",
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
pub async fn update_service(
    client: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
    task_definition_arn: &str,
    deployment_configuration: Option<DeploymentConfiguration>,
) -> Result<(), AwsError> {
    client
        .update_service()
        .cluster(cluster)
        .service(service)
        .task_definition(task_definition_arn)
        .set_deployment_configuration(deployment_configuration)
        .send()
        .await
        .map_err(|e| {
            AwsError::from_sdk(
                "ECS",
                "UpdateService",
                format!("{}/{}", short_name(cluster), short_name(service)),
                e,
            )
        })?;
    Ok(())
}

/// Sets a service's Cloud Map registries (ECS starts a deployment to apply them).
pub async fn update_service_registries(
    client: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
    registries: Vec<ServiceRegistry>,
) -> Result<(), AwsError> {
    client
        .update_service()
        .cluster(cluster)
        .service(service)
        .set_service_registries(Some(registries))
        .send()
        .await
        .map_err(|e| {
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
pub async fn list_tags(client: &aws_sdk_ecs::Client, arn: &str) -> Result<Vec<Tag>, AwsError> {
    let output = client
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ECS", "ListTagsForResource", arn, e))?;
    Ok(output.tags().to_vec())
}

/// Deregisters one revision (it stays usable by running tasks, but no new task starts on it).
pub async fn deregister_task_definition(client: &aws_sdk_ecs::Client, arn: &str) -> Result<(), AwsError> {
    client
        .deregister_task_definition()
        .task_definition(arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ECS", "DeregisterTaskDefinition", arn, e))?;
    Ok(())
}

/// ACTIVE revisions of a family as `(revision, ARN)`, newest first.
pub async fn list_revisions(client: &aws_sdk_ecs::Client, family: &str) -> Result<Vec<(i32, String)>, AwsError> {
    let mut pages = client
        .list_task_definitions()
        .family_prefix(family)
        .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::full_revision;

    fn offline_client() -> aws_sdk_ecs::Client {
        let config = aws_sdk_ecs::Config::builder()
            .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
            .region(aws_sdk_ecs::config::Region::new("ap-northeast-1"))
            .build();
        aws_sdk_ecs::Client::from_conf(config)
    }

    #[test]
    fn the_register_request_carries_every_writable_field() {
        let revision = full_revision("orders", 7, "orders:latest");
        let request = register_request(&offline_client(), &revision);
        let input = format!("{:?}", request.as_input());
        // Every field of RegisterTaskDefinitionInput is set: a field the SDK adds and the copy
        // forgets shows up here as `None`.
        let unset: Vec<&str> = top_level_fields(&input)
            .into_iter()
            .filter(|(_, v)| *v == "None")
            .map(|(k, _)| k)
            .collect();
        assert!(unset.is_empty(), "writable fields not copied: {unset:?}");
        assert!(top_level_fields(&input).len() >= 18, "{input}");
        let built = request.as_input().clone().build().unwrap();
        assert_eq!(
            built.container_definitions(),
            revision.definition.container_definitions()
        );
        assert_eq!(built.tags(), revision.tags.as_slice());
        assert_eq!(built.family(), Some("orders"));
    }

    /// `(name, value)` of the outermost struct in a `Debug` string.
    fn top_level_fields(debug: &str) -> Vec<(&str, &str)> {
        let body = &debug[debug.find('{').unwrap() + 1..debug.rfind('}').unwrap()];
        let (mut depth, mut start, mut parts) = (0i32, 0usize, Vec::new());
        for (i, c) in body.char_indices() {
            match c {
                '{' | '[' | '(' => depth += 1,
                '}' | ']' | ')' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(&body[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&body[start..]);
        parts
            .into_iter()
            .filter_map(|p| p.split_once(": ").map(|(k, v)| (k.trim(), v.trim())))
            .collect()
    }

    #[test]
    fn family_and_revision_parse_arns_and_short_forms() {
        assert_eq!(
            family_and_revision("arn:aws:ecs:eu-west-1:1:task-definition/orders:12"),
            Some(("orders".into(), 12))
        );
        assert_eq!(family_and_revision("orders:3"), Some(("orders".into(), 3)));
        assert_eq!(family_and_revision("orders"), None);
    }

    #[test]
    fn container_lookups_name_every_container() {
        let revision = full_revision("orders", 1, "img");
        assert_eq!(revision.container_image("app"), Some("img"));
        assert_eq!(revision.container_image("nope"), None);
        assert_eq!(revision.container_names(), vec!["app", "log-router"]);
        assert_eq!(revision.label(), "orders:1");
    }
}
