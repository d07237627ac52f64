//! Lost pushes. ECR's events are best effort and Lambda may drop queued events, so the settle
//! run also compares each followed literal tag's current digest with the application's deploy
//! records: a digest this application never had a deploy of is deployed (trigger `push`, by
//! `settle: reconciled a lost push`). A digest that was deployed — and then failed, was rolled
//! back, or was rolled back from by a person — is never deployed this way: a person or the next
//! push decides.

use super::{deploy_apps, Clients, Goal, Report};
use crate::aws::ecr::{self, ImageQuery};
use crate::aws::AwsError;
use crate::input::config::AppConfig;
use crate::job::{Invocation, Settings};
use crate::records::{DeployIndex, DeployOutcome, Trigger, TriggerKind};

/// Who a reconciled deploy's record says asked.
pub const RECONCILED_BY: &str = "settle: reconciled a lost push";

/// The tags an application follows by exact name (patterns match no one tag to ask about).
fn literal_tags(app: &AppConfig) -> Vec<&str> {
    app.tags
        .iter()
        .filter(|t| !t.contains(['*', '?']))
        .map(String::as_str)
        .collect()
}

/// True when the settle run reconciles `app`'s followed tags: it follows literal tags, is not
/// promoted (its source's records decide what it runs), and has been deployed before.
pub fn reconciles(app: &AppConfig, index: &DeployIndex) -> bool {
    !literal_tags(app).is_empty() && !index.records.is_empty() && app.promote_from.is_none()
}

/// Each followed literal tag that exists in the app's repository, with the digest it names now:
/// one `DescribeImages`.
pub async fn followed_tag_digests(clients: &Clients, app: &AppConfig) -> Result<Vec<(String, String)>, AwsError> {
    let tags = literal_tags(app);
    let registry = clients.for_app(app).await;
    let queries: Vec<ImageQuery> = tags.iter().map(|t| ImageQuery::Tag((*t).to_owned())).collect();
    let images = ecr::describe_images(&registry.ecr, app.registry_id.as_deref(), &app.repository, &queries).await?;
    Ok(tags
        .iter()
        .filter_map(|tag| {
            images
                .iter()
                .find(|i| i.tags.iter().any(|t| t == tag))
                .map(|i| ((*tag).to_owned(), i.digest.clone()))
        })
        .collect())
}

/// What `status` says when a followed tag names a digest the service does not run: a lost push
/// the settle run will deploy, or a digest whose deploy ended without it running now (a person
/// or the next push decides). `None` when every tag names what runs, or its deploy is under way.
pub fn tag_drift(index: &DeployIndex, current: &[(String, String)], running_digest: Option<&str>) -> Option<String> {
    let lines: Vec<String> = current
        .iter()
        .filter(|(_, digest)| Some(digest.as_str()) != running_digest)
        .filter_map(|(tag, digest)| {
            let short: String = digest.chars().take(19).collect();
            let last = index.records.iter().find(|r| r.digest.as_deref() == Some(digest.as_str()));
            match last.map(|r| r.outcome) {
                None => Some(format!(
                    "tag `{tag}` names {short}…, never deployed (a lost push: the settle run deploys it)"
                )),
                Some(DeployOutcome::InProgress) => None,
                Some(outcome) => Some(format!(
                    "tag `{tag}` names {short}…, whose last deploy ended {}; not redeployed until a person deploys it or the tag moves",
                    outcome.as_str()
                )),
            }
        })
        .collect();
    (!lines.is_empty()).then(|| lines.join("; "))
}

/// The digest of `tags` (in the order given) that `index` holds no deploy of, if any.
pub fn never_deployed<'a>(index: &DeployIndex, current: &'a [(String, String)]) -> Option<&'a (String, String)> {
    current.iter().find(|(_, digest)| {
        !index
            .records
            .iter()
            .any(|r| r.digest.as_deref() == Some(digest.as_str()))
    })
}

/// Deploys, for each application the deployer has deployed before (its index holds a record),
/// a followed literal tag's current digest that it never had a deploy of. One `DescribeImages`
/// per such application; an application whose tags cannot be read is left for the next run.
pub async fn reconcile(
    clients: &Clients,
    settings: &Settings,
    invocation: &Invocation,
    indexes: &[(&AppConfig, DeployIndex)],
) -> Vec<Report> {
    let mut reports = Vec::new();
    for (app, index) in indexes {
        if !reconciles(app, index) {
            continue;
        }
        let current = match followed_tag_digests(clients, app).await {
            Ok(current) => current,
            Err(err) => {
                tracing::warn!(app = %app.name, error = %err, "the followed tags could not be read: reconciled next run");
                continue;
            }
        };
        let Some((tag, digest)) = never_deployed(index, &current) else {
            continue;
        };
        let goal = Goal::Push {
            tag: tag.clone(),
            digest: digest.clone(),
            happened_at: None,
        };
        // One id per tag and digest: the next settle run finds its record and does nothing.
        let trigger = Trigger {
            kind: TriggerKind::Push,
            id: format!("reconcile-{tag}-{digest}"),
            by: Some(RECONCILED_BY.into()),
        };
        reports.extend(deploy_apps(clients, &[app], &goal, settings, invocation, &trigger, false).await);
    }
    reports
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{deploy_record, digest};

    #[test]
    fn only_a_digest_without_any_deploy_is_reconciled() {
        let index = DeployIndex {
            records: vec![
                deploy_record("d-2", DeployOutcome::Failed, &digest(2), "2026-12-01T10:00:00Z"),
                deploy_record("d-1", DeployOutcome::Completed, &digest(1), "2026-12-01T09:00:00Z"),
            ],
        };
        let current = |d: u8| vec![("latest".to_owned(), digest(d))];
        // Running, or failed once (a person decides): never again this way.
        assert_eq!(never_deployed(&index, &current(1)), None);
        assert_eq!(never_deployed(&index, &current(2)), None);
        assert_eq!(
            never_deployed(&index, &current(3)).map(|(_, d)| d.clone()),
            Some(digest(3))
        );
    }

    #[test]
    fn status_names_a_tag_that_moved_past_what_runs() {
        let index = DeployIndex {
            records: vec![
                deploy_record("d-2", DeployOutcome::Failed, &digest(2), "2026-12-01T10:00:00Z"),
                deploy_record("d-1", DeployOutcome::Completed, &digest(1), "2026-12-01T09:00:00Z"),
            ],
        };
        let current = |d: u8| vec![("latest".to_owned(), digest(d))];
        let running = digest(1);
        assert_eq!(tag_drift(&index, &current(1), Some(&running)), None);
        let failed = tag_drift(&index, &current(2), Some(&running)).unwrap();
        assert!(
            failed.contains("tag `latest`") && failed.contains("ended failed"),
            "{failed}"
        );
        let lost = tag_drift(&index, &current(3), Some(&running)).unwrap();
        assert!(lost.contains("never deployed"), "{lost}");
        let mut rolling = index.clone();
        rolling.records.insert(
            0,
            deploy_record("d-3", DeployOutcome::InProgress, &digest(3), "2026-12-01T11:00:00Z"),
        );
        assert_eq!(tag_drift(&rolling, &current(3), Some(&running)), None);
    }
}
