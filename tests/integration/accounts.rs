//! Accounts and regions: one push to the central ECR deploys services in another account
//! (through the application's role) and in another region, against the emulator (whose assumed
//! roles act in their own account, and whose regions keep their own resources).

use deployer::image_push::Outcome;
use deployer::AwsClients;
use deployer_devkit::world::{self, invoke_image_push, push_event, registry, World};
use deployer_devkit::Emulator;
use serde_json::json;

/// A cluster `cluster` with service `orders` on its own `orders` family in `clients`' account and
/// region, following the central repository.
async fn remote_service(clients: &AwsClients, cluster: &str) {
    world::create_cluster(clients, cluster).await;
    let image = format!("{}/orders:latest", registry());
    let task_definition = world::register_rich_task_definition(
        clients,
        "orders",
        vec![world::app_container("app", &image), world::sidecar_container()],
    )
    .await;
    let (vpc, subnets) = world::create_vpc(clients).await;
    let group = aws_sdk_ec2::Client::new(&clients.sdk_config)
        .create_security_group()
        .group_name("services")
        .description("ECS services")
        .vpc_id(vpc)
        .send()
        .await
        .unwrap();
    world::create_service(
        clients,
        cluster,
        "orders",
        &task_definition,
        &subnets,
        group.group_id().unwrap(),
    )
    .await;
}

#[tokio::test]
async fn one_push_deploys_a_service_of_another_account_and_one_of_another_region() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_repository(&kit.clients, "orders").await;
    let role = "arn:aws:iam::222222222222:role/deployer";
    let prod = world::clients_as(&kit.clients, role).await;
    remote_service(&prod, "prod").await;
    let europe = AwsClients::from_sdk_config(
        &kit.clients
            .sdk_config
            .to_builder()
            .region(aws_sdk_ecs::config::Region::new("eu-west-1"))
            .build(),
    );
    remote_service(&europe, "sss-eu").await;
    let app = |name: &str, cluster: &str, extra: serde_json::Value| {
        let mut app = json!({"name": name, "cluster": cluster, "service": "orders", "container": "app",
            "repository": "orders", "tags": ["latest"]});
        app.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        app
    };
    let config = json!({"apps": [
        app("orders-prod", "prod", json!({"role_arn": role, "external_id": "deployer-ext"})),
        app("orders-eu", "sss-eu", json!({"region": "eu-west-1"})),
    ]})
    .to_string();

    let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;
    let answer = invoke_image_push(&kit.clients, &config, &push_event("orders", "latest", &digest))
        .await
        .unwrap();
    let prod_report = answer
        .results
        .iter()
        .find(|r| r.app.as_deref() == Some("orders-prod"))
        .unwrap();
    let eu_report = answer
        .results
        .iter()
        .find(|r| r.app.as_deref() == Some("orders-eu"))
        .unwrap();
    assert_eq!(prod_report.outcome, Outcome::Deployed, "{prod_report:?}");
    assert_eq!(eu_report.outcome, Outcome::Deployed, "{eu_report:?}");
    assert_eq!(prod_report.account.as_deref(), Some("222222222222"));
    assert_eq!(eu_report.region.as_deref(), Some("eu-west-1"));
    assert!(
        prod_report
            .new_task_definition
            .as_deref()
            .unwrap()
            .contains(":222222222222:"),
        "{prod_report:?}"
    );
    assert!(
        eu_report
            .new_task_definition
            .as_deref()
            .unwrap()
            .contains(":eu-west-1:"),
        "{eu_report:?}"
    );

    // Each service runs the central image by digest, in its own account and region.
    for (clients, cluster) in [(&prod, "prod"), (&europe, "sss-eu")] {
        let running = world::service_task_definition(clients, cluster, "orders").await;
        let image = world::container_image(clients, &running, "app").await;
        assert_eq!(image, format!("{}/orders@{digest}", registry()), "{cluster}");
    }
    // Nothing was deployed in the function's own account.
    let own = deployer::aws::ecs::list_services(&kit.clients.ecs, "prod").await;
    assert!(own.is_err() || own.unwrap().is_empty());
}

#[tokio::test]
async fn an_app_whose_role_cannot_be_assumed_fails_alone_naming_the_role() {
    use deployer_devkit::faults::{Fault, FaultPlan, FaultProxy};
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let (own, _) = kit.orders().await;
    let role = "arn:aws:iam::222222222222:role/deployer";
    let prod = world::clients_as(&kit.clients, role).await;
    remote_service(&prod, "prod").await;
    let mut config: serde_json::Value = serde_json::from_str(&world::config_for(&[&own])).unwrap();
    config["apps"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "orders-prod", "cluster": "prod", "service": "orders",
        "container": "app", "repository": "orders", "tags": ["latest"], "role_arn": role}));
    let config = deployer::Config::parse(&config.to_string(), "test").unwrap();

    // STS refuses the role (its trust policy does not name the deployer, say); everything else
    // reaches the emulator.
    let proxy = FaultProxy::start_with(
        emulator.port,
        FaultPlan {
            only: Some("Action=AssumeRole".into()),
            ..FaultPlan::always(Fault::Denied)
        },
    )
    .await;
    let mut clients = world::job_clients::<deployer::image_push::ImagePush>(&kit.clients);
    clients.sdk_config = clients.sdk_config.to_builder().endpoint_url(proxy.endpoint()).build();

    let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;
    let request = deployer::input::events::parse_image_push(&push_event("orders", "latest", &digest)).unwrap();
    let answer = deployer::image_push::handle(
        &clients,
        &config,
        &request,
        &deployer::job::Settings::default(),
        &deployer::job::Invocation::local(),
    )
    .await
    .unwrap();
    let mine = answer
        .results
        .iter()
        .find(|r| r.app.as_deref() == Some("orders"))
        .unwrap();
    let theirs = answer
        .results
        .iter()
        .find(|r| r.app.as_deref() == Some("orders-prod"))
        .unwrap();
    assert_eq!(mine.outcome, Outcome::Deployed, "{mine:?}");
    assert_eq!(theirs.outcome, Outcome::Failed, "{theirs:?}");
    assert!(theirs.reason.as_deref().unwrap().contains(role), "{theirs:?}");
    let err = deployer::job::settle::<deployer::image_push::ImagePush>(answer).unwrap_err();
    assert_eq!(err.error_type(), "DeployFailed");
    // Nothing changed in the other account.
    let running = world::service_task_definition(&prod, "prod", "orders").await;
    assert!(running.ends_with("orders:1"), "{running}");
}
