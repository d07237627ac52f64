//! `ecs-deployer`, the command line, as a user runs it: the built binary invoking image-push
//! served by cargo-lambda's local Lambda (the Invoke API the SDK calls), against the AWS
//! emulator. ECS's completion event is played while the command waits.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use deployer::image_push::ImagePush;
use deployer::job::Settings;
use deployer::records::{DeployOutcome, RecordStore};
use deployer_devkit::events::recorded_ecs_event;
use deployer_devkit::lambda::{function_binary, LambdaWatch};
use deployer_devkit::world::{self, invoke_job, World};
use deployer_devkit::Emulator;

const BUCKET: &str = "deployer-state";

/// The command line pointed at the local function, with the emulator's credentials.
pub(crate) fn cli(watch_port: u16, env: &[(String, String)], args: &[&str]) -> Command {
    let mut command = Command::new(function_binary("ecs-deployer"));
    command
        .args([
            "--endpoint-url",
            &format!("http://127.0.0.1:{watch_port}"),
            "--function",
            "image-push",
            "--by",
            "ci",
        ])
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("NO_COLOR", "1");
    command
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Waits until a deploy of `orders` is recorded in progress with its ECS deployment, then plays
/// ECS's completion event of it through image-push.
async fn complete_rolling(clients: &deployer::AwsClients, config: &str) {
    let store = RecordStore::in_bucket(BUCKET);
    let start = Instant::now();
    let deployment = loop {
        let index = store.read(&clients.s3, "orders").await.unwrap_or_default();
        let rolling = index.in_progress().and_then(|r| r.ecs_deployment_id.clone());
        if let Some(id) = rolling {
            break id;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "the deploy was never recorded"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let settings = Settings {
        records: Some(store),
        ..Settings::default()
    };
    let completed = recorded_ecs_event("ecs-deployment-completed.json", "sss", "orders", &deployment);
    invoke_job::<ImagePush>(clients, config, &completed, &settings)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_command_line_deploys_waits_for_the_outcome_and_shows_status() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let clients = &kit.clients;
    let (app, _) = kit.orders().await;
    world::create_bucket(clients, BUCKET).await;
    let config = world::config_for(&[&app]);
    let mut env = emulator.env();
    env.push(("DEPLOYER_CONFIG".into(), config.clone()));
    env.push((deployer::input::env::ENV_STATE_BUCKET.into(), BUCKET.into()));
    let function_env = env.clone();
    let watch = tokio::task::spawn_blocking(move || LambdaWatch::start("image-push", &function_env))
        .await
        .unwrap();
    let port = watch.port;
    let run = |args: &[&str]| -> Output { cli(port, &emulator.env(), args).output().expect("the CLI runs") };

    // Offline: a configuration checked by the functions' own validation, path by path.
    let dir = std::env::temp_dir().join(format!("cli-config-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        r#"{"apps": [{"name": "a", "cluster": "c", "service": "s", "repository": "R", "tags": []}]}"#,
    )
    .unwrap();
    let refused = run(&["config", "validate", bad.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2));
    let said = text(&refused.stderr);
    assert!(
        said.contains("apps[0].repository") && said.contains("apps[0].tags"),
        "{said}"
    );

    // A dry run plans, changes nothing, exits 0.
    let digest = world::push_image(clients, "orders", "latest", "v2").await;
    let planned = run(&["deploy", "orders", "--tag", "latest", "--dry-run"]);
    assert_eq!(planned.status.code(), Some(0), "{}", text(&planned.stderr));
    let out = text(&planned.stdout);
    assert!(
        out.starts_with("orders  planned") && out.contains("(dry run: nothing was changed)"),
        "{out}"
    );

    // A deploy with --wait: it waits until ECS's completion event (played here once the deploy
    // is recorded) ends the deploy, then exits 0.
    let waiting = cli(
        port,
        &emulator.env(),
        &[
            "deploy",
            "orders",
            "--tag",
            "latest",
            "--wait",
            "--interval",
            "1",
            "--timeout",
            "2",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("the CLI starts");
    complete_rolling(clients, &config).await;
    let waited = tokio::task::spawn_blocking(move || waiting.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let (out, err) = (text(&waited.stdout), text(&waited.stderr));
    assert_eq!(waited.status.code(), Some(0), "{out}{err}");
    assert!(out.starts_with("orders  deployed  orders:"), "{out}");
    assert!(out.lines().last().unwrap().ends_with("completed"), "{out}");
    let store = RecordStore::in_bucket(BUCKET);
    let index = store.read(&clients.s3, "orders").await.unwrap();
    assert_eq!(index.records[0].outcome, DeployOutcome::Completed);
    assert_eq!(index.records[0].trigger.by.as_deref(), Some("ci"));

    // `status`: the table names the digest, the outcome and how it got there; JSON for scripts.
    let status = run(&["status"]);
    let table = text(&status.stdout);
    assert_eq!(status.status.code(), Some(0), "{table}");
    let short = &digest["sha256:".len().."sha256:".len() + 12];
    assert!(table.starts_with("APP     DIGEST"), "{table}");
    assert!(
        table.lines().nth(1).is_some_and(|row| row.starts_with("orders")
            && row.contains(short)
            && row.contains("completed")
            && row.contains("manual deploy")),
        "{table}"
    );
    let json = run(&["status", "orders", "--output", "json"]);
    let answer: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(answer["results"][0]["status"]["running_digest"], digest.as_str());
    let history = text(&run(&["history", "orders"]).stdout);
    assert_eq!(history.lines().count(), 2, "{history}");

    // A failed deploy exits 1 and says why; a payload image-push would refuse is refused
    // before any call (exit 2).
    let failed = run(&["deploy", "orders", "--tag", "missing"]);
    assert_eq!(
        failed.status.code(),
        Some(1),
        "{}{}",
        text(&failed.stdout),
        text(&failed.stderr)
    );
    assert!(
        text(&failed.stderr).contains("DeployFailed"),
        "{}",
        text(&failed.stderr)
    );
    assert!(
        text(&failed.stdout).contains("orders  failed"),
        "{}",
        text(&failed.stdout)
    );
    let usage = run(&["deploy", "orders"]);
    assert_eq!(usage.status.code(), Some(2));

    // CI's recipe: the push deploys v3; `deploy --digest <v3> --wait` answers `unchanged` and
    // follows the push's deploy until it completes.
    let v3 = world::push_image(clients, "orders", "latest", "v3").await;
    let settings = Settings {
        records: Some(store.clone()),
        ..Settings::default()
    };
    let push = world::push_event("orders", "latest", &v3);
    let pushed = invoke_job::<ImagePush>(clients, &config, &push, &settings)
        .await
        .unwrap();
    assert_eq!(pushed.results[0].outcome, deployer::image_push::Outcome::Deployed);
    let args = [
        "deploy",
        "orders",
        "--digest",
        &v3,
        "--wait",
        "--interval",
        "1",
        "--timeout",
        "2",
    ];
    let following = cli(port, &emulator.env(), &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the CLI starts");
    // The CLI answers `unchanged` and looks at `status` before the completion is played.
    tokio::time::sleep(Duration::from_secs(3)).await;
    complete_rolling(clients, &config).await;
    let followed = tokio::task::spawn_blocking(move || following.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let (out, err) = (text(&followed.stdout), text(&followed.stderr));
    assert_eq!(followed.status.code(), Some(0), "{out}{err}");
    assert!(out.starts_with("orders  unchanged"), "{out}");
    let last = out.lines().last().unwrap();
    assert!(
        last.starts_with("orders: deploy push-") && last.ends_with("completed"),
        "{out}{err}"
    );
}
