//! "Nothing else touched" against ECS's next field: the deployment configuration the deployer
//! sends (to turn the circuit breaker on) keeps every member the service has. Each value here
//! sets every member the SDK's model has; a member the SDK adds shows as `None` in its `Debug`
//! and fails the test, until it is set here and the copy is checked to carry it. (The revision
//! copy has the same guard: `aws::revision`'s `the_register_request_carries_every_writable_field`.)

use aws_sdk_ecs::types::{
    CanaryConfiguration, DeploymentAlarms, DeploymentCircuitBreaker, DeploymentConfiguration,
    DeploymentEarlySuccessCriteria, DeploymentLifecycleHook, DeploymentLifecycleHookStage,
    DeploymentLifecycleHookTargetType, DeploymentStrategy, LinearConfiguration, ServiceRevisionCleanup,
    ThresholdConfiguration, ThresholdType,
};

use super::plan::circuit_breaker_change;
use crate::testing::{app, service, top_level_fields};

/// Members of `value`'s `Debug` left unset (`None`).
fn unset(value: &impl std::fmt::Debug) -> Vec<String> {
    let debug = format!("{value:?}");
    top_level_fields(&debug)
        .into_iter()
        .filter(|(_, v)| *v == "None")
        .map(|(k, _)| k.to_owned())
        .collect()
}

fn breaker() -> DeploymentCircuitBreaker {
    DeploymentCircuitBreaker::builder()
        .enable(false)
        .rollback(false)
        .reset_on_healthy_task(true)
        .threshold_configuration(
            ThresholdConfiguration::builder()
                .r#type(ThresholdType::Count)
                .value(3)
                .build()
                .unwrap(),
        )
        .build()
}

/// A rolling deployment configuration with every member set, its breaker off.
fn full_configuration() -> DeploymentConfiguration {
    DeploymentConfiguration::builder()
        .deployment_circuit_breaker(breaker())
        .maximum_percent(150)
        .minimum_healthy_percent(75)
        .alarms(
            DeploymentAlarms::builder()
                .alarm_names("orders-5xx")
                .enable(true)
                .rollback(true)
                .build()
                .unwrap(),
        )
        .strategy(DeploymentStrategy::Rolling)
        .bake_time_in_minutes(15)
        .lifecycle_hooks(
            DeploymentLifecycleHook::builder()
                .target_type(DeploymentLifecycleHookTargetType::AwsLambda)
                .hook_target_arn("arn:aws:lambda:ap-northeast-1:123456789012:function:check")
                .role_arn("arn:aws:iam::123456789012:role/hooks")
                .lifecycle_stages(DeploymentLifecycleHookStage::PostScaleUp)
                .hook_details(aws_smithy_types::Document::from("details"))
                .timeout_configuration(
                    aws_sdk_ecs::types::DeploymentLifecycleHookTimeoutConfiguration::builder()
                        .timeout_in_minutes(30)
                        .action(aws_sdk_ecs::types::DeploymentLifecycleHookAction::Rollback)
                        .build(),
                )
                .build(),
        )
        .linear_configuration(
            LinearConfiguration::builder()
                .step_percent(10.0)
                .step_bake_time_in_minutes(5)
                .build(),
        )
        .canary_configuration(
            CanaryConfiguration::builder()
                .canary_percent(5.0)
                .canary_bake_time_in_minutes(10)
                .build(),
        )
        .early_success_criteria(
            DeploymentEarlySuccessCriteria::builder()
                .enable(true)
                .healthy_percent(90)
                .source_service_revision_cleanup(ServiceRevisionCleanup::Deferred)
                .build(),
        )
        .build()
}

#[test]
fn the_fixtures_set_every_member_the_sdk_models() {
    assert_eq!(
        unset(&full_configuration()),
        Vec::<String>::new(),
        "a new DeploymentConfiguration member: set it here"
    );
    assert_eq!(
        unset(&breaker()),
        Vec::<String>::new(),
        "a new DeploymentCircuitBreaker member: set it here"
    );
}

#[test]
fn turning_the_circuit_breaker_on_touches_nothing_else() {
    let mut guarded = app();
    guarded.circuit_breaker = true;
    let mut svc = service("orders:1");
    svc.deployment_configuration = Some(full_configuration());
    let sent = circuit_breaker_change(&guarded, &svc).expect("the breaker is off: a change");
    let sent_breaker = sent.deployment_circuit_breaker().expect("a breaker");
    assert!(sent_breaker.enable() && sent_breaker.rollback());
    // With enable and rollback put back, what is sent is exactly what the service has.
    let mut back = sent.clone();
    if let Some(breaker) = back.deployment_circuit_breaker.as_mut() {
        breaker.enable = false;
        breaker.rollback = false;
    }
    assert_eq!(back, full_configuration());
}
