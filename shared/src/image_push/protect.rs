//! Images in use carry a tag: when a deploy completes, the application's [`live_tag`] moves onto
//! the digest its records say it runs and [`prev_tag`] onto the one a rollback goes to (a
//! `PutImage` of each image's own manifest; nothing is pushed, nothing deleted), so an ECR
//! lifecycle rule that keeps those prefixes never expires them.
//!
//! What the moves need (the manifests and each image's tags) is read in one round trip, beside
//! the record's writes when an ECS event completes the deploy ([`read`]); the two tags then move
//! at once, unless the image losing `live` would be left without a tag before it gains `prev`
//! ([`waves`]).

use super::{Clients, Outcome, Report};
use crate::aws::ecr::{self, ImageDetail, ImageQuery};
use crate::aws::AwsError;
use crate::input::config::{AppConfig, ImageTags};
use crate::input::events::RESERVED_TAG_PREFIXES;
use crate::records::{DeployIndex, RecordStore};

/// Tag that marks the image an application runs (its last completed deploy's digest).
pub fn live_tag(app: &str) -> String {
    format!("{}{app}", RESERVED_TAG_PREFIXES[0])
}

/// Tag that marks the image of the application's completed deploy before that (another digest):
/// where a rollback goes.
pub fn prev_tag(app: &str) -> String {
    format!("{}{app}", RESERVED_TAG_PREFIXES[1])
}

/// Tag that marks an image some application runs or rolls back to, in `per-image` mode
/// (`live-sha256-<hex>`): one tag an image however many applications share it.
pub fn image_tag(digest: &str) -> String {
    digest_tag(RESERVED_TAG_PREFIXES[0], digest)
}

/// `prefix` followed by `digest` as a tag may spell it (`sha256-<hex>`: a tag has no `:`).
pub(crate) fn digest_tag(prefix: &str, digest: &str) -> String {
    format!("{prefix}{}", digest.replace(':', "-"))
}

/// The digest an `image_tag` names, if `tag` is one.
pub fn digest_of_image_tag(tag: &str) -> Option<String> {
    let hex = tag.strip_prefix(RESERVED_TAG_PREFIXES[0])?.strip_prefix("sha256-")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| format!("sha256:{hex}"))
}

/// The tags that keep `app`'s images, for messages.
fn tag_names(tags: ImageTags, app: &str) -> String {
    match tags {
        ImageTags::PerApp => format!("{} and {}", live_tag(app), prev_tag(app)),
        ImageTags::PerImage => format!("{}<digest> tags", image_tag("sha256:")),
    }
}

/// What moving an application's tags needs, read from ECR.
#[derive(Debug)]
pub(crate) struct Protection {
    /// The digests to tag `live` and `prev`, as the index said.
    live: Option<String>,
    prev: Option<String>,
    /// Their manifests (`BatchGetImage`) and tags (`DescribeImages`).
    found: Result<(Vec<aws_sdk_ecr::types::Image>, Vec<ImageDetail>), AwsError>,
}

/// Reads what moving `app`'s tags to the digests `index` protects needs: the manifests and the
/// tags of both images, the two calls at once.
pub(crate) async fn read(clients: &Clients, app: &AppConfig, index: &DeployIndex) -> Protection {
    let registry = clients.for_app(app).await;
    let (live, prev) = index.protected_digests(&app.repository);
    let digests: Vec<&str> = live.into_iter().chain(prev).collect();
    let queries: Vec<ImageQuery> = digests.iter().map(|d| ImageQuery::Digest((*d).to_owned())).collect();
    let registry_id = app.registry_id.as_deref();
    // Both look-ups ask nothing of ECR when there is no digest to protect.
    let (images, details) = tokio::join!(
        ecr::get_images(&registry.ecr, registry_id, &app.repository, &digests),
        ecr::describe_images(&registry.ecr, registry_id, &app.repository, &queries)
    );
    let found = images.and_then(|images| Ok((images, details?)));
    Protection {
        live: live.map(str::to_owned),
        prev: prev.map(str::to_owned),
        found,
    }
}

