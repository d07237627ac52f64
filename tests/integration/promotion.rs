//! Promotion by digest against the emulator, with recorded ECS events: a completed staging
//! deploy moves exactly its digest to production (here in another account, through production's
//! role), a failed one moves nothing, an approval moves only the pending digest.

use deployer::image_push::{ImagePush, Outcome, Report};
use deployer::job::Settings;
use deployer::lease::LeaseConfig;
use deployer::records::{DeployIndex, DeployOutcome, RecordStore, TriggerKind};
use deployer::AwsClients;
use deployer_devkit::events::{recorded_ecs_event, EventTap};
use deployer_devkit::world::{self, invoke_job, push_event, World};
use deployer_devkit::Emulator;
use serde_json::{json, Value};

mod alarms;

const BUCKET: &str = "deployer-state";
const PROD_ROLE: &str = "arn:aws:iam::222222222222:role/deployer";

/// Staging (`orders`, the function's account, follows `latest`) and production (`orders-prod`,
/// account 222222222222 through its role, promoted from staging with `promotion`), records and
/// events on.
pub(crate) struct Promotion {
    pub emulator: Emulator,
    pub kit: World,
    prod: World,
    tap: EventTap,
    pub settings: Settings,
    pub config: String,
}

pub(crate) async fn promotion_world(promotion: Value) -> Promotion {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_bucket(&kit.clients, BUCKET).await;
    let tap = EventTap::new(&kit.clients, "deploys").await;
    let (staging, _) = kit.orders().await;
    let prod = World::in_account(&emulator, PROD_ROLE).await;
    world::create_cluster(&prod.clients, "prod").await;
    let prod_app = prod.create_app("prod", "orders", "orders").await;
    let mut prod_config = prod_app.config();
    prod_config["name"] = json!("orders-prod");
    prod_config["role_arn"] = json!(PROD_ROLE);
    prod_config["promote_from"] = json!("orders");
    prod_config.as_object_mut().unwrap().remove("tags");
    // Production is in another account: a promotion at once must be written out.
    prod_config["promotion"] = match promotion {
        Value::Null => json!({"policy": "auto"}),
        promotion => promotion,
    };
    let config = json!({"apps": [staging.config(), prod_config]}).to_string();
    let settings = Settings {
        lease: Some(LeaseConfig::in_bucket(BUCKET)),
        records: Some(RecordStore::in_bucket(BUCKET)),
        event_bus: Some("deploys".into()),
        ..Settings::default()
    };
    Promotion {
        emulator,
        kit,
        prod,
        tap,
        settings,
        config,
    }
}

impl Promotion {
    pub(crate) async fn run(&self, payload: &Value) -> Vec<Report> {
        invoke_job::<ImagePush>(&self.kit.clients, &self.config, payload, &self.settings)
            .await
            .unwrap()
            .results
    }

    /// Pushes `seed` as `orders:latest`; staging's deploy report and the digest.
    pub(crate) async fn push(&self, seed: &str) -> (Report, String) {
        let digest = world::push_image(&self.kit.clients, "orders", "latest", seed).await;
        let mut reports = self.run(&push_event("orders", "latest", &digest)).await;
        assert_eq!(reports.len(), 1, "a push concerns staging only: {reports:?}");
        (reports.remove(0), digest)
    }

    /// ECS says staging's deployment ended (`file`): the reports of that event.
    pub(crate) async fn ecs_says(&self, file: &str, staging: &Report) -> Vec<Report> {
        let deployment = staging.ecs_deployment_id.clone().expect("an ECS deployment");
        self.run(&recorded_ecs_event(file, "sss", "orders", &deployment)).await
    }

    pub(crate) async fn index(&self, app: &str) -> DeployIndex {
        RecordStore::in_bucket(BUCKET)
            .read(&self.kit.clients.s3, app)
            .await
            .unwrap()
    }

