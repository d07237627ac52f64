//! A task definition revision and the copy the deployer registers: the writable fields
//! ([`register_request`]) and the read-only ones ([`clear_read_only`]) side by side, so a field
//! the SDK adds is either copied or knowingly dropped (a unit test fails on one that is neither).

use std::collections::BTreeMap;

use aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder;
use aws_sdk_ecs::types::{Tag, TaskDefinition};

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

/// Clears what ECS sets on a registered revision and RegisterTaskDefinition does not take: ARN,
/// revision, status, compatibilities, required attributes, registration and deregistration times.
pub fn clear_read_only(definition: &mut TaskDefinition) {
    definition.task_definition_arn = None;
    definition.revision = 0;
    definition.status = None;
    definition.requires_attributes = None;
    definition.compatibilities = None;
    definition.registered_at = None;
    definition.registered_by = None;
    definition.deregistered_at = None;
    definition.delete_requested_at = None;
}

/// True when two revisions have the same writable content (read-only fields and tag order aside).
pub fn same_content(a: &Revision, b: &Revision) -> bool {
    fn writable(r: &Revision) -> (TaskDefinition, BTreeMap<String, String>) {
        let mut d = r.definition.clone();
        clear_read_only(&mut d);
        let tags = r
            .tags
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        (d, tags)
    }
    writable(a) == writable(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{full_revision, top_level_fields};

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

    #[test]
    fn container_lookups_name_every_container() {
        let revision = full_revision("orders", 1, "img");
        assert_eq!(revision.container_image("app"), Some("img"));
        assert_eq!(revision.container_image("nope"), None);
        assert_eq!(revision.container_names(), vec!["app", "log-router"]);
        assert_eq!(revision.label(), "orders:1");
    }
}
