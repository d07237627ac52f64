//! Releasing per-image tags (`image_tags: "per-image"`). A completed deploy puts
//! `live-sha256-<hex>` ([`protect::image_tag`]) on the digests its application runs and rolls
//! back to; nothing moves it off, so the settle run, which reads every application's records
//! anyway, takes it off each image that no application following the repository needs any
//! more ([`plan_release`], pure).
//!
//! ECR deletes an image whose last tag is removed, and the deployer never deletes an image: an
//! image whose only tags are the deployer's gets `retired-sha256-<hex>` first (the lifecycle
//! policy's last rule expires those by age). A deploy may complete between the reads and the
//! removal: its completion writes its index before it looks at the tags, so the release reads
//! the indexes again afterwards and puts back any tag an application needs now.

use std::collections::{BTreeMap, BTreeSet};

use futures::stream::{self, StreamExt, TryStreamExt};

use super::{protect, Clients, Outcome, Report};
use crate::aws::ecr::{self, ImageDetail};
use crate::aws::AwsError;
use crate::input::config::{AppConfig, Config, ImageTags};
use crate::records::{DeployIndex, RecordStore};

/// Indexes read at once when a release reads them again.
const READS_AT_ONCE: usize = 16;

/// Tag that keeps an image the deployer released when nothing else tagged it, until the
/// lifecycle policy expires it.
pub fn retired_tag(digest: &str) -> String {
    protect::digest_tag(crate::input::events::RESERVED_TAG_PREFIXES[2], digest)
}

/// One tag to take off: the image it names, and whether that image keeps another tag (else it
/// is retired first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Release {
    pub tag: String,
    pub digest: String,
    pub keeps_another_tag: bool,
}

/// The per-image tags of `images` that name a digest outside `needed`. A tag on an image of
/// another digest (moved by hand) is not the deployer's: left.
pub(crate) fn plan_release(needed: &BTreeSet<String>, images: &[ImageDetail]) -> Vec<Release> {
    images
        .iter()
        .flat_map(|image| {
            image.tags.iter().filter_map(move |tag| {
                let digest = protect::digest_of_image_tag(tag)?;
                (digest == image.digest && !needed.contains(&digest)).then(|| Release {
                    tag: tag.clone(),
                    digest: digest.clone(),
                    keeps_another_tag: image.tags.iter().any(|t| protect::digest_of_image_tag(t).is_none()),
                })
            })
        })
        .collect()
}

/// The digests `index` keeps: the application's live and previous images.
fn needed_by<'a>(index: &'a DeployIndex, repository: &str) -> impl Iterator<Item = String> + 'a {
    let (live, prev) = index.protected_digests(repository);
    live.into_iter().chain(prev).map(str::to_owned)
}

/// A repository as the deployer reaches it; applications that share one share its tags.
type Repository = (Option<String>, Option<String>, Option<String>, String);

fn repository_of(app: &AppConfig) -> Repository {
    (
        app.registry_role_arn.clone(),
        app.registry_region.clone(),
        app.registry_id.clone(),
        app.repository.clone(),
    )
}

/// The settle run's release pass: for each repository followed per image, the tags no
/// application needs are taken off. `indexes` are the indexes the run read; a repository with an
/// application whose index could not be read is left for the next run. Reports only what was
/// released or failed.
pub(crate) async fn release(
    clients: &Clients,
    config: &Config,
    store: &RecordStore,
    indexes: &[(&AppConfig, DeployIndex)],
) -> Vec<Report> {
    if config.image_tags != ImageTags::PerImage {
        return Vec::new();
    }
    let mut groups: BTreeMap<Repository, Vec<&AppConfig>> = BTreeMap::new();
    for app in &config.apps {
        groups.entry(repository_of(app)).or_default().push(app);
    }
    let mut reports = Vec::new();
    for ((_, _, registry_id, repository), apps) in groups {
        let read: Vec<&DeployIndex> = apps
            .iter()
            .filter_map(|app| indexes.iter().find(|(a, _)| a.name == app.name).map(|(_, index)| index))
            .collect();
        if read.len() < apps.len() {
            continue;
        }
        let needed: BTreeSet<String> = read
            .into_iter()
            .flat_map(|index| needed_by(index, &repository))
            .collect();
        let outcome = release_repository(clients, store, &apps, registry_id.as_deref(), &repository, &needed).await;
        let (outcome, reason, actions) = match outcome {
            Ok(actions) if actions.is_empty() => continue,
            Ok(actions) => (
                Outcome::Followed,
                format!("images of `{repository}` no application runs or rolls back to any more were released"),
                actions,
            ),
            Err(err) => (
                Outcome::Failed,
                format!("per-image tags of `{repository}` not released: {err}; the next settle run tries again"),
                Vec::new(),
            ),
        };
        let mut report = Report::ignored(reason);
        report.outcome = outcome;
        report.actions = actions;
        reports.push(report);
    }
    reports
}