    pub(crate) async fn prod_image(&self) -> String {
        image_of(&self.prod.clients, "prod").await
    }
}

async fn image_of(clients: &AwsClients, cluster: &str) -> String {
    let running = world::service_task_definition(clients, cluster, "orders").await;
    world::container_image(clients, &running, "app").await
}

fn find<'a>(reports: &'a [Report], app: &str) -> Option<&'a Report> {
    reports.iter().find(|r| r.app.as_deref() == Some(app))
}

#[tokio::test]
async fn a_completed_staging_deploy_promotes_its_digest_to_prod_through_prods_role() {
    let w = promotion_world(Value::Null).await;
    let before = w.prod_image().await;
    let (staging, digest) = w.push("v2").await;
    assert_eq!(staging.outcome, Outcome::Deployed, "{staging:?}");
    assert_eq!(w.prod_image().await, before, "a push never deploys prod");

    let reports = w.ecs_says("ecs-deployment-completed.json", &staging).await;
    let prod = find(&reports, "orders-prod").expect("the completion promotes prod");
    assert_eq!(prod.outcome, Outcome::Deployed, "{prod:?}");
    assert_eq!(prod.account.as_deref(), Some("222222222222"));
    // Exactly the digest staging completed, in prod's account.
    assert!(w.prod_image().await.ends_with(&format!("/orders@{digest}")));
    let record = w.index("orders-prod").await.records.remove(0);
    assert_eq!(record.trigger.kind, TriggerKind::Promotion);
    assert_eq!(record.trigger.by.as_deref(), Some("promotion from orders"));
    assert_eq!(
        record.trigger.id,
        staging.deploy_id.clone().unwrap(),
        "named by staging's deploy"
    );
    assert_eq!(record.digest.as_deref(), Some(digest.as_str()));
    assert_eq!(record.account.as_deref(), Some("222222222222"));
    let (types, _) = w.tap.detail_types().await;
    assert!(
        types.iter().filter(|t| *t == "Deploy Started").count() >= 2,
        "{types:?}"
    );

    // The completion replayed (EventBridge delivers at least once) promotes nothing again.
    let replay = w.ecs_says("ecs-deployment-completed.json", &staging).await;
    assert!(find(&replay, "orders-prod").is_none(), "{replay:?}");
    assert_eq!(w.index("orders-prod").await.records.len(), 1);

    // status says which digest runs where, and how it got there.
    let status = w.run(&json!({"status": {}})).await;
    let prod_status = find(&status, "orders-prod").unwrap().status.as_deref().unwrap().clone();
    let staging_status = find(&status, "orders").unwrap().status.as_deref().unwrap().clone();
    assert_eq!(prod_status.running_digest.as_deref(), Some(digest.as_str()));
    assert_eq!(staging_status.running_digest.as_deref(), Some(digest.as_str()));
    assert_eq!(prod_status.running_via.as_deref(), Some("promotion from orders"));
    assert!(
        staging_status.summary.as_deref().unwrap().contains("push of latest"),
        "{staging_status:?}"
    );
}

#[tokio::test]
async fn a_failed_staging_deploy_promotes_nothing_and_a_payload_cannot_force_its_digest() {
    let w = promotion_world(Value::Null).await;
    let before = w.prod_image().await;
    let (staging, digest) = w.push("broken").await;
    let reports = w.ecs_says("ecs-deployment-failed.json", &staging).await;
    assert!(find(&reports, "orders-prod").is_none(), "{reports:?}");
    // Neither does the settle run.
    let settle = w
        .run(&serde_json::from_str(&std::fs::read_to_string("events/scheduled.json").unwrap()).unwrap())
        .await;
    assert!(find(&settle, "orders-prod").is_none(), "{settle:?}");
    assert_eq!(w.prod_image().await, before);
    assert!(w.index("orders-prod").await.records.is_empty());

    // A payload naming the failed digest is refused: it never completed in staging.
    let err = invoke_job::<ImagePush>(
        &w.kit.clients,
        &w.config,
        &json!({"promote": {"app": "orders-prod", "digest": digest}}),
        &w.settings,
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "EventInvalid", "{err}");
    assert!(err.to_string().contains("never completed in `orders`"), "{err}");
    assert_eq!(w.prod_image().await, before);
}

