//! Retries and deadlines: a deferred attempt and its retry end in one record and one revision,
//! nothing new starts near the deadline, a record not written is written by the retry once, and
//! a late event is still stopped when the running image is read beside the revision.

use super::*;

#[tokio::test]
async fn a_deferred_attempt_and_its_retry_end_in_one_record_and_one_revision() {
    let emulator = Emulator::start();
    let (kit, tap, mut settings) = truth_world(&emulator).await;
    let (app, _) = kit.orders().await;
    let config = world::config_for(&[&app]);
    // Another deploy holds the service's lease for the whole (short) wait.
    let mut leases = LeaseConfig::in_bucket(BUCKET);
    leases.wait = Duration::from_millis(300);
    let held = deployer::lease::acquire(
        &kit.clients.s3,
        &leases,
        &leases.key("sss", "orders"),
        "other-run",
        "test",
    )
    .await
    .unwrap();
    settings.lease = Some(leases.clone());
    let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;
    let event = push_event("orders", "latest", &digest);

    // A busy lease is "later", not a failure: no record, no event; the invocation is Deferred.
    let answer = run(&kit.clients, &config, &event, &settings).await;
    let deferred = answer.results[0].clone();
    assert_eq!(deferred.outcome, Outcome::Deferred, "{deferred:?}");
    assert!(deferred.reason.as_deref().unwrap().contains("holds the lease"));
    assert_eq!(
        deployer::job::settle::<ImagePush>(answer).unwrap_err().error_type(),
        "Deferred"
    );
    assert!(index(&kit.clients, "orders").await.records.is_empty());

    deployer::lease::release(&kit.clients.s3, &leases, &held).await.unwrap();
    let retried = run(&kit.clients, &config, &event, &settings).await.results.remove(0);
    assert_eq!(retried.outcome, Outcome::Deployed);
    let records = index(&kit.clients, "orders").await.records;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].outcome, DeployOutcome::InProgress);
    assert_eq!(world::family_revisions(&kit.clients, "orders").await.len(), 2);
    let (types, _) = tap.detail_types().await;
    assert_eq!(types, vec!["Deploy Started"]);
}

#[tokio::test]
async fn near_the_deadline_nothing_new_starts_and_it_is_deferred() {
    let emulator = Emulator::start();
    let (kit, _tap, settings) = truth_world(&emulator).await;
    let (app, _) = kit.orders().await;
    let config = world::config_for(&[&app]);
    let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;
    let invocation = Invocation {
        request_id: "near-deadline".into(),
        deadline: Some(std::time::Instant::now() + Duration::from_secs(5)),
        account: None,
        caller: None,
    };
    emulator.start_recording();
    let answer = invoke_job_as::<ImagePush>(
        &kit.clients,
        &config,
        &push_event("orders", "latest", &digest),
        &settings,
        &invocation,
    )
    .await
    .unwrap();
    let calls = emulator.stop_recording();
    assert_eq!(answer.results[0].outcome, Outcome::Deferred);
    assert!(answer.results[0].reason.as_deref().unwrap().contains("not started"));
    assert_eq!(
        count_op(&calls, "RegisterTaskDefinition") + count_op(&calls, "UpdateService"),
        0
    );
    assert!(
        index(&kit.clients, "orders").await.records.is_empty(),
        "nothing recorded"
    );
    let settled = deployer::job::settle::<ImagePush>(answer);
    assert_eq!(settled.unwrap_err().error_type(), "Deferred");
}

#[tokio::test]
async fn a_deploy_whose_record_was_not_written_is_recorded_by_the_retry_once() {
    let emulator = Emulator::start();
    let (kit, tap, _) = truth_world(&emulator).await;
    let (app, _) = kit.orders().await;
    let config = world::config_for(&[&app]);
    // The records' bucket does not exist yet: ECS takes the deploy, its record cannot be written.
    let settings = Settings {
        records: Some(RecordStore::in_bucket("records-later")),
        event_bus: Some("deploys".into()),
        ..Settings::default()
    };
    let digest = world::push_image(&kit.clients, "orders", "latest", "v2").await;
    let event = push_event("orders", "latest", &digest);
    let answer = run(&kit.clients, &config, &event, &settings).await;
    let error = deployer::job::settle::<ImagePush>(answer)
        .expect_err("an unrecorded deploy is a failure, so Lambda retries it");
    assert_eq!(error.error_type(), "DeployFailed");
    assert!(error.to_string().contains("a retry writes it"), "{error}");
    let running = world::service_task_definition(&kit.clients, "sss", "orders").await;

    // Lambda's retry: the service already runs the revision; the record is written now, once.
    world::create_bucket(&kit.clients, "records-later").await;
    let store = RecordStore::in_bucket("records-later");
    for attempt in 0..2 {
        let answer = run(&kit.clients, &config, &event, &settings).await;
        assert_eq!(answer.results[0].outcome, Outcome::Unchanged, "{answer:?}");
        let records = store.read(&kit.clients.s3, "orders").await.unwrap().records;
        assert_eq!(records.len(), 1, "attempt {attempt}: {records:?}");
        assert_eq!(records[0].outcome, DeployOutcome::InProgress);
        assert_eq!(records[0].new_task_definition.as_deref(), Some(running.as_str()));
        assert_eq!(records[0].trigger.id, event["id"].as_str().unwrap());
    }
    let (types, _) = tap.detail_types().await;
    assert_eq!(types, vec!["Deploy Started"]);
}

/// ECR's events are best effort: a push whose event never came is deployed by the settle run,
/// once; a digest that was deployed and failed is never redeployed that way.
#[tokio::test]
async fn with_records_the_running_image_is_read_beside_the_revision_and_still_stops_a_late_event() {
    let emulator = Emulator::start();
    let (kit, _tap, settings) = truth_world(&emulator).await;
    let (app, _) = kit.orders().await;
    let config = world::config_for(&[&app]);
    // release-1 is pushed, then release-2 a second later (ECR keeps whole seconds); release-2's
    // event comes first and deploys.
    let first = world::push_image(&kit.clients, "orders", "release-1", "r1").await;
    let first_event = push_event("orders", "release-1", &first);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = world::push_image(&kit.clients, "orders", "release-2", "r2").await;
    let deployed = run(
        &kit.clients,
        &config,
        &push_event("orders", "release-2", &second),
        &settings,
    )
    .await;
    assert_eq!(deployed.results[0].outcome, Outcome::Deployed, "{deployed:?}");

    // release-1's event, late: the records name the running digest, so one DescribeImages asks
    // for both images beside the revision's read, and the push time still says it is late.
    emulator.start_recording();
    let late = run(&kit.clients, &config, &first_event, &settings)
        .await
        .results
        .remove(0);
    let calls = emulator.stop_recording();
    assert_eq!(late.outcome, Outcome::Stale, "{late:?}");
    assert!(late.reason.as_deref().unwrap().contains("late event"), "{late:?}");
    assert_eq!(count_op(&calls, "DescribeImages"), 1, "{calls:?}");
    // Only the lease, taken beside the reads (the index did not foresee a late event) and given
    // back: no revision, no service update, no record.
    let writes: Vec<_> = calls
        .iter()
        .filter(|c| c.operation.starts_with("PUT ") || c.service != "s3")
        .filter(|c| !c.operation.contains("/leases/") && !c.operation.starts_with("Describe"))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}
