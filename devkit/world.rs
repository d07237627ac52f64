//! Small ECS/ECR worlds in the emulator, like the design's: a cluster, repositories with
//! images, rich task definitions and Fargate services.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, Compatibility, ContainerCondition, ContainerDefinition, ContainerDependency,
    CpuArchitecture, EphemeralStorage, HealthCheck, HostVolumeProperties, KeyValuePair, LaunchType, LinuxParameters,
    LogConfiguration, LogDriver, NetworkConfiguration, NetworkMode, OsFamily, PidMode, PortMapping, ProxyConfiguration,
    ProxyConfigurationType, RuntimePlatform, Secret, Tag, TaskDefinitionPlacementConstraint,
    TaskDefinitionPlacementConstraintType, TransportProtocol, Ulimit, UlimitName, Volume,
};
use deployer::aws::ec2::{xml, Ec2Client};
use deployer::input::config::ConfigSource;
use deployer::job::{Answer, Invocation, Job, Settings};
use deployer::{image_push, nlb_sync, service_sync, AwsClients, InvokeError};

pub use crate::alb::AlbWorld;
use crate::emulator::{Emulator, ACCOUNT, REGION};

mod api;
mod nlb;
mod services;

pub use api::*;
pub use nlb::*;
pub use services::*;

/// The ECR registry host of the emulator's account.
pub fn registry() -> String {
    deployer::aws::ecr::registry_host(ACCOUNT, REGION)
}

/// A digest that looks like ECR's, derived from `seed`.
pub fn fake_digest(seed: &str) -> String {
    let mut hex = String::new();
    for round in 0..4u8 {
        let mut hasher = DefaultHasher::new();
        (seed, round).hash(&mut hasher);
        hex.push_str(&format!("{:016x}", hasher.finish()));
    }
    format!("sha256:{hex}")
}

/// Creates an ECS cluster.
pub async fn create_cluster(clients: &AwsClients, name: &str) {
    clients
        .ecs
        .create_cluster()
        .cluster_name(name)
        .send()
        .await
        .expect("CreateCluster");
}

/// Creates an ECR repository.
pub async fn create_repository(clients: &AwsClients, name: &str) {
    clients
        .ecr
        .create_repository()
        .repository_name(name)
        .send()
        .await
        .expect("CreateRepository");
}

/// Pushes an image (a manifest unique to `seed`) under `tag` and returns its digest.
pub async fn push_image(clients: &AwsClients, repository: &str, tag: &str, seed: &str) -> String {
    let digest = fake_digest(&format!("{repository}/{seed}"));
    push_image_with_digest(clients, repository, tag, &digest).await;
    digest
}

/// Pushes an image with a given digest under `tag`.
pub async fn push_image_with_digest(clients: &AwsClients, repository: &str, tag: &str, digest: &str) {
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1, "digest": digest},
        "layers": [],
    });
    clients
        .ecr
        .put_image()
        .repository_name(repository)
        .image_tag(tag)
        .image_manifest(manifest.to_string())
        .image_digest(digest)
        .send()
        .await
        .expect("PutImage");
}

/// One application's resources, as the tests and the demo build them.
#[derive(Debug, Clone)]
pub struct AppWorld {
    /// Application (and service, family) name.
    pub name: String,
    /// Cluster name.
    pub cluster: String,
    /// Repository name.
    pub repository: String,
    /// The task definition the service was created with.
    pub task_definition: String,
}

impl AppWorld {
    /// The application's configuration entry (follows `latest` and `release-*`).
    pub fn config(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "cluster": self.cluster,
            "service": self.name,
            "container": "app",
            "repository": self.repository,
            "tags": ["latest", "release-*"],
        })
    }
}

/// The emulator's AWS, with a VPC and two private subnets for Fargate services.
pub struct World {
    /// The deployer's clients, pointing at the emulator.
    pub clients: AwsClients,
    /// VPC ID.
    pub vpc: String,
    /// Subnet IDs, one per availability zone.
    pub subnets: Vec<String>,
    /// Security group of the services.
    pub security_group: String,
}

