//! What `ecs-deployer` prints (pure): the status table, a history, one line per application of
//! any other answer, and the exit code an answer stands for.

use std::time::SystemTime;

use serde_json::Value;

use super::Command;
use crate::records::parse_time;

/// How long ago `at` (RFC 3339) was, shortly: `40 s ago`, `12 min ago`, `3 h ago`, `2 d ago`.
pub fn ago(at: &str, now: SystemTime) -> String {
    let Some(seconds) = parse_time(at)
        .and_then(|t| now.duration_since(t).ok())
        .map(|d| d.as_secs())
    else {
        return at.to_owned();
    };
    match seconds {
        0..=119 => format!("{seconds} s ago"),
        120..=7199 => format!("{} min ago", seconds / 60),
        7200..=172_799 => format!("{} h ago", seconds / 3600),
        _ => format!("{} d ago", seconds / 86_400),
    }
}

/// The first 12 hex digits of a digest, for tables (`sha256:ab12cd34ef56`).
fn short_digest(digest: &str) -> String {
    match digest.strip_prefix("sha256:") {
        Some(hex) => format!("sha256:{}", &hex[..hex.len().min(12)]),
        None => digest.to_owned(),
    }
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("")
}

/// An outcome, coloured on a terminal: green when it went well, red when it failed, yellow
/// while it is not over.
fn paint(outcome: &str, color: bool) -> String {
    let code = match outcome {
        "completed" | "deployed" | "unchanged" | "followed" => "32",
        "failed" | "rolled_back" | "timed_out" => "31",
        "in_progress" | "gated" | "pending" | "waiting" | "deferred" | "queued" | "planned" => "33",
        _ => return outcome.to_owned(),
    };
    match color {
        true => format!("\u{1b}[{code}m{outcome}\u{1b}[0m"),
        false => outcome.to_owned(),
    }
}

/// Rows as columns padded to the widest cell (colour codes not counted).
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let visible = |cell: &str| {
        let mut n = 0;
        let mut escape = false;
        for c in cell.chars() {
            match (escape, c) {
                (false, '\u{1b}') => escape = true,
                (true, 'm') => escape = false,
                (true, _) => {}
                (false, _) => n += 1,
            }
        }
        n
    };
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(visible(cell));
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, cell)| format!("{cell}{}", " ".repeat(widths[i] - visible(cell))))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut out = vec![line(header.to_vec())];
    out.extend(rows.iter().map(|row| line(row.iter().map(String::as_str).collect())));
    out.join("\n")
}

/// `status`: one row per application (app, digest, outcome of its newest deploy, since, via),
/// then what needs attention (a deploy paused or gated, a pending promotion, drift).
pub fn status_table(answer: &Value, now: SystemTime, color: bool) -> String {
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for result in answer["results"].as_array().into_iter().flatten() {
        let app = text(&result["app"]);
        let status = &result["status"];
        if status.is_null() {
            rows.push(vec![
                app.to_owned(),
                "-".into(),
                paint(text(&result["outcome"]), color),
                "-".into(),
                text(&result["reason"]).to_owned(),
            ]);
            continue;
        }
        let newest = match &status["in_progress"] {
            Value::Null => &status["recent"][0],
            deploy => deploy,
        };
        let outcome = match text(&newest["outcome"]) {
            "" => "-",
            outcome => outcome,
        };
        rows.push(vec![
            app.to_owned(),
            status["running_digest"].as_str().map_or("-".into(), short_digest),
            paint(outcome, color),
            status["running_since"].as_str().map_or("-".into(), |at| ago(at, now)),
            status["running_via"].as_str().unwrap_or("-").to_owned(),
        ]);
        for field in [
            "paused",
            "pending_promotion",
            "drift",
            "tag_drift",
            "template_change",
            "group",
        ] {
            match &status[field] {
                Value::Null => {}
                Value::String(line) => notes.push(format!("{app}: {line}")),
                other => notes.push(format!("{app}: {field}: {other}")),
            }
        }
    }
    let mut out = table(&["APP", "DIGEST", "OUTCOME", "SINCE", "VIA"], &rows);
    for note in notes {
        out.push_str(&format!("\n  {note}"));
    }
    out
}

/// `history APP`: the application's recent deploys, newest first.
pub fn history_table(answer: &Value, now: SystemTime, color: bool) -> String {
    let status = &answer["results"][0]["status"];
    let rows: Vec<Vec<String>> = status["recent"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|deploy| {
            let trigger = &deploy["trigger"];
            let via = match (text(&trigger["kind"]), text(&deploy["tag"])) {
                (kind, "") => kind.to_owned(),
                (kind, tag) => format!("{kind} of {tag}"),
            };
            vec![
                text(&deploy["started_at"]).split('.').next().unwrap_or("").to_owned(),
                paint(text(&deploy["outcome"]), color),
                deploy["digest"].as_str().map_or("-".into(), short_digest),
                via,
                deploy["duration_seconds"]
                    .as_u64()
                    .map_or("-".into(), |s| format!("{s} s")),
                deploy["ended_at"].as_str().map_or("-".into(), |at| ago(at, now)),
                text(&deploy["reason"]).to_owned(),
            ]
        })
        .collect();
    table(
        &["STARTED", "OUTCOME", "DIGEST", "VIA", "TOOK", "ENDED", "REASON"],
        &rows,
    )
}

/// Any other answer: one line per application (`orders  deployed  orders:8`), with the plan's
/// actions under it and the reason of what did not go through.
pub fn results_lines(answer: &Value, color: bool) -> String {
    let mut out = Vec::new();
    for result in answer["results"].as_array().into_iter().flatten() {
        let app = result["app"].as_str().unwrap_or("(event)");
        let outcome = text(&result["outcome"]);
        let detail = result["new_task_definition"]
            .as_str()
            .map(|td| crate::aws::arn::short_name(td).to_owned())
            .or_else(|| result["deploy_id"].as_str().map(|id| format!("deploy {id}")))
            .unwrap_or_default();
        out.push(
            format!("{app}  {}  {detail}", paint(outcome, color))
                .trim_end()
                .to_owned(),
        );
        for action in result["actions"].as_array().into_iter().flatten() {
            out.push(format!("    {}", text(action)));
        }
        if let Some(reason) = result["reason"].as_str() {
            out.push(format!("    {reason}"));
        }
    }
    if answer["dry_run"] == true {
        out.push("(dry run: nothing was changed)".into());
    }
    out.join("\n")
}

/// The text of `answer` for `command`.
pub fn render(command: &Command, answer: &Value, now: SystemTime, color: bool) -> String {
    match command {
        Command::Status(_) => status_table(answer, now, color),
        Command::History(_) => history_table(answer, now, color),
        _ => results_lines(answer, color),
    }
}

/// What an invocation that failed carries: the function's whole answer, when the message holds
/// it (an application failed: `...; answer: {...}`).
pub fn answer_in_failure(message: &str) -> Option<Value> {
    let (_, answer) = message.split_once("; answer: ")?;
    serde_json::from_str(answer).ok()
}

/// The exit code for an invocation's `errorType` (none: it answered): 0 when it went through,
/// 1 when an application failed (`DeployFailed`), 3 when it was put off (`Deferred`: the same
/// command again does it), 2 for anything refused (a payload or configuration).
pub fn exit_code(error_type: Option<&str>) -> i32 {
    match error_type {
        None => 0,
        Some("DeployFailed") => 1,
        Some(crate::error::DEFERRED) => 3,
        Some(_) => 2,
    }
}
