//! The configuration checked against what the stack grants, in the scheduled sync: an
//! application whose repository the push rules do not watch would never hear of a push, and one
//! whose cluster IAM does not grant would fail every deploy. Each is a failure (`Sync Failed`,
//! the alarm) naming the stack parameter to change, instead of a push that silently never
//! arrives.

use super::{Outcome, Report};
use crate::aws::arn::short_name;
use crate::input::config::Config;
use crate::job::StackGrants;

/// What is missing from the stack's grants for each application (pure): (application, reason).
pub fn ungranted(config: &Config, grants: &StackGrants) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for app in &config.apps {
        for repository in app.followed_repositories() {
            if !grants.repositories.iter().any(|watched| watched == repository) {
                found.push((
                    app.name.clone(),
                    format!("repository `{repository}` is not in the stack's WatchedRepositories: its pushes never reach image-push; add it to the parameter and deploy the stack"),
                ));
            }
        }
        let cluster = short_name(&app.cluster);
        if !grants.clusters.iter().any(|c| c == cluster) {
            found.push((
                app.name.clone(),
                format!("cluster `{cluster}` is not in the stack's ClusterNames: IAM refuses every deploy of it; add it to the parameter and deploy the stack"),
            ));
        }
    }
    found
}

/// [`ungranted`] as failed reports.
pub fn ungranted_reports(config: &Config, grants: &StackGrants) -> Vec<Report> {
    ungranted(config, grants)
        .into_iter()
        .map(|(app, reason)| Report::new(Some(&app), Outcome::Failed, Some(reason)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unwatched_repository_and_an_ungranted_cluster_are_named_with_their_parameter() {
        let config = Config::parse(
            r#"{"apps": [
              {"name": "orders", "cluster": "sss", "service": "orders", "container": "app", "repository": "orders", "tags": ["latest"]},
              {"name": "billing", "cluster": "arn:aws:ecs:eu-west-1:111122223333:cluster/money", "service": "billing",
               "containers": ["app", {"name": "proxy", "repository": "envoy", "tags": ["stable"]}], "repository": "billing", "tags": ["latest"]}]}"#,
            "test",
        )
        .unwrap();
        let grants = StackGrants {
            repositories: vec!["orders".into(), "billing".into()],
            clusters: vec!["sss".into()],
        };
        let found = ungranted(&config, &grants);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].0 == "billing" && found[0].1.contains("`envoy`") && found[0].1.contains("WatchedRepositories")
        );
        assert!(found[1].0 == "billing" && found[1].1.contains("`money`") && found[1].1.contains("ClusterNames"));
        let all = StackGrants {
            repositories: vec!["orders".into(), "billing".into(), "envoy".into()],
            clusters: vec!["sss".into(), "money".into()],
        };
        assert!(ungranted(&config, &all).is_empty());
    }
}
