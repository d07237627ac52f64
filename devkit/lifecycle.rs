//! ECR lifecycle policies as ECR documents their evaluation ("Lifecycle policy evaluation rules"
//! and "Lifecycle policy parameters" in the ECR user guide), which the emulator does not run: a
//! policy the docs recommend is evaluated here against a repository's images.
//!
//! Modelled: rules in `rulePriority` order, lowest number first; `tagStatus` `tagged` (with
//! `tagPrefixList` or `tagPatternList`: an image is selected only when **every** entry of the
//! list matches one of its tags), `untagged` and `any`; `imageCountMoreThan` (the selected images
//! beyond the count, oldest first, counting images higher rules selected as if they were still
//! there) and `sinceImagePushed` (days since the image was pushed; a retag keeps the push time);
//! an image is expired by at most one rule, and an image that matches a rule's tag selection
//! cannot be expired by a rule of lower priority. Not modelled: `sinceImagePulled`, archive
//! transitions.

use serde_json::Value;

/// An image in a repository: its tags and how many days ago it was pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Its tags (none: untagged).
    pub tags: Vec<String>,
    /// Days since it was pushed.
    pub pushed_days_ago: u32,
}

impl Image {
    /// An image with these tags, pushed `days` ago.
    pub fn new(tags: &[&str], days: u32) -> Image {
        Image {
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            pushed_days_ago: days,
        }
    }
}

/// A wildcard match as `tagPatternList` defines it: `*` matches any run of characters.
fn wildcard(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(tail) = text.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len()).any(|i| tail.is_char_boundary(i) && wildcard(rest, &tail[i..]))
        }
    }
}

/// True when the rule's tag selection matches the image.
fn selects(selection: &Value, image: &Image) -> Result<bool, String> {
    let list = |key: &str| -> Vec<String> {
        selection[key]
            .as_array()
            .map(|l| l.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    match selection["tagStatus"].as_str() {
        Some("any") => Ok(true),
        Some("untagged") => Ok(image.tags.is_empty()),
        Some("tagged") => {
            let (prefixes, patterns) = (list("tagPrefixList"), list("tagPatternList"));
            if prefixes.is_empty() == patterns.is_empty() {
                return Err("a tagged rule needs exactly one of tagPrefixList and tagPatternList".into());
            }
            // Every entry must match one of the image's tags (ECR: "only images with all
            // specified tags are selected").
            Ok(prefixes
                .iter()
                .all(|p| image.tags.iter().any(|t| t.starts_with(p.as_str())))
                && patterns.iter().all(|p| image.tags.iter().any(|t| wildcard(p, t))))
        }
        other => Err(format!("tagStatus {other:?} is not tagged, untagged or any")),
    }
}

/// The indexes of the images the policy expires, or why the policy is not one ECR would take.
pub fn expired(policy: &Value, images: &[Image]) -> Result<Vec<usize>, String> {
    let mut rules: Vec<&Value> = policy["rules"].as_array().ok_or("no rules")?.iter().collect();
    rules.sort_by_key(|r| r["rulePriority"].as_u64().unwrap_or(u64::MAX));
    if let Some(any) = rules.iter().position(|r| r["selection"]["tagStatus"] == "any") {
        if any + 1 != rules.len() {
            return Err("the rule with tagStatus any must have the highest rulePriority".into());
        }
    }
    let mut claimed = vec![false; images.len()];
    let mut expired = Vec::new();
    for rule in rules {
        let selection = &rule["selection"];
        let count = selection["countNumber"].as_u64().ok_or("countNumber missing")? as usize;
        let mut selected: Vec<usize> = Vec::new();
        for (i, image) in images.iter().enumerate() {
            if selects(selection, image)? {
                selected.push(i);
            }
        }
        // Newest first: a count keeps the newest.
        selected.sort_by_key(|&i| images[i].pushed_days_ago);
        let due: Vec<usize> = match selection["countType"].as_str() {
            Some("imageCountMoreThan") => selected.iter().skip(count).copied().collect(),
            Some("sinceImagePushed") => selected
                .iter()
                .filter(|&&i| images[i].pushed_days_ago as usize > count)
                .copied()
                .collect(),
            other => return Err(format!("countType {other:?} is not modelled")),
        };
        for i in due {
            if !claimed[i] {
                expired.push(i);
            }
        }
        for i in selected {
            claimed[i] = true;
        }
    }
    expired.sort_unstable();
    Ok(expired)
}
