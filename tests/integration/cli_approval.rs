//! `ecs-deployer approve` where `approvers` is set: image-push refuses the plain invoke, so the
//! command line reads the approve function's URL (`GetFunctionUrlConfig`) and sends the same
//! approval there, SigV4-signed with the caller's credentials. Lambda's front door (the Invoke
//! API, the URL lookup and the URL's IAM check) is the devkit stand-in `LambdaFront`, because no
//! local server checks function URL signatures; image-push runs under cargo-lambda and the
//! approve function through the Runtime API, against the emulator.

use deployer::image_push::{ImagePush, Outcome};
use deployer::job::Invocation;
use deployer_devkit::lambda::{function_binary, LambdaWatch};
use deployer_devkit::lambda_front::{FrontConfig, LambdaFront, Signer};
use deployer_devkit::world::invoke_job_as;
use serde_json::json;

use super::cli::{cli, text};
use super::promotion::promotion_world;

const ALICE: &str = "arn:aws:sts::123456789012:assumed-role/Releaser/alice";
const BOB: &str = "arn:aws:sts::123456789012:assumed-role/Approver/bob";

#[tokio::test(flavor = "multi_thread")]
async fn approve_signs_the_approval_to_the_approve_functions_url_when_approvers_are_set() {
    let w = promotion_world(json!({"policy": "manual", "approval": "manual"})).await;
    let mut config: serde_json::Value = serde_json::from_str(&w.config).unwrap();
    config["approvers"] = json!([
        "arn:aws:iam::123456789012:role/Releaser",
        "arn:aws:iam::123456789012:role/Approver"
    ]);
    let config = config.to_string();
    let before = w.prod_image().await;
    let (staging, digest) = w.push("v2").await;
    w.ecs_says("ecs-deployment-completed.json", &staging).await;
    let mut asked_by_alice = Invocation::local();
    asked_by_alice.caller = Some(ALICE.into());
    let asked = invoke_job_as::<ImagePush>(
        &w.kit.clients,
        &config,
        &json!({"promote": {"app": "orders-prod"}}),
        &w.settings,
        &asked_by_alice,
    )
    .await
    .unwrap();
    assert_eq!(asked.results[0].outcome, Outcome::Pending, "{asked:?}");

    let mut env = w.emulator.env();
    env.push(("DEPLOYER_CONFIG".into(), config.clone()));
    env.push((deployer::input::env::ENV_STATE_BUCKET.into(), "deployer-state".into()));
    env.push((deployer::input::env::ENV_EVENT_BUS.into(), "deploys".into()));
    let watch_env = env.clone();
    let watch = tokio::task::spawn_blocking(move || LambdaWatch::start("image-push", &watch_env))
        .await
        .unwrap();
    let approve_binary = tokio::task::spawn_blocking(|| function_binary("approve"))
        .await
        .unwrap();
    let value = |name: &str| env.iter().find(|(k, _)| k == name).unwrap().1.clone();
    let front = LambdaFront::start(FrontConfig {
        invoke_port: watch.port,
        approve_function: "approve".into(),
        approve_binary,
        env: env.clone(),
        // Bob's keys are the emulator's.
        signers: vec![Signer {
            access_key: value("AWS_ACCESS_KEY_ID"),
            secret: value("AWS_SECRET_ACCESS_KEY"),
            arn: BOB.into(),
        }],
        region: value("AWS_REGION"),
    })
    .await;
    let approve = |env: Vec<(String, String)>| {
        let args = ["approve", "orders-prod", digest.as_str()].map(str::to_owned);
        let port = front.port;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut command = cli(port, &env, &args);
            tokio::task::spawn_blocking(move || command.output().expect("the CLI runs"))
                .await
                .unwrap()
        }
    };

    // A signature that does not match (another secret): Lambda refuses it, nothing runs.
    let mut wrong_key = env.clone();
    wrong_key.retain(|(k, _)| k != "AWS_SECRET_ACCESS_KEY");
    wrong_key.push(("AWS_SECRET_ACCESS_KEY".into(), "not-bobs".into()));
    let refused = approve(wrong_key).await;
    let said = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{said}");
    assert!(
        said.contains("sending it signed to") && said.contains("Forbidden"),
        "{said}"
    );
    assert_eq!(front.refused(), 1);
    assert_eq!(w.prod_image().await, before);

    // Bob's own keys: the plain invoke is refused, the signed request goes through, and the
    // record names Bob as Lambda named him, not the payload's `by`.
    let approved = approve(env.clone()).await;
    let (out, err) = (text(&approved.stdout), text(&approved.stderr));
    assert_eq!(approved.status.code(), Some(0), "{out}{err}");
    assert!(out.starts_with("orders-prod  deployed"), "{out}{err}");
    assert_eq!(front.refused(), 1);
    assert!(w.prod_image().await.ends_with(&format!("/orders@{digest}")));
    let record = w.index("orders-prod").await.records.remove(0);
    assert_eq!(
        record.trigger.by.as_deref(),
        Some(format!("promotion from orders, approved by {BOB}").as_str())
    );
}
