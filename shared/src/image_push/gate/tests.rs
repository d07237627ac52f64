use std::time::Duration;

use super::*;

fn gate(deadline: SystemTime) -> GateProgress {
    GateProgress {
        task_arn: "arn:aws:ecs:eu-west-1:111122223333:task/sss/0a1b2c".into(),
        container: "app".into(),
        started_at: format_time(deadline - Duration::from_secs(1800)),
        deadline: format_time(deadline),
        exit_code: None,
        passed: false,
        logs: Some("https://logs".into()),
    }
}

fn stopped(exit: Option<i32>) -> TaskState {
    TaskState {
        last_status: "STOPPED".into(),
        stopped_reason: Some("Essential container in task exited".into()),
        stop_code: Some("EssentialContainerExited".into()),
        containers: vec![("app".into(), exit, None), ("sidecar".into(), Some(0), None)],
    }
}

#[test]
fn exit_zero_passes_and_anything_else_fails_with_the_code_and_the_logs() {
    let now = SystemTime::now();
    let gate = gate(now + Duration::from_secs(60));
    assert_eq!(judge(&gate, Some(&stopped(Some(0))), now), GateVerdict::Passed);
    let GateVerdict::Failed(code, why) = judge(&gate, Some(&stopped(Some(1))), now) else {
        panic!()
    };
    assert_eq!(code, Some(1));
    assert!(why.contains("exited 1") && why.ends_with("logs: https://logs"), "{why}");
    // Stopped before the container ran (a stop, a failure to start): no exit code.
    let mut never = stopped(None);
    never.stop_code = Some("UserInitiated".into());
    never.stopped_reason = Some("stopped by a person".into());
    let GateVerdict::Failed(None, why) = judge(&gate, Some(&never), now) else {
        panic!()
    };
    assert!(why.contains("UserInitiated: stopped by a person"), "{why}");
    // The sidecar's 0 does not decide: the gate's container does.
    let mut sidecar_only = stopped(Some(0));
    sidecar_only.containers.remove(0);
    assert!(matches!(
        judge(&gate, Some(&sidecar_only), now),
        GateVerdict::Failed(None, _)
    ));
    assert!(matches!(judge(&gate, None, now), GateVerdict::Failed(None, _)));
}

#[test]
fn a_running_gate_times_out_only_past_its_deadline() {
    let now = SystemTime::now();
    let running = TaskState {
        last_status: "RUNNING".into(),
        ..TaskState::default()
    };
    assert_eq!(
        judge(&gate(now + Duration::from_secs(60)), Some(&running), now),
        GateVerdict::Running
    );
    assert_eq!(
        judge(&gate(now - Duration::from_secs(1)), Some(&running), now),
        GateVerdict::TimedOut
    );
}

#[test]
fn the_logs_link_names_the_container_stream_of_the_task() {
    let logs = LogPlace {
        region: "eu-west-1".into(),
        group: "/ecs/orders".into(),
        prefix: "ecs".into(),
    };
    let link = logs_link(&logs, "app", "arn:aws:ecs:eu-west-1:1:task/sss/0a1b2c");
    assert!(
        link.ends_with("log-group/$252Fecs$252Forders/log-events/ecs$252Fapp$252F0a1b2c"),
        "{link}"
    );
}
