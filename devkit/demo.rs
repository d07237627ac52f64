//! `make demo`: image-push end to end against the local AWS emulator.
//!
//! Starts moto on a loopback port, builds the design's small world (VPC, subnets, cluster `sss`,
//! repository `orders`, a two-container Fargate service), pushes a new `orders:latest`, invokes
//! `image-push` through cargo-lambda's local Lambda runtime with `events/ecr-push.json`, replays
//! it, and prints what changed. ECS's `SERVICE_DEPLOYMENT_COMPLETED` (a recorded event) ends the
//! deploy's record and `Deploy Succeeded` arrives from the bus; a second push fails in ECS and
//! `Deploy Failed` arrives with ECS's reason; `status` shows both. Then `service-sync` gets the
//! completed event and creates the Cloud Map service, the registry, the integration and the
//! routes; a route deleted by hand comes back on the next scheduled run; nlb-sync follows an
//! ALB's addresses. Last, a staging push whose deploy completes is promoted, by digest, to a
//! production service in another account (through its role), and one push to 30 services goes
//! through the deploy queue and the worker at ECS's own pace. Everything it started is stopped
//! when it returns.

use std::net::Ipv4Addr;

use deployer_devkit::dns::{Answer, DnsServer};
use deployer_devkit::emulator::{count_writes, repo_root};
use deployer_devkit::events::{happening_at, recorded_ecs_event, EventTap};
use deployer_devkit::lambda::LambdaWatch;
use deployer_devkit::world::{self, World};
use deployer_devkit::Emulator;

#[path = "demo/fan_out.rs"]
mod fan_out;

