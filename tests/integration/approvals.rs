//! Approvals that mean something: with `approvers` configured, a pending promotion proceeds only
//! on an approval signed through image-push's function URL (Lambda names the signer) by a listed
//! principal other than who asked; a plain invoke, which names nobody, is refused.

use deployer::image_push::{ImagePush, Outcome};
use deployer::job::Invocation;
use deployer_devkit::world::invoke_job_as;
use serde_json::{json, Value};

use super::promotion::{promotion_world, Promotion};

const ALICE: &str = "arn:aws:sts::123456789012:assumed-role/Releaser/alice";
const BOB: &str = "arn:aws:sts::123456789012:assumed-role/Approver/bob";
const CAROL: &str = "arn:aws:iam::123456789012:user/carol";

/// `payload` as signed by `caller` through the function URL (none: a plain invoke).
async fn signed(
    w: &Promotion,
    config: &str,
    payload: &Value,
    caller: Option<&str>,
) -> Result<Vec<deployer::image_push::Report>, String> {
    let mut invocation = Invocation::local();
    invocation.caller = caller.map(str::to_owned);
    invoke_job_as::<ImagePush>(&w.kit.clients, config, payload, &w.settings, &invocation)
        .await
        .map(|answer| answer.results)
        .map_err(|err| err.to_string())
}

#[tokio::test]
async fn only_a_signed_approval_by_a_listed_principal_other_than_the_asker_proceeds() {
    let w = promotion_world(json!({"policy": "manual", "approval": "manual"})).await;
    let mut config: Value = serde_json::from_str(&w.config).unwrap();
    config["approvers"] = json!([
        "arn:aws:iam::123456789012:role/Releaser",
        "arn:aws:iam::123456789012:role/teams/Approver"
    ]);
    let config = config.to_string();
    let before = w.prod_image().await;
    let (staging, digest) = w.push("v2").await;
    w.ecs_says("ecs-deployment-completed.json", &staging).await;

    // Alice asks, signed: the promotion waits, and remembers who asked.
    let asked = signed(&w, &config, &json!({"promote": {"app": "orders-prod"}}), Some(ALICE))
        .await
        .unwrap();
    assert_eq!(asked[0].outcome, Outcome::Pending, "{asked:?}");
    let approve = json!({"approve": {"app": "orders-prod", "digest": digest}, "by": "bob"});

    // Unsigned (a plain invoke, whatever its `by` says), not listed, or the asker herself: refused.
    for (caller, says) in [
        (None, "approve function's URL"),
        (Some(CAROL), "not listed"),
        (Some(ALICE), "other than who asked"),
    ] {
        let refused = signed(&w, &config, &approve, caller).await.unwrap_err();
        assert!(refused.contains(says), "{caller:?}: {refused}");
        assert_eq!(w.prod_image().await, before, "{caller:?}");
    }

    // Bob, listed (his role's path does not show in his session's ARN), approves: recorded by
    // his signed identity, not by the payload's word.
    let approved = signed(&w, &config, &approve, Some(BOB)).await.unwrap();
    assert_eq!(approved[0].outcome, Outcome::Deployed, "{approved:?}");
    assert!(w.prod_image().await.ends_with(&format!("/orders@{digest}")));
    let record = w.index("orders-prod").await.records.remove(0);
    assert_eq!(
        record.trigger.by.as_deref(),
        Some(format!("promotion from orders, approved by {BOB}").as_str())
    );

    // Without `approvers`, approvals stay open to any invoker, as before.
    let plain = signed(&w, &w.config, &approve, None).await.unwrap_err();
    assert!(plain.contains("none waits"), "already approved: {plain}");
}