#[tokio::test]
async fn with_approval_only_the_pending_digest_proceeds() {
    let w = promotion_world(json!({"approval": "manual"})).await;
    let before = w.prod_image().await;
    let (staging, digest) = w.push("v2").await;
    let _ = w.tap.received().await;
    let reports = w.ecs_says("ecs-deployment-completed.json", &staging).await;
    let pending = find(&reports, "orders-prod").unwrap();
    assert_eq!(pending.outcome, Outcome::Pending, "{pending:?}");
    assert_eq!(w.prod_image().await, before, "nothing deploys before the approval");
    let (types, events) = w.tap.detail_types().await;
    let asked: Vec<&Value> = events
        .iter()
        .filter(|e| e["detail-type"] == "Promotion Pending")
        .collect();
    assert_eq!(asked.len(), 1, "{types:?}");
    assert_eq!(asked[0]["detail"]["digest"], json!(digest));
    assert_eq!(asked[0]["detail"]["source"], json!("orders"));
    assert_eq!(asked[0]["detail"]["app"], json!("orders-prod"));

    // An approval of another digest is refused, and changes nothing.
    let other = world::fake_digest("something-else");
    let refused = invoke_job::<ImagePush>(
        &w.kit.clients,
        &w.config,
        &json!({"approve": {"app": "orders-prod", "digest": other}, "by": "alice"}),
        &w.settings,
    )
    .await
    .unwrap_err();
    assert!(refused.to_string().contains("approve.digest"), "{refused}");
    assert!(
        refused.to_string().contains(&digest),
        "names the pending one: {refused}"
    );
    assert_eq!(w.prod_image().await, before);

    // The pending digest proceeds, recorded as approved by who said so.
    let approved = w
        .run(&json!({"approve": {"app": "orders-prod", "digest": digest}, "by": "alice"}))
        .await;
    assert_eq!(approved[0].outcome, Outcome::Deployed, "{approved:?}");
    assert!(w.prod_image().await.ends_with(&format!("/orders@{digest}")));
    let record = w.index("orders-prod").await.records.remove(0);
    assert_eq!(
        record.trigger.by.as_deref(),
        Some("promotion from orders, approved by alice")
    );
    assert_eq!(record.outcome, DeployOutcome::InProgress);
    // Nothing waits any more: a second approval is refused.
    let again = invoke_job::<ImagePush>(
        &w.kit.clients,
        &w.config,
        &json!({"approve": {"app": "orders-prod", "digest": digest}}),
        &w.settings,
    )
    .await
    .unwrap_err();
    assert!(again.to_string().contains("none waits"), "{again}");
}