/// The tag moves, in waves that go one after the other (the moves of a wave at once): none for
/// a tag already in place; `prev` before `live` when the image that gains `prev` holds no tag
/// but `live` (moving `live` first would leave it untagged, what lifecycle rules expire first).
/// Per image, each digest gets its own tag, always put (never moved, so one wave).
pub(crate) fn waves(
    tags: ImageTags,
    app: &str,
    live: Option<&str>,
    prev: Option<&str>,
    details: &[ImageDetail],
) -> Vec<Vec<(String, String)>> {
    let tags_of = |digest: &str| -> Vec<&str> {
        details
            .iter()
            .filter(|d| d.digest == digest)
            .flat_map(|d| d.tags.iter().map(String::as_str))
            .collect()
    };
    let needed = |tag: &str, digest: Option<&str>| {
        digest
            .filter(|digest| !tags_of(digest).contains(&tag))
            .map(|digest| (tag.to_owned(), digest.to_owned()))
    };
    // Per image, every digest is tagged again even when the tag was seen in place: the tags were
    // read beside the index's write, and the settle run's release may have taken the tag off
    // since (it reads the indexes again after, so a tag put after the index's write holds).
    // ECR answers a tag already in place without a change.
    if tags == ImageTags::PerImage {
        let mut wave: Vec<(String, String)> = live
            .into_iter()
            .chain(prev)
            .map(|digest| (image_tag(digest), digest.to_owned()))
            .collect();
        wave.dedup();
        return if wave.is_empty() { Vec::new() } else { vec![wave] };
    }
    let (live_tag, prev_tag) = (live_tag(app), prev_tag(app));
    let (prev_move, live_move) = (needed(&prev_tag, prev), needed(&live_tag, live));
    let prev_kept_only_by_live = prev.is_some_and(|digest| tags_of(digest).iter().all(|tag| *tag == live_tag));
    match (prev_move, live_move) {
        (Some(prev), Some(live)) if prev_kept_only_by_live => vec![vec![prev], vec![live]],
        (prev, live) => {
            let wave: Vec<_> = prev.into_iter().chain(live).collect();
            if wave.is_empty() {
                Vec::new()
            } else {
                vec![wave]
            }
        }
    }
}