impl World {
    /// Creates the VPC (10.0.0.0/16) and its subnets in the emulator.
    pub async fn new(emulator: &Emulator) -> World {
        World::with_config(emulator.sdk_config().await).await
    }

    /// The same world in the account of `role_arn` (the emulator puts what the role's clients
    /// make in that account): a workload account.
    pub async fn in_account(emulator: &Emulator, role_arn: &str) -> World {
        let own = AwsClients::from_sdk_config(&emulator.sdk_config().await);
        World::with_config(clients_as(&own, role_arn).await.sdk_config).await
    }

    async fn with_config(sdk_config: aws_config::SdkConfig) -> World {
        let ec2 = Ec2Client::new(&sdk_config);
        let (vpc, subnets) = vpc_with_subnets(&ec2, 0).await;
        let security_group = create_security_group(&ec2, &vpc).await;
        World {
            clients: AwsClients::from_sdk_config(&sdk_config),
            vpc,
            subnets,
            security_group,
        }
    }

    /// Creates a service `name` in `cluster` following `repository` (which must exist), on a
    /// rich task definition of its own family whose `app` container runs `repository:latest`.
    pub async fn create_app(&self, cluster: &str, repository: &str, name: &str) -> AppWorld {
        let image = format!("{}/{repository}:latest", registry());
        let task_definition = register_rich_task_definition(
            &self.clients,
            name,
            vec![app_container("app", &image), sidecar_container()],
        )
        .await;
        create_service(
            &self.clients,
            cluster,
            name,
            &task_definition,
            &self.subnets,
            &self.security_group,
        )
        .await;
        AppWorld {
            name: name.into(),
            cluster: cluster.into(),
            repository: repository.into(),
            task_definition,
        }
    }

    /// The design's small world: cluster `sss`, repository `orders` with `orders:latest`
    /// pushed, and service `orders` on a rich two-container task definition. Returns the app
    /// and the digest `latest` points to.
    pub async fn orders(&self) -> (AppWorld, String) {
        create_cluster(&self.clients, "sss").await;
        create_repository(&self.clients, "orders").await;
        let digest = push_image(&self.clients, "orders", "latest", "v1").await;
        (self.create_app("sss", "orders", "orders").await, digest)
    }

    /// A fleet following one image: cluster `sss`, repository `orders` with `orders:latest`
    /// pushed, and `count` services named `<prefix>-NNNN`, each on its own rich task definition.
    pub async fn fleet(&self, prefix: &str, count: usize) -> Vec<AppWorld> {
        create_cluster(&self.clients, "sss").await;
        create_repository(&self.clients, "orders").await;
        push_image(&self.clients, "orders", "latest", "v1").await;
        let mut apps = Vec::new();
        for i in 0..count {
            apps.push(self.create_app("sss", "orders", &format!("{prefix}-{i:04}")).await);
        }
        apps
    }
}

/// The configuration document of `apps` with `extra` top-level fields, as JSON.
pub fn config_with(apps: &[AppWorld], extra: serde_json::Value) -> String {
    let mut config: serde_json::Value =
        serde_json::from_str(&config_for(&apps.iter().collect::<Vec<_>>())).expect("JSON");
    if let (Some(config), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
        config.extend(extra.clone());
    }
    config.to_string()
}

/// One `deploy-worker` invocation in-process with an SQS batch, answered as Lambda's event
/// source mapping reads it (the partial batch response).
pub async fn invoke_worker(
    clients: &AwsClients,
    config: &str,
    batch: &serde_json::Value,
    settings: &Settings,
) -> serde_json::Value {
    use deployer::job::Job;
    let answer = invoke_job::<image_push::worker::DeployWorker>(clients, config, batch, settings)
        .await
        .expect("the batch parses and the configuration loads");
    image_push::worker::DeployWorker::respond(answer).expect("a partial batch response")
}

/// A configuration document holding these applications.
pub fn config_for(apps: &[&AppWorld]) -> String {
    serde_json::json!({ "apps": apps.iter().map(|a| a.config()).collect::<Vec<_>>() }).to_string()
}