#[tokio::test]
async fn a_manual_policy_promotes_only_on_request_and_a_dry_run_says_what_would_move() {
    let w = promotion_world(json!({"policy": "manual"})).await;
    let before = w.prod_image().await;
    let (staging, digest) = w.push("v2").await;
    let reports = w.ecs_says("ecs-deployment-completed.json", &staging).await;
    assert!(find(&reports, "orders-prod").is_none(), "{reports:?}");
    assert_eq!(w.prod_image().await, before);

    let planned = w
        .run(&json!({"promote": {"app": "orders-prod"}, "dry_run": true, "by": "alice"}))
        .await;
    assert_eq!(planned[0].outcome, Outcome::Planned, "{planned:?}");
    assert_eq!(
        planned[0].image.as_deref().map(|i| i.ends_with(&digest)),
        Some(true),
        "{planned:?}"
    );
    assert!(!planned[0].actions.is_empty(), "{planned:?}");
    assert_eq!(w.prod_image().await, before, "a dry run changes nothing");

    let promoted = w.run(&json!({"promote": {"app": "orders-prod"}, "by": "alice"})).await;
    assert_eq!(promoted[0].outcome, Outcome::Deployed, "{promoted:?}");
    assert!(w.prod_image().await.ends_with(&format!("/orders@{digest}")));
    let record = w.index("orders-prod").await.records.remove(0);
    assert_eq!(
        record.trigger.by.as_deref(),
        Some("promotion from orders, asked by alice")
    );

    // Production's own ECS (its account) says the promotion completed: its record follows.
    let deployment = promoted[0].ecs_deployment_id.clone().unwrap();
    let mut event = recorded_ecs_event("ecs-deployment-completed.json", "prod", "orders", &deployment);
    let arn = event["resources"][0].as_str().unwrap().to_owned();
    event["resources"][0] = json!(arn.replace(&format!(":{}:", deployer_devkit::emulator::ACCOUNT), ":222222222222:"));
    let heard = w.run(&event).await;
    assert_eq!(
        find(&heard, "orders-prod").unwrap().outcome,
        Outcome::Followed,
        "{heard:?}"
    );
    assert_eq!(
        w.index("orders-prod").await.records[0].outcome,
        DeployOutcome::Completed
    );
}

#[tokio::test]
async fn a_chain_moves_one_digest_from_dev_through_staging_to_prod() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_bucket(&kit.clients, BUCKET).await;
    let (dev, _) = kit.orders().await;
    let mut apps = vec![dev.config()];
    for (name, from) in [("orders-staging", "orders"), ("orders-prod", "orders-staging")] {
        let app = kit.create_app("sss", "orders", name).await;
        let mut config = app.config();
        config["promote_from"] = json!(from);
        config.as_object_mut().unwrap().remove("tags");
        apps.push(config);
    }
    let config = json!({ "apps": apps }).to_string();
    let settings = Settings {
        records: Some(RecordStore::in_bucket(BUCKET)),
        ..Settings::default()
    };
    let run = |payload: Value| {
        let (clients, config, settings) = (&kit.clients, &config, &settings);
        async move {
            invoke_job::<ImagePush>(clients, config, &payload, settings)
                .await
                .unwrap()
                .results
        }
    };
    let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;
    let pushed = run(push_event("orders", "latest", &digest)).await;
    assert_eq!(pushed.len(), 1, "{pushed:?}");
    let mut deployment = pushed[0].ecs_deployment_id.clone().unwrap();
    // Each completion promotes the next stage, and nothing further until that one completes.
    for (done, next) in [("orders", "orders-staging"), ("orders-staging", "orders-prod")] {
        let reports = run(recorded_ecs_event(
            "ecs-deployment-completed.json",
            "sss",
            done,
            &deployment,
        ))
        .await;
        let promoted = find(&reports, next).unwrap_or_else(|| panic!("{done} promotes {next}: {reports:?}"));
        assert_eq!(promoted.outcome, Outcome::Deployed, "{promoted:?}");
        assert_eq!(reports.len(), 2, "one stage at a time: {reports:?}");
        let running = world::service_task_definition(&kit.clients, "sss", next).await;
        let image = world::container_image(&kit.clients, &running, "app").await;
        assert!(image.ends_with(&format!("/orders@{digest}")), "{next}: {image}");
        deployment = promoted.ecs_deployment_id.clone().unwrap();
    }
}

