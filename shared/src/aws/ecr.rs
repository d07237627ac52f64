//! ECR: image references, digest look-ups.

use aws_sdk_ecr::types::ImageIdentifier;

use crate::aws::AwsError;

/// A container image reference split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry host (`123456789012.dkr.ecr.eu-west-1.amazonaws.com`), if any.
    pub registry: Option<String>,
    /// Repository path (`orders`, `team/orders`).
    pub repository: String,
    /// Tag, if any.
    pub tag: Option<String>,
    /// Digest (`sha256:...`), if any.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses `registry/repository[:tag][@digest]`.
    pub fn parse(image: &str) -> ImageRef {
        let (name, digest) = match image.split_once('@') {
            Some((name, digest)) => (name, Some(digest.to_owned())),
            None => (image, None),
        };
        let (registry, path) = match name.split_once('/') {
            Some((first, rest)) if first.contains('.') || first.contains(':') || first == "localhost" => {
                (Some(first.to_owned()), rest)
            }
            _ => (None, name),
        };
        let last_slash = path.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match path[last_slash..].rfind(':') {
            Some(colon) => (
                path[..last_slash + colon].to_owned(),
                Some(path[last_slash + colon + 1..].to_owned()),
            ),
            None => (path.to_owned(), None),
        };
        ImageRef {
            registry,
            repository,
            tag,
            digest,
        }
    }

    /// True when this image is `digest` of `repository` (any registry).
    pub fn is_digest_of(&self, repository: &str, digest: &str) -> bool {
        self.repository == repository && self.digest.as_deref() == Some(digest)
    }
}

/// The registry host of an ECR registry in a region.
pub fn registry_host(registry_id: &str, region: &str) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("{registry_id}.dkr.ecr.{region}.{suffix}")
}

/// The digest-pinned reference `registry/repository@sha256:...`.
pub fn pinned_image(registry: &str, repository: &str, digest: &str) -> String {
    format!("{registry}/{repository}@{digest}")
}

/// One image as ECR describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageDetail {
    /// Registry (account) ID.
    pub registry_id: String,
    /// Digest (`sha256:...`).
    pub digest: String,
    /// Tags the image holds now.
    pub tags: Vec<String>,
    /// When it was pushed, in nanoseconds since the epoch.
    pub pushed_at: Option<i128>,
}

/// One image to look up: by tag or by digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ImageQuery {
    /// The image that holds this tag now.
    Tag(String),
    /// The image with this digest.
    Digest(String),
}

impl ImageQuery {
    fn identifier(&self) -> ImageIdentifier {
        match self {
            ImageQuery::Tag(tag) => ImageIdentifier::builder().image_tag(tag).build(),
            ImageQuery::Digest(digest) => ImageIdentifier::builder().image_digest(digest).build(),
        }
    }

    /// True when `image` answers this query.
    pub fn answered_by(&self, image: &ImageDetail) -> bool {
        match self {
            ImageQuery::Tag(tag) => image.tags.iter().any(|t| t == tag),
            ImageQuery::Digest(digest) => &image.digest == digest,
        }
    }
}

/// Looks up images of one repository, 100 ids a call (ECR's limit); a query that matches no
/// image is simply absent from the answer. `registry_id` names the registry (account) that holds
/// the repository; none is the caller's own.
pub async fn describe_images(
    client: &aws_sdk_ecr::Client,
    registry_id: Option<&str>,
    repository: &str,
    queries: &[ImageQuery],
) -> Result<Vec<ImageDetail>, AwsError> {
    let mut images = Vec::new();
    for batch in queries.chunks(DESCRIBE_IMAGES_MAX_IDS) {
        images.extend(describe_batch(client, registry_id, repository, batch).await?);
    }
    Ok(images)
}

/// Image ids one `DescribeImages` call accepts (AWS: 1-100).
pub const DESCRIBE_IMAGES_MAX_IDS: usize = 100;