/// An `ECR Image Action` push event, as EventBridge delivers it.
pub fn push_event(repository: &str, tag: &str, digest: &str) -> serde_json::Value {
    serde_json::json!({
        "version": "0",
        "id": format!("evt-{}", &digest[7..19]),
        "detail-type": "ECR Image Action",
        "source": "aws.ecr",
        "account": ACCOUNT,
        // A push event is made when the push happens: now.
        "time": deployer::records::format_time(std::time::SystemTime::now()),
        "region": REGION,
        "resources": [],
        "detail": {
            "result": "SUCCESS",
            "repository-name": repository,
            "image-digest": digest,
            "action-type": "PUSH",
            "image-tag": tag,
        }
    })
}

/// The task definition ARN a service runs now.
pub async fn service_task_definition(clients: &AwsClients, cluster: &str, service: &str) -> String {
    let output = clients
        .ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .expect("DescribeServices");
    output.services()[0]
        .task_definition()
        .expect("task definition")
        .to_owned()
}

/// The image of a container in a task definition.
pub async fn container_image(clients: &AwsClients, task_definition: &str, container: &str) -> String {
    let revision = deployer::aws::ecs::describe_task_definition(&clients.ecs, task_definition)
        .await
        .expect("DescribeTaskDefinition");
    revision.container_image(container).expect("container").to_owned()
}

/// ARNs of the revisions of a family.
pub async fn family_revisions(clients: &AwsClients, family: &str) -> Vec<(i32, String)> {
    deployer::aws::ecs::list_revisions(&clients.ecs, family)
        .await
        .expect("ListTaskDefinitions")
}

/// Runs one invocation of the function `J` in-process, exactly as the Lambda handler does: its
/// own clients (named as the function in the user agent), the configuration inline.
pub async fn invoke_job<J: Job>(
    clients: &AwsClients,
    config: &str,
    payload: &serde_json::Value,
    settings: &Settings,
) -> Result<Answer<J::Report>, InvokeError> {
    invoke_job_as::<J>(clients, config, payload, settings, &Invocation::local()).await
}

/// As [`invoke_job`], as the invocation `invocation` (Lambda's retry of an asynchronous
/// invocation keeps its request id).
pub async fn invoke_job_as<J: Job>(
    clients: &AwsClients,
    config: &str,
    payload: &serde_json::Value,
    settings: &Settings,
    invocation: &Invocation,
) -> Result<Answer<J::Report>, InvokeError> {
    let source = ConfigSource::Inline(config.to_owned());
    let clients = job_clients::<J>(clients);
    J::invoke(&clients, &source, payload, settings, invocation).await
}

/// The clients of function `J`, built as its Lambda builds them (`Job::clients`), from the
/// emulator's configuration and naming the function in the user agent.
pub fn job_clients<J: Job>(clients: &AwsClients) -> J::Clients {
    J::clients(&clients.for_function(J::NAME).sdk_config)
}

/// Runs one `image-push` invocation in-process, exactly as the Lambda handler does.
pub async fn invoke_image_push(
    clients: &AwsClients,
    config: &str,
    payload: &serde_json::Value,
) -> Result<image_push::Answer, InvokeError> {
    invoke_image_push_with(clients, config, payload, &Settings::default()).await
}

/// Runs one `image-push` invocation in-process with these settings (leases, concurrency).
pub async fn invoke_image_push_with(
    clients: &AwsClients,
    config: &str,
    payload: &serde_json::Value,
    settings: &Settings,
) -> Result<image_push::Answer, InvokeError> {
    invoke_job::<image_push::ImagePush>(clients, config, payload, settings).await
}