#[tokio::test]
async fn a_manual_deploy_goes_around_a_promotion_gate_only_when_it_says_override() {
    let w = promotion_world(json!({"approval": "manual"})).await;
    let before = w.prod_image().await;
    let digest = world::push_image(&w.kit.clients, "orders", "hotfix", "hotfix").await;
    let deploy = |extra: Value| {
        let mut deploy = json!({"app": "orders-prod", "digest": digest});
        deploy
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"deploy": deploy, "by": "alice"})
    };
    // Refused before any call, naming the field and the way through.
    let refused = invoke_job::<ImagePush>(&w.kit.clients, &w.config, &deploy(json!({})), &w.settings)
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("deploy.override"), "{refused}");
    assert!(refused.contains("promoted from `orders`"), "{refused}");
    assert_eq!(w.prod_image().await, before);
    assert!(w.index("orders-prod").await.records.is_empty());

    // Said outright: deployed, recorded and published as an override.
    let reports = w.run(&deploy(json!({"override": true}))).await;
    assert_eq!(reports[0].outcome, Outcome::Deployed, "{reports:?}");
    assert!(w.prod_image().await.ends_with(&format!("/orders@{digest}")));
    let record = w.index("orders-prod").await.records.remove(0);
    assert_eq!(record.trigger.kind, TriggerKind::Override);
    assert_eq!(record.trigger.by.as_deref(), Some("alice"));
    let (_, events) = w.tap.detail_types().await;
    let started = events
        .iter()
        .find(|e| e["detail"]["app"] == "orders-prod")
        .expect("the override's Deploy Started");
    assert_eq!(started["detail-type"], "Deploy Started");
    assert_eq!(started["detail"]["deploy"]["trigger"]["kind"], "override");
}

#[tokio::test]
async fn an_approval_is_refused_once_the_promotion_expired_or_its_source_no_longer_stands() {
    let w = promotion_world(json!({"approval": "manual"})).await;
    let before = w.prod_image().await;
    let (staging, digest) = w.push("v2").await;
    let reports = w.ecs_says("ecs-deployment-completed.json", &staging).await;
    assert_eq!(find(&reports, "orders-prod").unwrap().outcome, Outcome::Pending);
    let approve = json!({"approve": {"app": "orders-prod", "digest": digest}, "by": "alice"});
    let refusal = || async {
        invoke_job::<ImagePush>(&w.kit.clients, &w.config, &approve, &w.settings)
            .await
            .unwrap_err()
            .to_string()
    };
    let pending_key = "promotions/orders-prod.json";
    let s3 = &w.kit.clients.s3;
    let read_pending = || async {
        let object = w
            .kit
            .clients
            .s3
            .get_object()
            .bucket(BUCKET)
            .key(pending_key)
            .send()
            .await
            .unwrap();
        serde_json::from_slice::<Value>(&object.body.collect().await.unwrap().into_bytes()).unwrap()
    };
    let write_pending = |pending: Value| async move {
        let body = serde_json::to_vec(&pending).unwrap();
        s3.put_object()
            .bucket(BUCKET)
            .key(pending_key)
            .body(body.into())
            .send()
            .await
            .unwrap();
    };

    // Asked 25 hours ago: expired.
    let fresh = read_pending().await;
    let mut stale = fresh.clone();
    stale["asked_at"] = json!(deployer::records::format_time(
        std::time::SystemTime::now() - std::time::Duration::from_secs(25 * 3600)
    ));
    write_pending(stale).await;
    let refused = refusal().await;
    assert!(refused.contains("expire after 24 h"), "{refused}");
    write_pending(fresh).await;

    // Staging's deploy is rolled back since: what it completed no longer stands.
    RecordStore::in_bucket(BUCKET)
        .update(&w.kit.clients.s3, "orders", |index| {
            let record = index
                .records
                .iter_mut()
                .find(|r| Some(&r.id) == staging.deploy_id.as_ref())
                .unwrap();
            record.outcome = DeployOutcome::RolledBack;
            vec![deployer::records::Change {
                record: record.clone(),
                from: Some(DeployOutcome::Completed),
                milestone: None,
            }]
        })
        .await
        .unwrap();
    let refused = refusal().await;
    assert!(refused.contains("rolled_back there now"), "{refused}");
    assert_eq!(w.prod_image().await, before, "nothing moved");
}
