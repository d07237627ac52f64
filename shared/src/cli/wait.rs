//! `--wait`: after a command started deploys, `status` is asked again until each has ended;
//! what one look at `status` says of a deploy (pure).

use serde_json::Value;

/// The deploys an answer started and that may still be rolling out: (application, deploy id).
pub fn started_deploys(answer: &Value) -> Vec<(String, String)> {
    answer["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| matches!(r["outcome"].as_str(), Some("deployed" | "gated")))
        .filter_map(|r| Some((r["app"].as_str()?.to_owned(), r["deploy_id"].as_str()?.to_owned())))
        .collect()
}

/// The applications an answer found already running or deploying the asked image
/// (`unchanged`): (application, image). A deploy of it may still be rolling out (the push's
/// own), and waiting means waiting for that one.
pub fn unchanged_images(answer: &Value) -> Vec<(String, String)> {
    answer["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["outcome"] == "unchanged")
        .filter_map(|r| Some((r["app"].as_str()?.to_owned(), r["image"].as_str()?.to_owned())))
        .collect()
}

/// The deploy in progress in `status` (an answer for one application) that brings `image`.
pub fn in_progress_with(status_answer: &Value, image: &str) -> Option<String> {
    let deploy = &status_answer["results"][0]["status"]["in_progress"];
    (deploy["image"].as_str() == Some(image))
        .then(|| deploy["id"].as_str().map(str::to_owned))
        .flatten()
}

/// Where one deploy stands, as a `status` answer of its application shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Still under way: a line saying how far (`in_progress 40 s`, a pause, a gate task).
    Running(String),
    /// Over: its outcome (`completed`, `failed`, `rolled_back`, ...) and ECS's reason.
    Ended {
        /// The record's outcome.
        outcome: String,
        /// Why, when it did not complete.
        reason: Option<String>,
    },
    /// The records no longer show it (or `status` answered nothing for it).
    Unknown,
}

/// Where deploy `id` stands in `status` (an answer for its application).
pub fn progress(status_answer: &Value, id: &str) -> Progress {
    let status = &status_answer["results"][0]["status"];
    let deploys = std::iter::once(&status["in_progress"]).chain(status["recent"].as_array().into_iter().flatten());
    let Some(deploy) = deploys.into_iter().find(|d| d["id"].as_str() == Some(id)) else {
        return Progress::Unknown;
    };
    match deploy["outcome"].as_str().unwrap_or_default() {
        "in_progress" => {
            let took = deploy["duration_seconds"]
                .as_u64()
                .map(|s| format!(" {s} s"))
                .unwrap_or_default();
            let mut line = format!("in_progress{took}");
            if let Some(paused) = status["paused"].as_str() {
                line.push_str(&format!(": {paused}"));
            }
            Progress::Running(line)
        }
        outcome => Progress::Ended {
            outcome: outcome.to_owned(),
            reason: deploy["reason"].as_str().map(str::to_owned),
        },
    }
}

/// True for the ends of a deploy that are not failures.
pub fn went_well(outcome: &str) -> bool {
    outcome == "completed"
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status(in_progress: Value, recent: Value) -> Value {
        json!({"results": [{"app": "orders", "outcome": "status", "status": {"in_progress": in_progress, "recent": recent, "paused": "at the bake hook"}}]})
    }

    #[test]
    fn a_deploy_is_running_until_its_record_ends() {
        let running = json!({"id": "d1", "outcome": "in_progress", "duration_seconds": 40});
        assert_eq!(
            progress(&status(running.clone(), json!([running])), "d1"),
            Progress::Running("in_progress 40 s: at the bake hook".into())
        );
        let ended = json!({"id": "d1", "outcome": "rolled_back", "reason": "circuit breaker"});
        assert_eq!(
            progress(&status(Value::Null, json!([ended])), "d1"),
            Progress::Ended {
                outcome: "rolled_back".into(),
                reason: Some("circuit breaker".into())
            }
        );
        assert_eq!(progress(&status(Value::Null, json!([])), "d1"), Progress::Unknown);
        assert!(went_well("completed") && !went_well("rolled_back"));
    }

    #[test]
    fn an_unchanged_answer_waits_for_the_deploy_in_progress_of_that_image() {
        let answer = json!({"results": [{"app": "orders", "outcome": "unchanged", "image": "r/orders@sha256:1"}]});
        assert_eq!(
            unchanged_images(&answer),
            [("orders".to_owned(), "r/orders@sha256:1".to_owned())]
        );
        let deploying = |image: &str| json!({"results": [{"status": {"in_progress": {"id": "push-1", "outcome": "in_progress", "image": image}}}]});
        assert_eq!(
            in_progress_with(&deploying("r/orders@sha256:1"), "r/orders@sha256:1"),
            Some("push-1".into())
        );
        assert_eq!(
            in_progress_with(&deploying("r/orders@sha256:2"), "r/orders@sha256:1"),
            None
        );
    }

    #[test]
    fn only_started_deploys_are_waited_for() {
        let answer = json!({"results": [
            {"app": "a", "outcome": "deployed", "deploy_id": "d1"},
            {"app": "b", "outcome": "unchanged"},
            {"app": "c", "outcome": "gated", "deploy_id": "d3"},
            {"app": "d", "outcome": "failed", "deploy_id": "d4"}
        ]});
        assert_eq!(
            started_deploys(&answer),
            [("a".to_owned(), "d1".to_owned()), ("c".to_owned(), "d3".to_owned())]
        );
    }
}
