//! Fixtures for the unit tests: SDK values built by hand, no I/O.
#![allow(deprecated)] // inference accelerators: still a field of old revisions

use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, CpuArchitecture, EphemeralStorage, InferenceAccelerator, IpcMode, NetworkMode,
    OsFamily, PidMode, ProxyConfiguration, RuntimePlatform, Tag, TaskDefinition, TaskDefinitionPlacementConstraint,
    TaskDefinitionPlacementConstraintType, TaskDefinitionStatus, Volume,
};

use crate::aws::ecr::ImageDetail;
use crate::aws::ecs::ServiceState;
use crate::aws::revision::Revision;
use crate::input::config::AppConfig;
use crate::records::{DeployOutcome, DeployRecord, Trigger, TriggerKind};

pub const REGISTRY: &str = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com";

pub fn digest(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

/// A revision with every writable field set, `app` running `image` beside a sidecar.
pub fn full_revision(family: &str, revision: i32, image: &str) -> Revision {
    let definition = TaskDefinition::builder()
        .task_definition_arn(format!(
            "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/{family}:{revision}"
        ))
        .family(family)
        .revision(revision)
        .status(TaskDefinitionStatus::Active)
        .task_role_arn("arn:aws:iam::123456789012:role/task")
        .execution_role_arn("arn:aws:iam::123456789012:role/execution")
        .network_mode(NetworkMode::Awsvpc)
        .container_definitions(
            ContainerDefinition::builder()
                .name("app")
                .image(image)
                .essential(true)
                .build(),
        )
        .container_definitions(
            ContainerDefinition::builder()
                .name("log-router")
                .image("fluent-bit:2")
                .build(),
        )
        .volumes(Volume::builder().name("scratch").build())
        .placement_constraints(
            TaskDefinitionPlacementConstraint::builder()
                .r#type(TaskDefinitionPlacementConstraintType::MemberOf)
                .expression("attribute:ecs.os-type == linux")
                .build(),
        )
        .requires_compatibilities(Compatibility::Fargate)
        .compatibilities(Compatibility::Fargate)
        .cpu("512")
        .memory("1024")
        .pid_mode(PidMode::Task)
        .ipc_mode(IpcMode::Task)
        .proxy_configuration(
            ProxyConfiguration::builder()
                .container_name("log-router")
                .build()
                .unwrap(),
        )
        .inference_accelerators(
            InferenceAccelerator::builder()
                .device_name("d")
                .device_type("t")
                .build()
                .unwrap(),
        )
        .ephemeral_storage(EphemeralStorage::builder().size_in_gib(30).build())
        .runtime_platform(
            RuntimePlatform::builder()
                .cpu_architecture(CpuArchitecture::Arm64)
                .operating_system_family(OsFamily::Linux)
                .build(),
        )
        .enable_fault_injection(false)
        .build();
    Revision {
        definition,
        tags: vec![Tag::builder().key("team").value("orders").build()],
    }
}

pub fn service(task_definition: &str) -> ServiceState {
    ServiceState {
        arn: "arn:aws:ecs:ap-northeast-1:123456789012:service/sss/orders".into(),
        name: "orders".into(),
        status: "ACTIVE".into(),
        task_definition: task_definition.into(),
        deployment_configuration: None,
        registries: Vec::new(),
        deployments: Vec::new(),
        controller: None,
        placement: Default::default(),
    }
}

pub fn image(digest: &str, tags: &[&str], pushed_at: i128) -> ImageDetail {
    ImageDetail {
        registry_id: "123456789012".into(),
        digest: digest.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        pushed_at: Some(pushed_at),
    }
}

/// A deploy of `orders` by a push (trigger id = `id`) of `digest` that started at `at` and, when
/// `outcome` is an end, ended then too.
pub fn deploy_record(id: &str, outcome: DeployOutcome, digest: &str, at: &str) -> DeployRecord {
    DeployRecord {
        id: id.into(),
        app: "orders".into(),
        cluster: "sss".into(),
        service: "orders".into(),
        account: None,
        region: None,
        trigger: Trigger {
            kind: TriggerKind::Push,
            id: id.into(),
            by: None,
        },
        tag: None,
        digest: Some(digest.into()),
        image: None,
        old_task_definition: None,
        new_task_definition: None,
        ecs_deployment_id: None,
        rolls_back_on_failure: false,
        started_at: at.into(),
        ended_at: outcome.is_end().then(|| at.into()),
        outcome,
        reason: None,
        template: None,
        notes: Vec::new(),
        native: None,
        gate: None,
        images: Default::default(),
    }
}

pub fn app() -> AppConfig {
    serde_json::from_value(serde_json::json!({
        "name": "orders", "cluster": "sss", "service": "orders", "container": "app",
        "repository": "orders", "tags": ["latest", "release-*"]
    }))
    .unwrap()
}

/// `(name, value)` of the outermost struct in a `Debug` string.
pub fn top_level_fields(debug: &str) -> Vec<(&str, &str)> {
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
