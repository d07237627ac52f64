//! `make demo`: image-push end to end against the local AWS emulator.
//!
//! Starts moto on a loopback port, builds the design's small world (VPC, subnets, cluster `sss`,
//! repository `orders`, a two-container Fargate service), pushes a new `orders:latest`, invokes
//! `image-push` through cargo-lambda's local Lambda runtime with `events/ecr-push.json`, replays
//! it, and prints what changed. Everything it started is stopped when it returns.

use deployer_devkit::emulator::{count_writes, repo_root};
use deployer_devkit::lambda::LambdaWatch;
use deployer_devkit::world::{self, World};
use deployer_devkit::Emulator;

#[tokio::main]
async fn main() {
    step("starting the AWS emulator (moto server) on a free loopback port");
    let emulator = Emulator::start();
    println!("    {}", emulator.endpoint());

    step("building the world: VPC, 2 subnets, cluster sss, repository orders, service orders");
    let kit = World::new(&emulator).await;
    let clients = &kit.clients;
    let (app, first_digest) = kit.orders().await;
    println!(
        "    VPC {} with subnets {}",
        kit.vpc,
        kit.subnets.join(", ")
    );
    show_service("before", clients).await;

    let event_file = repo_root().join("events/ecr-push.json");
    let event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&event_file).unwrap()).unwrap();
    let digest = event["detail"]["image-digest"].as_str().unwrap().to_owned();
    step("pushing a new orders:latest to ECR");
    world::push_image_with_digest(clients, "orders", "latest", &digest).await;
    println!(
        "    orders:latest moved {} -> {}",
        short(&first_digest),
        short(&digest)
    );

    step("starting image-push in cargo-lambda's local Lambda runtime (first run builds it)");
    let mut env = emulator.env();
    let config = world::config_for(&[&app]);
    env.push(("DEPLOYER_CONFIG".into(), config.clone()));
    println!("    DEPLOYER_CONFIG={config}");
    let watch = LambdaWatch::start("image-push", &env);

    step("invoking image-push with events/ecr-push.json (the EventBridge push event)");
    emulator.start_recording();
    let answer = watch
        .invoke_file("image-push", &event_file)
        .unwrap_or_else(|e| fail(&e));
    let calls = emulator.stop_recording();
    println!(
        "{}",
        indent(&serde_json::to_string_pretty(&answer).unwrap())
    );
    println!(
        "    AWS calls: {} ({} writes): {}",
        calls.len(),
        count_writes(&calls),
        calls
            .iter()
            .map(|c| c.operation.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );

    step("replaying the same event (EventBridge delivers at least once)");
    emulator.start_recording();
    let replay = watch
        .invoke_file("image-push", &event_file)
        .unwrap_or_else(|e| fail(&e));
    let calls = emulator.stop_recording();
    println!(
        "    outcome: {}, reason: {}; AWS writes: {}",
        replay["results"][0]["outcome"],
        replay["results"][0]["reason"],
        count_writes(&calls)
    );

    show_service("after", clients).await;
    let outcome = answer["results"][0]["outcome"].as_str().unwrap_or_default();
    if outcome != "deployed" {
        fail(&format!(
            "expected the push to be deployed, got `{outcome}`"
        ));
    }
    step("done: the service runs the pushed image, pinned by digest; emulator and runtime stopped");
}

async fn show_service(when: &str, clients: &deployer::AwsClients) {
    let task_definition = world::service_task_definition(clients, "sss", "orders").await;
    let revision = deployer::ecs::describe_task_definition(&clients.ecs, &task_definition)
        .await
        .unwrap();
    println!("    {when:<6} service sss/orders -> {}", revision.label());
    for container in revision.definition.container_definitions() {
        println!(
            "           {:<10} {}",
            container.name().unwrap_or("?"),
            container.image().unwrap_or("?")
        );
    }
}

fn step(text: &str) {
    println!("\n==> {text}");
}

fn short(digest: &str) -> &str {
    &digest[..19.min(digest.len())]
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn fail(message: &str) -> ! {
    eprintln!("demo failed: {message}");
    std::process::exit(1);
}