async fn release_repository(
    clients: &Clients,
    store: &RecordStore,
    apps: &[&AppConfig],
    registry_id: Option<&str>,
    repository: &str,
    needed: &BTreeSet<String>,
) -> Result<Vec<String>, AwsError> {
    let ecr = clients.for_app(apps[0]).await.ecr;
    let releases = plan_release(needed, &ecr::tagged_images(&ecr, registry_id, repository).await?);
    if releases.is_empty() {
        return Ok(Vec::new());
    }
    let lonely: Vec<&str> = releases
        .iter()
        .filter(|r| !r.keeps_another_tag)
        .map(|r| r.digest.as_str())
        .collect();
    let manifests = ecr::get_images(&ecr, registry_id, repository, &lonely).await?;
    let mut actions = Vec::new();
    for release in &releases {
        if !release.keeps_another_tag {
            let image = ecr::image_with_digest(&manifests, &release.digest, repository)?;
            let retired = retired_tag(&release.digest);
            ecr::put_tag(&ecr, registry_id, repository, image, &retired).await?;
            actions.push(format!("+ tag {retired} (nothing else tags the image)"));
        }
        if ecr::remove_tag(&ecr, registry_id, repository, &release.tag).await? {
            actions.push(format!("- tag {}", release.tag));
        }
    }
    // A deploy that completed meanwhile found the tag still there: read again (the indexes at
    // once, as the settle run reads them), put back.
    let indexes: Vec<DeployIndex> = stream::iter(apps.iter().map(|app| store.read(&clients.s3, &app.name)))
        .buffered(READS_AT_ONCE)
        .try_collect()
        .await?;
    let now_needed: BTreeSet<String> = indexes.iter().flat_map(|index| needed_by(index, repository)).collect();
    let back: Vec<&str> = releases
        .iter()
        .map(|r| r.digest.as_str())
        .filter(|d| now_needed.contains(*d))
        .collect();
    let manifests = ecr::get_images(&ecr, registry_id, repository, &back).await?;
    for digest in back {
        let tag = protect::image_tag(digest);
        ecr::put_tag(
            &ecr,
            registry_id,
            repository,
            ecr::image_with_digest(&manifests, digest, repository)?,
            &tag,
        )
        .await?;
        actions.push(format!("+ tag {tag} (needed again: a deploy completed meanwhile)"));
    }
    Ok(actions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{digest, image};

    #[test]
    fn only_tags_of_digests_no_application_needs_are_released() {
        let (kept, old, lonely) = (digest(1), digest(2), digest(3));
        let images = [
            image(&kept, &[&protect::image_tag(&kept), "latest"], 3),
            image(&old, &[&protect::image_tag(&old), "v1"], 2),
            image(&lonely, &[&protect::image_tag(&lonely)], 1),
        ];
        let needed = BTreeSet::from([kept.clone()]);
        let releases = plan_release(&needed, &images);
        assert_eq!(
            releases,
            [
                Release {
                    tag: protect::image_tag(&old),
                    digest: old.clone(),
                    keeps_another_tag: true
                },
                Release {
                    tag: protect::image_tag(&lonely),
                    digest: lonely.clone(),
                    keeps_another_tag: false
                },
            ]
        );
        assert_eq!(retired_tag(&lonely), format!("retired-sha256-{}", "03".repeat(32)));
    }

    #[test]
    fn a_per_image_tag_on_another_digest_and_per_app_tags_are_left() {
        let (a, b) = (digest(1), digest(2));
        let images = [image(&a, &[&protect::image_tag(&b), "live-orders", "prev-orders"], 1)];
        assert!(plan_release(&BTreeSet::new(), &images).is_empty());
    }
}