async fn describe_batch(
    client: &aws_sdk_ecr::Client,
    registry_id: Option<&str>,
    repository: &str,
    queries: &[ImageQuery],
) -> Result<Vec<ImageDetail>, AwsError> {
    match describe_once(client, registry_id, repository, queries).await {
        Ok(images) => Ok(images),
        // DescribeImages fails as a whole when one identifier is unknown: ask one at a time.
        Err(err) if err.code.as_deref() == Some("ImageNotFoundException") && queries.len() > 1 => {
            let mut images = Vec::new();
            for query in queries {
                match describe_once(client, registry_id, repository, std::slice::from_ref(query)).await {
                    Ok(found) => images.extend(found),
                    Err(err) if err.code.as_deref() == Some("ImageNotFoundException") => {}
                    Err(err) => return Err(err),
                }
            }
            Ok(images)
        }
        Err(err) if err.code.as_deref() == Some("ImageNotFoundException") => Ok(Vec::new()),
        Err(err) => Err(err),
    }
}

async fn describe_once(
    client: &aws_sdk_ecr::Client,
    registry_id: Option<&str>,
    repository: &str,
    queries: &[ImageQuery],
) -> Result<Vec<ImageDetail>, AwsError> {
    let output = client
        .describe_images()
        .set_registry_id(registry_id.map(str::to_owned))
        .repository_name(repository)
        .set_image_ids(Some(queries.iter().map(ImageQuery::identifier).collect()))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ECR", "DescribeImages", repository, e))?;
    Ok(output.image_details().iter().filter_map(detail_of).collect())
}

/// An image as `DescribeImages` answers it, in the deployer's terms (none without an id).
fn detail_of(d: &aws_sdk_ecr::types::ImageDetail) -> Option<ImageDetail> {
    Some(ImageDetail {
        registry_id: d.registry_id()?.to_owned(),
        digest: d.image_digest()?.to_owned(),
        tags: d.image_tags().to_vec(),
        pushed_at: d.image_pushed_at().map(|t| t.as_nanos()),
    })
}

/// The images of these digests of `repository` with their manifests (one `BatchGetImage`), to
/// tag them with [`put_tag`]; a digest ECR does not hold is left out.
pub async fn get_images(
    client: &aws_sdk_ecr::Client,
    registry_id: Option<&str>,
    repository: &str,
    digests: &[&str],
) -> Result<Vec<aws_sdk_ecr::types::Image>, AwsError> {
    if digests.is_empty() {
        return Ok(Vec::new());
    }
    let ids = digests
        .iter()
        .map(|digest| {
            aws_sdk_ecr::types::ImageIdentifier::builder()
                .image_digest(*digest)
                .build()
        })
        .collect();
    let got = client
        .batch_get_image()
        .set_registry_id(registry_id.map(str::to_owned))
        .repository_name(repository)
        .set_image_ids(Some(ids))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ECR", "BatchGetImage", repository, e))?;
    Ok(got.images().to_vec())
}

/// The image of `digest` among `images` (from [`get_images`]); an `ImageNotFoundException`
/// naming it when ECR no longer holds it.
pub fn image_with_digest<'a>(
    images: &'a [aws_sdk_ecr::types::Image],
    digest: &str,
    repository: &str,
) -> Result<&'a aws_sdk_ecr::types::Image, AwsError> {
    images
        .iter()
        .find(|i| i.image_id().and_then(|id| id.image_digest()) == Some(digest))
        .ok_or_else(|| AwsError {
            service: "ECR",
            transient: false,
            operation: "BatchGetImage",
            resource: format!("{repository}@{digest}"),
            code: Some("ImageNotFoundException".into()),
            message: "the image is gone".into(),
        })
}

/// Puts `tag` on `image` (from [`get_images`]) by writing its own manifest again with the tag
/// (`PutImage`): no image is pushed, and a tag on another image moves here. `Ok(false)` when the
/// tag already named this image.
pub async fn put_tag(
    client: &aws_sdk_ecr::Client,
    registry_id: Option<&str>,
    repository: &str,
    image: &aws_sdk_ecr::types::Image,
    tag: &str,
) -> Result<bool, AwsError> {
    let digest = image.image_id().and_then(|id| id.image_digest()).unwrap_or_default();
    let put = client
        .put_image()
        .set_registry_id(registry_id.map(str::to_owned))
        .repository_name(repository)
        .image_manifest(image.image_manifest().unwrap_or_default())
        .set_image_manifest_media_type(image.image_manifest_media_type().map(str::to_owned))
        .image_tag(tag)
        .image_digest(digest)
        .send()
        .await;
    match put {
        Ok(_) => Ok(true),
        Err(err) => {
            let err = AwsError::from_sdk("ECR", "PutImage", format!("{repository}@{digest} as {tag}"), err);
            // The tag already names this manifest: nothing to move.
            if err.code.as_deref() == Some("ImageAlreadyExistsException") {
                Ok(false)
            } else {
                Err(err)
            }
        }
    }
}

