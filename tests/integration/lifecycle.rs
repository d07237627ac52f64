//! The ECR lifecycle policies the docs show keep what runs, by the test kit's evaluator of
//! ECR's documented rules (the emulator runs no lifecycle policy).

use deployer_devkit::lifecycle::{expired, Image};
use serde_json::Value;

/// Every lifecycle policy the README and the docs show (a JSON block holding `rules`).
fn shown_policies() -> Vec<Value> {
    super::docs::json_blocks()
        .into_iter()
        .filter_map(|(_, _, block)| serde_json::from_str::<Value>(&block).ok())
        .filter(|doc| doc.get("rules").is_some())
        .collect()
}

#[test]
fn every_policy_the_readme_shows_keeps_the_images_in_use_and_expires_the_rest() {
    let policies = shown_policies();
    assert!(!policies.is_empty(), "the docs show a lifecycle policy");
    let images = [
        Image::new(&["live-orders"], 400),
        Image::new(&["prev-orders"], 400),
        Image::new(&["live-payments", "release-3"], 400),
        Image::new(&["release-1"], 400),
        Image::new(&[], 400),
        Image::new(&["latest"], 1),
        // `image_tags: "per-image"`: the image's own tag, and one the deployer released.
        Image::new(&[&format!("live-sha256-{}", "ab".repeat(32))], 400),
        Image::new(&[&format!("retired-sha256-{}", "cd".repeat(32))], 400),
    ];
    for policy in policies {
        // Only the ordinary old images (release-1, the untagged one) and the retired one go.
        assert_eq!(expired(&policy, &images), Ok(vec![3, 4, 7]), "{policy}");
    }
}

#[test]
fn the_evaluator_follows_ecrs_documented_rules() {
    let rule = |priority: u32, selection: Value| serde_json::json!({"rulePriority": priority, "selection": selection, "action": {"type": "expire"}});
    let keep = |prefixes: &[&str]| serde_json::json!({"tagStatus": "tagged", "tagPrefixList": prefixes, "countType": "imageCountMoreThan", "countNumber": 9999});
    let old = serde_json::json!({"tagStatus": "any", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 30});
    let images = [
        Image::new(&["live-orders"], 400),
        Image::new(&["prev-orders"], 400),
        Image::new(&["live-a", "prev-a"], 400),
        Image::new(&["release-1"], 400),
    ];
    // Several prefixes in one rule select only images carrying all of them: the running image,
    // tagged only live-orders, is expired by the 30-day rule (the docs' policy before).
    let one_rule = serde_json::json!({"rules": [rule(1, keep(&["live-", "prev-"])), rule(2, old.clone())]});
    assert_eq!(expired(&one_rule, &images), Ok(vec![0, 1, 3]));
    // One rule per prefix keeps them.
    let per_prefix =
        serde_json::json!({"rules": [rule(1, keep(&["live-"])), rule(2, keep(&["prev-"])), rule(3, old.clone())]});
    assert_eq!(expired(&per_prefix, &images), Ok(vec![3]));
    // A pattern list behaves the same way.
    let patterns = serde_json::json!({"rules": [
        rule(1, serde_json::json!({"tagStatus": "tagged", "tagPatternList": ["live-*"], "countType": "imageCountMoreThan", "countNumber": 9999})),
        rule(2, old.clone())]});
    assert_eq!(expired(&patterns, &images), Ok(vec![1, 3]));
    // A count keeps the newest; what a higher rule selected is still counted, never expired.
    let releases = [
        Image::new(&["release-3"], 1),
        Image::new(&["release-2"], 2),
        Image::new(&["release-1", "live-x"], 3),
        Image::new(&["release-0"], 4),
    ];
    let count = serde_json::json!({"rules": [rule(1, keep(&["live-"])),
        rule(2, serde_json::json!({"tagStatus": "tagged", "tagPrefixList": ["release-"], "countType": "imageCountMoreThan", "countNumber": 2}))]});
    assert_eq!(expired(&count, &releases), Ok(vec![3]));
    // `any` must come last.
    let misordered = serde_json::json!({"rules": [rule(1, old), rule(2, keep(&["live-"]))]});
    assert!(expired(&misordered, &images).is_err());
}