#[tokio::main]
async fn main() {
    step("starting the AWS emulator (moto server) on a free loopback port");
    let emulator = Emulator::start();
    println!("    {}", emulator.endpoint());

    step("building the world: VPC, 2 subnets, cluster sss, repository orders, service orders, HTTP API");
    let kit = World::new(&emulator).await;
    let clients = &kit.clients;
    let (app, first_digest) = kit.orders().await;
    let api = kit.api().await;
    println!("    VPC {} with subnets {}", kit.vpc, kit.subnets.join(", "));
    println!(
        "    namespace {} ({}), API {}, VPC link {}, JWT authorizer {}",
        api.namespace, api.namespace_id, api.api_id, api.vpc_link_id, api.authorizer_id
    );
    show_service("before", clients).await;

    let event_file = repo_root().join("events/ecr-push.json");
    let event: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&event_file).unwrap()).unwrap();
    let digest = event["detail"]["image-digest"].as_str().unwrap().to_owned();
    step("pushing a new orders:latest to ECR");
    world::push_image_with_digest(clients, "orders", "latest", &digest).await;
    println!("    orders:latest moved {} -> {}", short(&first_digest), short(&digest));

    step("state bucket deployer-state (leases, deploy records); bus `deploys` with a rule sending source ecs-deployer to a queue");
    world::create_bucket(clients, "deployer-state").await;
    let tap = EventTap::new(clients, "deploys").await;

    step("starting image-push in cargo-lambda's local Lambda runtime (first run builds it)");
    let mut env = emulator.env();
    let config = serde_json::json!({"apps": [api.app_config(&app, &["GET", "POST"], "/orders/{proxy+}")]}).to_string();
    env.push(("DEPLOYER_CONFIG".into(), config.clone()));
    env.push(("DEPLOYER_STATE_BUCKET".into(), "deployer-state".into()));
    env.push(("DEPLOYER_EVENT_BUS".into(), "deploys".into()));
    println!("    DEPLOYER_CONFIG={config}");
    println!("    DEPLOYER_STATE_BUCKET=deployer-state DEPLOYER_EVENT_BUS=deploys");
    let watch = LambdaWatch::start("image-push", &env);

    step("invoking image-push with events/ecr-push.json (the EventBridge push event)");
    emulator.start_recording();
    let answer = watch
        .invoke_file("image-push", &event_file)
        .unwrap_or_else(|e| fail(&e));
    let calls = emulator.stop_recording();
    println!("{}", indent(&serde_json::to_string_pretty(&answer).unwrap()));
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
        fail(&format!("expected the push to be deployed, got `{outcome}`"));
    }

    let deployment = answer["results"][0]["ecs_deployment_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    step("ECS reports the deployment completed: image-push gets events/ecs-deployment-completed.json (its deployment id)");
    let heard = invoke_event(&watch, "ecs-deployment-completed.json", &deployment);
    println!(
        "    outcome: {}, {}",
        heard["results"][0]["outcome"], heard["results"][0]["actions"][0]
    );
    let mut published = print_published(&tap).await;

    step("a second push fails in ECS (events/ecs-deployment-failed.json: the tasks do not start)");
    let broken = world::push_image(clients, "orders", "latest", "broken-build").await;
    let push_file = write_event("push-broken.json", &world::push_event("orders", "latest", &broken));
    let second = watch.invoke_file("image-push", &push_file).unwrap_or_else(|e| fail(&e));
    let deployment = second["results"][0]["ecs_deployment_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    println!("    push {}: {}", short(&broken), second["results"][0]["outcome"]);
    let failed = invoke_event(&watch, "ecs-deployment-failed.json", &deployment);
    println!(
        "    outcome: {}, {}",
        failed["results"][0]["outcome"], failed["results"][0]["actions"][0]
    );
    published.extend(print_published(&tap).await);
    if !published.iter().any(|t| t == "Deploy Succeeded") || !published.iter().any(|t| t == "Deploy Failed") {
        fail("expected Deploy Succeeded and Deploy Failed from the bus");
    }

    step("status through the command line (ecs-deployer, invoking the local image-push)");
    cli(&emulator, &watch, &["status", "orders"]);
    cli(&emulator, &watch, &["history", "orders"]);

    step("service-sync gets the first deploy's completed event (events/ecs-deployment-completed.json)");
    let sync = LambdaWatch::start("service-sync", &env);
    let completed = sync
        .invoke_file(
            "service-sync",
            &repo_root().join("events/ecs-deployment-completed.json"),
        )
        .unwrap_or_else(|e| fail(&e));
    print_sync(&completed);

    step("someone deletes the GET route by hand; the drift-repair schedule runs (events/scheduled.json)");
    let routes = deployer::aws::apigw::get_routes(&clients.apigw, &api.api_id)
        .await
        .unwrap();
    let get = routes.iter().find(|r| r.key.starts_with("GET ")).expect("GET route");
    clients
        .apigw
        .delete_route()
        .api_id(&api.api_id)
        .route_id(&get.id)
        .send()
        .await
        .unwrap();
    let scheduled = repo_root().join("events/scheduled.json");
    let repaired = sync
        .invoke_file("service-sync", &scheduled)
        .unwrap_or_else(|e| fail(&e));
    print_sync(&repaired);
    emulator.start_recording();
    let quiet = sync
        .invoke_file("service-sync", &scheduled)
        .unwrap_or_else(|e| fail(&e));
    let calls = emulator.stop_recording();
    println!(
        "    next run: {} with {} AWS calls ({}), {} writes",
        quiet["results"][0]["outcome"],
        calls.len(),
        calls
            .iter()
            .map(|c| c.operation.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        count_writes(&calls)
    );
    if completed["results"][0]["outcome"] != "synced" || repaired["results"][0]["outcome"] != "synced" {
        fail("expected service-sync to create and then repair the routes");
    }

    step("nlb-sync: the NLB target group follows the internal ALB's addresses (DNS server on loopback)");
    let dns = DnsServer::start();
    let tg = kit.target_group("nlb-443", 443).await;
    let first: Vec<Ipv4Addr> = ["10.0.1.10", "10.0.2.20"].iter().map(|a| a.parse().unwrap()).collect();
    dns.set(world::ALB_DNS_NAME, Answer::Addresses(first));
    let nlb_config = serde_json::json!({"apps": [], "nlb": {
        "state_bucket": "deployer-state", "dns_servers": [dns.addr.to_string()], "missing_runs_before_deregister": 2,
        "target_groups": [{"target_group_arn": tg, "alb_dns_name": world::ALB_DNS_NAME, "port": 443}]}});
    let mut nlb_env = emulator.env();
    nlb_env.push(("DEPLOYER_CONFIG".into(), nlb_config.to_string()));
    println!(
        "    {} -> 10.0.1.10, 10.0.2.20 (missing_runs_before_deregister: 2)",
        world::ALB_DNS_NAME
    );
    let nlb = LambdaWatch::start("nlb-sync", &nlb_env);
    let minute = |label: &str| {
        let answer = nlb.invoke_file("nlb-sync", &scheduled).unwrap_or_else(|e| fail(&e));
        let result = &answer["results"][0];
        let list = |v: &serde_json::Value| match v.as_array() {
            Some(items) => items.iter().filter_map(|i| i.as_str()).collect::<Vec<_>>().join(", "),
            None => "-".into(),
        };
        println!(
            "    {label:<28} {:<10} registered {:<22} deregistered {}",
            result["outcome"].as_str().unwrap_or_default(),
            list(&result["registered"]),
            list(&result["deregistered"])
        );
        answer
    };
    minute("minute 1:");
    minute("minute 2 (nothing changed):");
    let moved: Vec<Ipv4Addr> = ["10.0.1.10", "10.0.2.30"].iter().map(|a| a.parse().unwrap()).collect();
    dns.set(world::ALB_DNS_NAME, Answer::Addresses(moved));
    println!("    the ALB moves: 10.0.2.20 -> 10.0.2.30");
    minute("minute 3:");
    minute("minute 4:");
    println!("    targets now: {}", world::target_ips(clients, &tg).await.join(", "));

    step("promotion: production (account 222222222222, through its role) gets exactly what staging completed");
    let prod_role = "arn:aws:iam::222222222222:role/deployer";
    let prod = World::in_account(&emulator, prod_role).await;
    world::create_cluster(&prod.clients, "prod").await;
    let prod_app = prod.create_app("prod", "orders", "orders").await;
    let mut prod_config = prod_app.config();
    prod_config["name"] = "orders-prod".into();
    prod_config["role_arn"] = prod_role.into();
    prod_config["promote_from"] = "orders".into();
    // Another account: a promotion at once is said outright (or gated by a soak or an approval).
    prod_config["promotion"] = serde_json::json!({"policy": "auto"});
    prod_config.as_object_mut().unwrap().remove("tags");
    let promotion_config = serde_json::json!({"apps": [app.config(), prod_config]}).to_string();
    println!("    DEPLOYER_CONFIG={promotion_config}");
    let mut promotion_env = env.clone();
    promotion_env.retain(|(name, _)| name != "DEPLOYER_CONFIG");
    promotion_env.push(("DEPLOYER_CONFIG".into(), promotion_config));
    drop(watch);
    let watch = LambdaWatch::start("image-push", &promotion_env);
    let release = world::push_image(clients, "orders", "latest", "release-3").await;
    let push_file = write_event("push-release.json", &world::push_event("orders", "latest", &release));
    let pushed = watch.invoke_file("image-push", &push_file).unwrap_or_else(|e| fail(&e));
    println!(
        "    push {}: staging {}, production untouched ({} result)",
        short(&release),
        pushed["results"][0]["outcome"],
        pushed["results"].as_array().map_or(0, Vec::len)
    );
    let deployment = pushed["results"][0]["ecs_deployment_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let completed = invoke_event(&watch, "ecs-deployment-completed.json", &deployment);
    for result in completed["results"].as_array().into_iter().flatten() {
        println!(
            "    {:<12} {:<9} {} {}",
            result["app"].as_str().unwrap_or_default(),
            result["outcome"].as_str().unwrap_or_default(),
            result["image"].as_str().unwrap_or_default(),
            result["reason"].as_str().unwrap_or_default()
        );
    }
    let promoted = completed["results"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| r["app"] == "orders-prod" && r["outcome"] == "deployed");
    let prod_running = world::service_task_definition(&prod.clients, "prod", "orders").await;
    let prod_image = world::container_image(&prod.clients, &prod_running, "app").await;
    println!("    production runs {prod_image}");
    if !promoted || !prod_image.ends_with(&release) {
        fail("expected staging's completed digest promoted to production");
    }
    // Production's own ECS (account 222222222222) says its deployment completed; a rule there
    // forwards it to the deployer's bus (docs/accounts-and-regions.md).
    let prod_deployment = completed["results"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["app"] == "orders-prod")
        .and_then(|r| r["ecs_deployment_id"].as_str())
        .unwrap_or_default()
        .to_owned();
    let mut prod_completed = happening_at(
        recorded_ecs_event("ecs-deployment-completed.json", "prod", "orders", &prod_deployment),
        std::time::SystemTime::now(),
    );
    let arn = prod_completed["resources"][0].as_str().unwrap_or_default().to_owned();
    let own = format!(":{}:", deployer_devkit::emulator::ACCOUNT);
    prod_completed["resources"][0] = arn.replace(&own, ":222222222222:").into();
    prod_completed["account"] = "222222222222".into();
    let heard = watch
        .invoke_file("image-push", &write_event("prod-completed.json", &prod_completed))
        .unwrap_or_else(|e| fail(&e));
    println!(
        "    production's ECS (account 222222222222) says completed: {} {}",
        heard["results"][0]["app"], heard["results"][0]["outcome"]
    );
    cli(&emulator, &watch, &["status"]);

    step("fan-out: one push followed by 30 services, through the deploy queue and deploy-worker, paced to ECS's own rate limits");
    if let Err(err) = fan_out::run().await {
        fail(&format!("fan-out: {err}"));
    }

    if std::env::var("KEEP").is_ok_and(|keep| !keep.is_empty() && keep != "0") {
        keep_running(&emulator, &watch);
    }
    step("done: deployed by digest, discoverable in Cloud Map, routed by the API, NLB in step, promoted to production, a fleet deployed at ECS's pace; everything stopped");
}

/// `make demo KEEP=1`: the emulator and image-push stay up until Enter, with the commands that
/// try the payloads of `events/` against them.
fn keep_running(emulator: &Emulator, watch: &LambdaWatch) {
    step("KEEP=1: the emulator and image-push keep running; try, from the repository's root:");
    let exports: Vec<String> = emulator.env().iter().map(|(k, v)| format!("{k}={v}")).collect();
    let url = format!("http://127.0.0.1:{}", watch.port);
    println!("    export PATH=\"$PWD/.venv/bin:$PATH\" {}", exports.join(" "));
    println!("    ./target/debug/ecs-deployer --endpoint-url {url} --function image-push status");
    println!("    ./target/debug/ecs-deployer --endpoint-url {url} --function image-push history orders-prod");
    println!("    ./target/debug/ecs-deployer --endpoint-url {url} --function image-push deploy orders --tag latest --dry-run");
    for file in [
        "manual-status.json",
        "manual-deploy-dry-run.json",
        "manual-promote-dry-run.json",
    ] {
        println!(
            "    cargo lambda invoke image-push -A 127.0.0.1 -P {} --data-file events/{file}",
            watch.port
        );
    }
    println!(
        "    aws --endpoint-url {} ecs list-services --cluster sss",
        emulator.endpoint()
    );
    println!("\n    press Enter to stop everything");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

/// Runs the command line (`ecs-deployer`, built by `make demo`) against the local image-push
/// with the emulator's credentials, and prints what it printed.
fn cli(emulator: &Emulator, watch: &LambdaWatch, args: &[&str]) {
    let binary = deployer_devkit::lambda::function_binary("ecs-deployer");
    let output = std::process::Command::new(&binary)
        .args([
            "--endpoint-url",
            &format!("http://127.0.0.1:{}", watch.port),
            "--function",
            "image-push",
        ])
        .args(args)
        .envs(emulator.env())
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| fail(&format!("{}: {e}", binary.display())));
    println!("    $ ecs-deployer {}", args.join(" "));
    println!("{}", indent(&String::from_utf8_lossy(&output.stdout)));
    if !output.status.success() {
        fail(&format!(
            "ecs-deployer {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
}

/// Writes an event for the function to read (cargo-lambda invokes with a file).
fn write_event(name: &str, event: &serde_json::Value) -> std::path::PathBuf {
    let dir = repo_root().join("target/demo-events");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(event).unwrap()).unwrap();
    path
}

/// Invokes image-push with a recorded ECS event pointed at `sss/orders` and `deployment`, as if
/// ECS sent it now.
fn invoke_event(watch: &LambdaWatch, file: &str, deployment: &str) -> serde_json::Value {
    let event = happening_at(
        recorded_ecs_event(file, "sss", "orders", deployment),
        std::time::SystemTime::now(),
    );
    let path = write_event(file, &event);
    watch.invoke_file("image-push", &path).unwrap_or_else(|e| fail(&e))
}

/// Prints the deployer's events the bus delivered to the queue since the last call.
async fn print_published(tap: &EventTap) -> Vec<String> {
    let (types, events) = tap.detail_types().await;
    for event in &events {
        let detail = &event["detail"];
        println!(
            "    from the bus: {:<18} {} {}{}",
            event["detail-type"].as_str().unwrap_or_default(),
            detail["app"].as_str().unwrap_or_default(),
            detail["outcome"].as_str().unwrap_or_default(),
            detail["deploy"]["reason"]
                .as_str()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
    }
    types
}

async fn show_service(when: &str, clients: &deployer::AwsClients) {
    let task_definition = world::service_task_definition(clients, "sss", "orders").await;
    let revision = deployer::aws::ecs::describe_task_definition(&clients.ecs, &task_definition)
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

fn print_sync(answer: &serde_json::Value) {
    let result = &answer["results"][0];
    println!("    outcome: {}", result["outcome"]);
    for action in result["actions"].as_array().into_iter().flatten() {
        println!("      {}", action.as_str().unwrap_or_default());
    }
}

fn step(text: &str) {
    println!("\n==> {text}");
}

fn short(digest: &str) -> &str {
    &digest[..19.min(digest.len())]
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}

fn fail(message: &str) -> ! {
    eprintln!("demo failed: {message}");
    std::process::exit(1);
}