/// Creates an S3 bucket in the emulator's region.
pub async fn create_bucket(clients: &AwsClients, name: &str) {
    let location = aws_sdk_s3::types::CreateBucketConfiguration::builder()
        .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(REGION))
        .build();
    let created = clients
        .s3
        .create_bucket()
        .bucket(name)
        .create_bucket_configuration(location)
        .send()
        .await;
    // A retry of a call whose first answer was lost (a busy emulator) finds the bucket made.
    match created {
        Ok(_) => {}
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_bucket_already_owned_by_you()) => {}
        Err(err) => panic!("CreateBucket: {err:?}"),
    }
}

/// Stores a configuration document in a new bucket, as the template's `DEPLOYER_CONFIG_S3`
/// expects it, and returns the environment variable that points a function at it.
pub async fn config_in_s3(clients: &AwsClients, bucket: &str, config: &str) -> (String, String) {
    create_bucket(clients, bucket).await;
    clients
        .s3
        .put_object()
        .bucket(bucket)
        .key("deployer/config.json")
        .body(config.as_bytes().to_vec().into())
        .send()
        .await
        .expect("PutObject");
    (
        "DEPLOYER_CONFIG_S3".into(),
        format!("s3://{bucket}/deployer/config.json"),
    )
}

/// The same emulator as `clients`, acting as the role `role_arn` (of another account: the
/// emulator puts what those clients make in that account).
pub async fn clients_as(clients: &AwsClients, role_arn: &str) -> AwsClients {
    let provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
        .session_name("test-world")
        .configure(&clients.sdk_config)
        .build()
        .await;
    let config = clients
        .sdk_config
        .to_builder()
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(provider))
        .build();
    AwsClients::from_sdk_config(&config)
}

/// A VPC with subnets 10.1.1.0/24 and 10.1.2.0/24 in `clients`' account and region (another
/// account's or region's world): its ID and the subnets' IDs.
pub async fn create_vpc(clients: &AwsClients) -> (String, Vec<String>) {
    vpc_with_subnets(&Ec2Client::new(&clients.sdk_config), 1).await
}

/// A security group `services` in `vpc`: its ID.
pub async fn create_security_group(ec2: &Ec2Client, vpc: &str) -> String {
    let params = [
        ("GroupName".to_owned(), "services".to_owned()),
        ("GroupDescription".to_owned(), "ECS services".to_owned()),
        ("VpcId".to_owned(), vpc.to_owned()),
    ];
    let created = ec2
        .call("CreateSecurityGroup", &params, vpc)
        .await
        .expect("CreateSecurityGroup");
    xml::first_value(&created, "groupId").expect("group ID")
}

/// A subnet of `vpc` with `cidr` (in `zone`, when given): its ID.
pub async fn create_subnet(ec2: &Ec2Client, vpc: &str, cidr: &str, zone: Option<&str>) -> String {
    let mut params = vec![
        ("VpcId".to_owned(), vpc.to_owned()),
        ("CidrBlock".to_owned(), cidr.to_owned()),
    ];
    params.extend(zone.map(|zone| ("AvailabilityZone".to_owned(), zone.to_owned())));
    let created = ec2.call("CreateSubnet", &params, vpc).await.expect("CreateSubnet");
    xml::first_value(&created, "subnetId").expect("subnet ID")
}

/// A VPC 10.`second`.0.0/16 with subnets 10.`second`.1.0/24 (zone a) and .2.0/24 (zone c): its ID
/// and the subnets' IDs.
async fn vpc_with_subnets(ec2: &Ec2Client, second: u8) -> (String, Vec<String>) {
    let params = [("CidrBlock".to_owned(), format!("10.{second}.0.0/16"))];
    let vpc = ec2.call("CreateVpc", &params, "vpc").await.expect("CreateVpc");
    let vpc = xml::first_value(&vpc, "vpcId").expect("VPC ID");
    let region = match ec2.region() {
        "" => REGION.to_owned(),
        region => region.to_owned(),
    };
    let mut subnets = Vec::new();
    for (zone, third) in [("a", 1), ("c", 2)] {
        let zone = format!("{region}{zone}");
        subnets.push(create_subnet(ec2, &vpc, &format!("10.{second}.{third}.0/24"), Some(&zone)).await);
    }
    (vpc, subnets)
}
