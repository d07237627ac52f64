//! The scheduled sync says what the stack does not grant: an application whose repository the
//! push rules do not watch, or whose cluster IAM does not name, fails the run (`Sync Failed`,
//! an invocation error for the alarm) naming the parameter, instead of a push that never arrives.

use deployer::error::InvokeError;
use deployer::job::{Settings, StackGrants};
use deployer::service_sync::ServiceSync;
use deployer_devkit::world::{self, invoke_job, World};
use deployer_devkit::Emulator;
use serde_json::json;

#[tokio::test]
async fn the_scheduled_sync_fails_naming_the_parameter_an_application_needs() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let (app, _) = kit.orders().await;
    let config = world::config_for(&[&app]);
    let scheduled = json!({"version": "0", "id": "sched-1", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-12-07T00:00:00Z", "region": "ap-northeast-1", "resources": [], "detail": {}});
    let granted = |repositories: &[&str], clusters: &[&str]| Settings {
        stack_grants: Some(StackGrants {
            repositories: repositories.iter().map(|r| r.to_string()).collect(),
            clusters: clusters.iter().map(|c| c.to_string()).collect(),
        }),
        ..Settings::default()
    };
    let all = invoke_job::<ServiceSync>(&kit.clients, &config, &scheduled, &granted(&["orders"], &["sss"]))
        .await
        .unwrap();
    assert!(deployer::job::settle::<ServiceSync>(all).is_ok());
    let missing = invoke_job::<ServiceSync>(&kit.clients, &config, &scheduled, &granted(&["billing"], &["other"]))
        .await
        .unwrap();
    // Lambda sees an invocation error: the failure queue keeps it and the alarm fires.
    let Err(InvokeError::ItemsFailed(failed)) = deployer::job::settle::<ServiceSync>(missing) else {
        panic!("the run must fail")
    };
    assert_eq!(failed.error_type, "SyncFailed");
    let text = failed.failures.join("; ");
    assert!(
        text.contains("`orders` is not in the stack's WatchedRepositories")
            && text.contains("`sss` is not in the stack's ClusterNames"),
        "{text}"
    );
    // A manual sync is about the applications, not the stack: it does not repeat the check.
    let manual = invoke_job::<ServiceSync>(
        &kit.clients,
        &config,
        &json!({"sync": {}}),
        &granted(&["billing"], &["other"]),
    )
    .await
    .unwrap();
    assert!(deployer::job::settle::<ServiceSync>(manual).is_ok());
}