/// Every tagged image of `repository` with its tags (`DescribeImages` with the `TAGGED` filter,
/// 1,000 a page, every page).
pub async fn tagged_images(
    client: &aws_sdk_ecr::Client,
    registry_id: Option<&str>,
    repository: &str,
) -> Result<Vec<ImageDetail>, AwsError> {
    let mut images = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .describe_images()
            .set_registry_id(registry_id.map(str::to_owned))
            .repository_name(repository)
            .filter(
                aws_sdk_ecr::types::DescribeImagesFilter::builder()
                    .tag_status(aws_sdk_ecr::types::TagStatus::Tagged)
                    .build(),
            )
            .max_results(1000)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ECR", "DescribeImages", repository, e))?;
        images.extend(page.image_details().iter().filter_map(detail_of));
        match page.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_owned()),
            _ => return Ok(images),
        }
    }
}

/// Removes `tag` from its image (`BatchDeleteImage` by tag). ECR deletes an image whose last tag
/// is removed: callers make sure the image keeps another tag first. `Ok(false)` when no image
/// carries the tag any more.
pub async fn remove_tag(
    client: &aws_sdk_ecr::Client,
    registry_id: Option<&str>,
    repository: &str,
    tag: &str,
) -> Result<bool, AwsError> {
    let output = client
        .batch_delete_image()
        .set_registry_id(registry_id.map(str::to_owned))
        .repository_name(repository)
        .image_ids(aws_sdk_ecr::types::ImageIdentifier::builder().image_tag(tag).build())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ECR", "BatchDeleteImage", format!("{repository}:{tag}"), e))?;
    match output.failures().first() {
        None => Ok(true),
        Some(f) if f.failure_code() == Some(&aws_sdk_ecr::types::ImageFailureCode::ImageNotFound) => Ok(false),
        Some(f) => Err(AwsError {
            service: "ECR",
            transient: false,
            operation: "BatchDeleteImage",
            resource: format!("{repository}:{tag}"),
            code: f.failure_code().map(|c| c.as_str().to_owned()),
            message: f.failure_reason().unwrap_or("the tag was not removed").to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ecr_image_with_tag() {
        let image = ImageRef::parse("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/orders:v42");
        assert_eq!(
            image.registry.as_deref(),
            Some("123456789012.dkr.ecr.eu-west-1.amazonaws.com")
        );
        assert_eq!(image.repository, "team/orders");
        assert_eq!(image.tag.as_deref(), Some("v42"));
        assert_eq!(image.digest, None);
    }

    #[test]
    fn parses_digest_and_registry_with_port() {
        let image = ImageRef::parse("localhost:5000/orders:latest@sha256:abc");
        assert_eq!(image.registry.as_deref(), Some("localhost:5000"));
        assert_eq!(image.repository, "orders");
        assert_eq!(image.tag.as_deref(), Some("latest"));
        assert_eq!(image.digest.as_deref(), Some("sha256:abc"));
        assert!(image.is_digest_of("orders", "sha256:abc"));
        assert!(!image.is_digest_of("other", "sha256:abc"));
    }

    #[test]
    fn parses_docker_hub_short_names() {
        let image = ImageRef::parse("nginx");
        assert_eq!(
            (image.registry, image.repository.as_str(), image.tag),
            (None, "nginx", None)
        );
        let image = ImageRef::parse("library/nginx:1.27");
        assert_eq!(image.repository, "library/nginx");
        assert_eq!(image.tag.as_deref(), Some("1.27"));
    }

    #[test]
    fn registry_host_follows_partition() {
        assert_eq!(registry_host("1", "eu-west-1"), "1.dkr.ecr.eu-west-1.amazonaws.com");
        assert_eq!(
            registry_host("1", "cn-north-1"),
            "1.dkr.ecr.cn-north-1.amazonaws.com.cn"
        );
    }
}
