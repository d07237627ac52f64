//! Promotion on evidence: a source whose alarm fired during the soak never promotes.

use super::*;

/// An alarm in staging's account, watched by production's promotion (`promotion.alarms`).
async fn alarm(clients: &AwsClients, name: &str) -> aws_sdk_cloudwatch::Client {
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&clients.sdk_config);
    cloudwatch
        .put_metric_alarm()
        .alarm_name(name)
        .namespace("AWS/ApplicationELB")
        .metric_name("HTTPCode_Target_5XX_Count")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(5.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    cloudwatch
}

async fn set_alarm(cloudwatch: &aws_sdk_cloudwatch::Client, name: &str, state: aws_sdk_cloudwatch::types::StateValue) {
    cloudwatch
        .set_alarm_state()
        .alarm_name(name)
        .state_value(state)
        .state_reason("test")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_source_whose_alarm_fired_during_the_soak_never_promotes() {
    use aws_sdk_cloudwatch::types::StateValue;
    use deployer_devkit::events::happening_at;
    let w = promotion_world(json!({"policy": "auto", "soak_minutes": 30, "alarms": ["orders-5xx"]})).await;
    let cloudwatch = alarm(&w.kit.clients, "orders-5xx").await;
    let completes_now = |staging: &Report| {
        let deployment = staging.ecs_deployment_id.clone().unwrap();
        happening_at(
            recorded_ecs_event("ecs-deployment-completed.json", "sss", "orders", &deployment),
            std::time::SystemTime::now(),
        )
    };
    let settle = json!({
        "version": "0", "id": "settle-soak", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-11-22T10:40:00Z", "region": "ap-northeast-1",
        "resources": [], "detail": {}
    });
    // v2 completes, the alarm quiet since before: a `promote` (no soak to wait for) moves it,
    // the record saying what was checked.
    let (staging, digest) = w.push("v2").await;
    w.run(&completes_now(&staging)).await;
    let reports = w.run(&json!({"promote": {"app": "orders-prod"}, "by": "alice"})).await;
    assert_eq!(reports[0].outcome, Outcome::Deployed, "{reports:?}");
    assert!(w.prod_image().await.ends_with(&format!("/orders@{digest}")));
    let record = w.index("orders-prod").await.records.remove(0);
    assert!(
        record
            .notes
            .iter()
            .any(|n| n.contains("evidence: alarms quiet through the soak: orders-5xx: OK since")),
        "{record:?}"
    );

    // v3 completes; the alarm fires and recovers inside its soak: OK now, never promoted, by
    // the settle run once the soak is over or by a `promote`.
    let promoted = w.prod_image().await;
    let (staging, _) = w.push("v3").await;
    w.run(&completes_now(&staging)).await;
    set_alarm(&cloudwatch, "orders-5xx", StateValue::Alarm).await;
    set_alarm(&cloudwatch, "orders-5xx", StateValue::Ok).await;
    completed_minutes_ago(&w, 31).await;
    for payload in [settle.clone(), json!({"promote": {"app": "orders-prod"}})] {
        let reports = w.run(&payload).await;
        let prod = find(&reports, "orders-prod").expect("said why");
        assert_eq!(prod.outcome, Outcome::Unchanged, "{prod:?}");
        assert!(
            prod.reason
                .as_deref()
                .unwrap()
                .contains("`orders-5xx` changed state during the soak"),
            "{prod:?}"
        );
    }
    assert_eq!(w.prod_image().await, promoted, "v3 never reached production");
    assert_eq!(w.index("orders-prod").await.records.len(), 1);
}

/// Makes staging's newest deploy look completed `minutes` ago (its soak runs from then).
async fn completed_minutes_ago(w: &Promotion, minutes: u64) {
    let ended =
        deployer::records::format_time(std::time::SystemTime::now() - std::time::Duration::from_secs(minutes * 60));
    RecordStore::in_bucket(BUCKET)
        .update(&w.kit.clients.s3, "orders", |index| {
            index.records[0].ended_at = Some(ended.clone());
            vec![deployer::records::Change {
                record: index.records[0].clone(),
                from: None,
                milestone: None,
            }]
        })
        .await
        .unwrap();
}
