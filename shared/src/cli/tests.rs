use std::time::{Duration, SystemTime};

use serde_json::json;

use super::*;

fn args(line: &str) -> Result<(Command, Options), String> {
    parse_args(&line.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
}

#[test]
fn commands_become_the_payloads_image_push_takes() {
    let payload = |line: &str| {
        let (command, options) = args(line).unwrap();
        command.payload(&options).unwrap()
    };
    assert_eq!(payload("status"), Some(json!({"status": {}})));
    assert_eq!(payload("status orders"), Some(json!({"status": {"app": "orders"}})));
    assert_eq!(payload("history orders"), Some(json!({"status": {"app": "orders"}})));
    assert_eq!(
        payload("deploy orders --tag v42 --dry-run --by alice"),
        Some(json!({"deploy": {"app": "orders", "tag": "v42"}, "dry_run": true, "by": "alice"}))
    );
    assert_eq!(
        payload("deploy orders --revision 7 --digest sha256:0f3ad3f1c1bba1e4d4ffc9f1d4bd7e1bb6b3e9a1e4f0a1c2d3e4f5a6b7c8d9e0"),
        Some(json!({"deploy": {"app": "orders", "revision": 7, "digest": "sha256:0f3ad3f1c1bba1e4d4ffc9f1d4bd7e1bb6b3e9a1e4f0a1c2d3e4f5a6b7c8d9e0"}}))
    );
    assert_eq!(
        payload("rollback orders --revision 3 --force"),
        Some(json!({"rollback": {"app": "orders", "revision": 3, "force": true}}))
    );
    assert_eq!(payload("continue orders"), Some(json!({"continue": {"app": "orders"}})));
    assert_eq!(
        payload("abort orders --by bob"),
        Some(json!({"abort": {"app": "orders"}, "by": "bob"}))
    );
    assert_eq!(payload("config schema"), None);
    let (command, options) = args("--stack prod -o json --wait approve orders-prod sha256:0f3ad3f1c1bba1e4d4ffc9f1d4bd7e1bb6b3e9a1e4f0a1c2d3e4f5a6b7c8d9e0").unwrap();
    assert!(matches!(command, Command::Approve { .. }));
    assert_eq!(
        (options.function_name(), options.output, options.wait),
        ("prod-image-push".into(), Output::Json, true)
    );
}

#[test]
fn what_the_function_would_refuse_is_said_before_anything_is_invoked() {
    let refused = |line: &str| match args(line) {
        Err(err) => err,
        Ok((command, options)) => command.payload(&options).unwrap_err(),
    };
    // image-push's own parser: a deploy names one target.
    assert!(
        refused("deploy orders").contains("deploy"),
        "{}",
        refused("deploy orders")
    );
    assert!(refused("deploy orders --tag a --digest sha256:x").contains("deploy"));
    assert!(refused("deploy").contains("application name"));
    assert!(refused("status a b").contains("unexpected `b`"));
    assert!(refused("rollback orders --tag v1").contains("--tag is not an option of `rollback`"));
    assert!(refused("status --output yaml").contains("`text` or `json`"));
    assert!(refused("deploy orders --revision 0").contains("--revision expects"));
    assert!(refused("launch orders").contains("unknown command"));
    assert!(refused("status --colour").contains("unknown option"));
    assert_eq!(args("").unwrap().0, Command::Help);
}

fn status_answer() -> serde_json::Value {
    json!({"dry_run": false, "results": [
        {"app": "orders", "outcome": "status", "status": {
            "running_task_definition": "orders:8", "running_digest": "sha256:ab12cd34ef56aa00bb11",
            "running_since": "2026-12-07T08:00:00Z", "running_via": "push of latest",
            "recent": [{"id": "d2", "outcome": "completed", "digest": "sha256:ab12cd34ef56aa00bb11", "tag": "latest",
                        "trigger": {"kind": "push", "id": "e"}, "started_at": "2026-12-07T07:58:00Z",
                        "ended_at": "2026-12-07T08:00:00Z", "duration_seconds": 120}]}},
        {"app": "billing", "outcome": "status", "status": {
            "running_task_definition": "billing:3", "recent": [],
            "in_progress": {"id": "d9", "outcome": "in_progress"}, "paused": "gate task abc runs"}}
    ]})
}

#[test]
fn status_is_a_table_with_what_needs_attention_under_it() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_637_600); // 2026-12-07T10:00:00Z
    let table = status_table(&status_answer(), now, false);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "APP      DIGEST               OUTCOME      SINCE    VIA");
    assert_eq!(
        lines[1],
        "orders   sha256:ab12cd34ef56  completed    2 h ago  push of latest"
    );
    assert_eq!(lines[2], "billing  -                    in_progress  -        -");
    assert_eq!(lines[3], "  billing: gate task abc runs");
    let coloured = status_table(&status_answer(), now, true);
    assert!(coloured.contains("\u{1b}[32mcompleted\u{1b}[0m"), "{coloured}");
    let history = history_table(&json!({"results": [status_answer()["results"][0].clone()]}), now, false);
    assert!(
        history
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("2026-12-07T07:58:00Z  completed  sha256:ab12cd34ef56  push of latest  120 s  2 h ago"),
        "{history}"
    );
}

#[test]
fn other_answers_are_a_line_per_application_and_failures_carry_their_answer() {
    let answer = json!({"dry_run": true, "results": [
        {"app": "orders", "outcome": "planned", "actions": ["+ register orders revision"], "new_task_definition": null},
        {"app": "billing", "outcome": "failed", "reason": "tag `v9` not found"}
    ]});
    assert_eq!(
        results_lines(&answer, false),
        "orders  planned\n    + register orders revision\nbilling  failed\n    tag `v9` not found\n(dry run: nothing was changed)"
    );
    let message = format!("1 of 2 failed: billing: tag `v9` not found; answer: {answer}");
    assert_eq!(answer_in_failure(&message), Some(answer));
    assert_eq!(answer_in_failure("the configuration could not be read"), None);
    assert_eq!(
        [None, Some("DeployFailed"), Some("Deferred"), Some("EventInvalid")].map(exit_code),
        [0, 1, 3, 2]
    );
}

#[test]
fn an_approval_refused_for_coming_unsigned_says_how_to_sign_it() {
    let payload = json!({"approve": {"app": "orders-prod", "digest": "sha256:1"}, "by": "alice"});
    let refused = "1 of 1 failed: orders-prod: expected an approval through the approve function's URL (AWS_IAM), which names who signs it";
    assert!(is_unsigned_refusal(refused));
    assert!(!is_unsigned_refusal("tag `v9` not found"));
    let hint = approval_hint(&payload);
    assert!(
        hint.contains("--approval-url") && hint.contains("--aws-sigv4") && hint.contains(&payload.to_string()),
        "{hint}"
    );
}

#[test]
fn an_approval_url_is_read_and_checked() {
    let (_, options) =
        args("approve orders-prod sha256:1 --approval-url https://abc.lambda-url.eu-west-1.on.aws/").unwrap();
    assert_eq!(
        options.approval_url.as_deref(),
        Some("https://abc.lambda-url.eu-west-1.on.aws/")
    );
    let refused =
        args("approve orders-prod sha256:1 --approval-url http://abc.lambda-url.eu-west-1.on.aws/").unwrap_err();
    assert!(refused.contains("https://"), "{refused}");
}