/// Moves `app`'s tags onto the digests its records protect, from `read` (none: the index and ECR
/// are read here), and says so on `report`. A failure fails the report: the event's retry moves
/// them; an immutable repository and ECR's 1,000 tags an image are said, not failed (nothing a
/// retry could change).
pub(crate) async fn protect(
    clients: &Clients,
    app: &AppConfig,
    tags: ImageTags,
    store: &RecordStore,
    mut report: Report,
    read: Option<Protection>,
) -> Report {
    let moved = async {
        let read = match read {
            Some(read) => read,
            None => self::read(clients, app, &store.read(&clients.s3, &app.name).await?).await,
        };
        let (images, details) = read.found?;
        let registry = clients.for_app(app).await;
        let mut moved = Vec::new();
        for wave in waves(tags, &app.name, read.live.as_deref(), read.prev.as_deref(), &details) {
            let puts = wave.iter().map(|(tag, digest)| {
                let image = ecr::image_with_digest(&images, digest, &app.repository);
                let registry = &registry;
                async move {
                    let image = image?;
                    let put = ecr::put_tag(&registry.ecr, app.registry_id.as_deref(), &app.repository, image, tag);
                    Ok(put.await?.then(|| format!("~ tag {tag} -> {digest}")))
                }
            });
            moved.extend(futures::future::try_join_all(puts).await?.into_iter().flatten());
        }
        Ok::<_, AwsError>(moved)
    }
    .await;
    match moved {
        Ok(moved) => report.actions.extend(moved),
        Err(err) if err.code.as_deref() == Some("ImageTagAlreadyExistsException") => {
            let note = format!(
                "the repository's tags are immutable, so {} were not moved ({err}): make them mutable or exclude `live-*` and `prev-*` (IMMUTABLE_WITH_EXCLUSION), or the lifecycle policy cannot tell the images in use",
                tag_names(tags, &app.name)
            );
            if let Some(id) = &report.deploy_id {
                if let Err(err) = store
                    .update(&clients.s3, &app.name, |index| index.note(id, &note))
                    .await
                {
                    tracing::warn!(app = %app.name, error = %err, "the note on the record was not written");
                }
            }
            report.actions.push(format!("! {note}"));
        }
        // ECR allows 1,000 tags an image (not adjustable): past about 500 applications sharing
        // one image, per-application tags run out.
        Err(err) if err.code.as_deref() == Some("LimitExceededException") => {
            report.actions.push(format!(
                "! {} not moved: {err}; ECR keeps at most 1,000 tags an image, so an image shared by this many applications cannot carry two tags per application: set `image_tags` to \"per-image\" (one tag an image)",
                tag_names(tags, &app.name)
            ));
        }
        Err(err) => {
            report.outcome = Outcome::Failed;
            report.reason = Some(format!(
                "the images in use are not tagged ({}): {err}; a retry of the event tags them",
                tag_names(tags, &app.name)
            ));
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{digest, image};

    fn moves(waves: Vec<Vec<(String, String)>>) -> Vec<Vec<String>> {
        waves
            .into_iter()
            .map(|wave| {
                wave.into_iter()
                    .map(|(tag, d)| format!("{tag}->{}", &d[7..9]))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn prev_moves_first_when_live_is_all_that_keeps_its_image() {
        let (new, old) = (digest(2), digest(1));
        let details = [image(&new, &["latest"], 20), image(&old, &["live-orders"], 10)];
        assert_eq!(
            moves(waves(ImageTags::PerApp, "orders", Some(&new), Some(&old), &details)),
            [vec!["prev-orders->01"], vec!["live-orders->02"]]
        );
    }

    #[test]
    fn both_tags_move_at_once_when_the_old_image_keeps_another_tag() {
        let (new, old) = (digest(2), digest(1));
        let details = [image(&new, &[], 20), image(&old, &["live-orders", "v1"], 10)];
        assert_eq!(
            moves(waves(ImageTags::PerApp, "orders", Some(&new), Some(&old), &details)),
            [vec!["prev-orders->01", "live-orders->02"]]
        );
    }

    #[test]
    fn tags_in_place_are_not_moved_again() {
        let (new, old) = (digest(2), digest(1));
        let details = [image(&new, &["live-orders"], 20), image(&old, &["prev-orders"], 10)];
        assert!(waves(ImageTags::PerApp, "orders", Some(&new), Some(&old), &details).is_empty());
        // The first deploy: only `live`.
        let details = [image(&new, &["latest"], 20)];
        assert_eq!(
            moves(waves(ImageTags::PerApp, "orders", Some(&new), None, &details)),
            [vec!["live-orders->02"]]
        );
        assert!(waves(ImageTags::PerApp, "orders", None, None, &[]).is_empty());
    }

    #[test]
    fn per_image_each_digest_gets_its_own_tag_once() {
        let (new, old) = (digest(2), digest(1));
        let details = [image(&new, &["latest"], 20), image(&old, &[&image_tag(&old)], 10)];
        let waves = waves(ImageTags::PerImage, "orders", Some(&new), Some(&old), &details);
        // The old image's tag is put again: a release may have taken it off since the read.
        assert_eq!(
            waves,
            [vec![(image_tag(&new), new.clone()), (image_tag(&old), old.clone())]]
        );
        // Live and previous on one digest (a rollback target that is also live): one tag.
        assert_eq!(
            super::waves(
                ImageTags::PerImage,
                "orders",
                Some(&old),
                Some(&old),
                &[image(&old, &[], 1)]
            ),
            [vec![(image_tag(&old), old.clone())]]
        );
    }

    #[test]
    fn a_per_image_tag_names_its_digest_and_nothing_else_does() {
        let d = digest(7);
        let tag = image_tag(&d);
        assert!(tag.starts_with("live-sha256-") && tag.len() == 76, "{tag}");
        assert_eq!(digest_of_image_tag(&tag), Some(d));
        for other in ["live-orders", "live-sha256-ab", "prev-sha256-00", "latest"] {
            assert_eq!(digest_of_image_tag(other), None, "{other}");
        }
    }
}
