//! ECS task definitions and services as Terraform would make them: the followed container, a
//! sidecar, a rich task definition, a Fargate service.

use super::*;

/// The followed container of [`rich_task_definition`], as a Terraform-made definition has it.
pub fn app_container(name: &str, image: &str) -> ContainerDefinition {
    ContainerDefinition::builder()
        .name(name)
        .image(image)
        .essential(true)
        .cpu(128)
        .memory_reservation(256)
        .port_mappings(
            PortMapping::builder()
                .container_port(8080)
                .protocol(TransportProtocol::Tcp)
                .name("http")
                .build(),
        )
        .environment(KeyValuePair::builder().name("RUST_LOG").value("info").build())
        .secrets(
            Secret::builder()
                .name("DB_PASSWORD")
                .value_from("arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:db-AbCdEf")
                .build()
                .expect("secret"),
        )
        .log_configuration(
            LogConfiguration::builder()
                .log_driver(LogDriver::Awsfirelens)
                .options("Name", "cloudwatch")
                .build()
                .expect("log configuration"),
        )
        .health_check(
            HealthCheck::builder()
                .command("CMD-SHELL")
                .command("curl -f http://localhost:8080/health || exit 1")
                .interval(10)
                .retries(3)
                .build()
                .expect("health check"),
        )
        .depends_on(
            ContainerDependency::builder()
                .container_name("log-router")
                .condition(ContainerCondition::Start)
                .build()
                .expect("dependency"),
        )
        .linux_parameters(LinuxParameters::builder().init_process_enabled(true).build())
        .ulimits(
            Ulimit::builder()
                .name(UlimitName::Nofile)
                .soft_limit(65536)
                .hard_limit(65536)
                .build()
                .expect("ulimit"),
        )
        .mount_points(
            aws_sdk_ecs::types::MountPoint::builder()
                .source_volume("scratch")
                .container_path("/scratch")
                .build(),
        )
        .build()
}

/// A sidecar that must be kept as it is.
pub fn sidecar_container() -> ContainerDefinition {
    ContainerDefinition::builder()
        .name("log-router")
        .image("public.ecr.aws/aws-observability/aws-for-fluent-bit:2.32.0")
        .essential(true)
        .memory_reservation(64)
        .firelens_configuration(
            aws_sdk_ecs::types::FirelensConfiguration::builder()
                .r#type(aws_sdk_ecs::types::FirelensConfigurationType::Fluentbit)
                .build()
                .expect("firelens"),
        )
        .build()
}

/// Registers a task definition with every writable field set (roles, volumes, secrets, log
/// configuration, health check, runtime platform, ephemeral storage, proxy, tags, ...) and
/// returns its ARN.
pub async fn register_rich_task_definition(
    clients: &AwsClients,
    family: &str,
    containers: Vec<ContainerDefinition>,
) -> String {
    let output = clients
        .ecs
        .register_task_definition()
        .family(family)
        .task_role_arn(format!("arn:aws:iam::{ACCOUNT}:role/{family}-task"))
        .execution_role_arn(format!("arn:aws:iam::{ACCOUNT}:role/{family}-execution"))
        .network_mode(NetworkMode::Awsvpc)
        .set_container_definitions(Some(containers))
        .volumes(
            Volume::builder()
                .name("scratch")
                .host(HostVolumeProperties::builder().build())
                .build(),
        )
        .placement_constraints(
            TaskDefinitionPlacementConstraint::builder()
                .r#type(TaskDefinitionPlacementConstraintType::MemberOf)
                .expression("attribute:ecs.availability-zone in [ap-northeast-1a]")
                .build(),
        )
        .requires_compatibilities(Compatibility::Fargate)
        .cpu("512")
        .memory("1024")
        .tags(Tag::builder().key("team").value("orders").build())
        .tags(Tag::builder().key("cost-center").value("42").build())
        .pid_mode(PidMode::Task)
        .proxy_configuration(
            ProxyConfiguration::builder()
                .r#type(ProxyConfigurationType::Appmesh)
                .container_name("log-router")
                .properties(KeyValuePair::builder().name("ProxyIngressPort").value("15000").build())
                .build()
                .expect("proxy"),
        )
        .ephemeral_storage(EphemeralStorage::builder().size_in_gib(30).build())
        .runtime_platform(
            RuntimePlatform::builder()
                .cpu_architecture(CpuArchitecture::Arm64)
                .operating_system_family(OsFamily::Linux)
                .build(),
        )
        .send()
        .await
        .expect("RegisterTaskDefinition");
    output
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .expect("ARN")
        .to_owned()
}

/// Creates a Fargate service running `task_definition` (a full ARN).
pub async fn create_service(
    clients: &AwsClients,
    cluster: &str,
    name: &str,
    task_definition: &str,
    subnets: &[String],
    security_group: &str,
) {
    clients
        .ecs
        .create_service()
        .cluster(cluster)
        .service_name(name)
        .task_definition(task_definition)
        .desired_count(2)
        .launch_type(LaunchType::Fargate)
        .network_configuration(
            NetworkConfiguration::builder()
                .awsvpc_configuration(
                    AwsVpcConfiguration::builder()
                        .set_subnets(Some(subnets.to_vec()))
                        .security_groups(security_group)
                        .assign_public_ip(AssignPublicIp::Disabled)
                        .build()
                        .expect("awsvpc"),
                )
                .build(),
        )
        .send()
        .await
        .expect("CreateService");
}
