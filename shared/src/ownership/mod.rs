//! How the deployer marks what it made, so that it only ever changes or removes its own: the tag
//! on task definition revisions it registers, and the description of an application's HTTP API
//! integration, and the record of the HTTP API routes and integrations it created ([`ApiRecord`]:
//! they cannot carry tags). Every job that touches those resources asks here.

use aws_sdk_ecs::types::Tag;

/// Tag put on every revision the deployer registers, so that later clean-ups touch only those.
pub const MANAGED_TAG_KEY: &str = "ecs-deployer:managed";
/// Value of [`MANAGED_TAG_KEY`].
pub const MANAGED_TAG_VALUE: &str = "true";

/// The tag that marks a revision as the deployer's.
pub fn managed_tag() -> Tag {
    Tag::builder().key(MANAGED_TAG_KEY).value(MANAGED_TAG_VALUE).build()
}

/// True when `tags` mark a revision as registered by the deployer.
pub fn is_managed(tags: &[Tag]) -> bool {
    tags.iter().any(|t| t.key() == Some(MANAGED_TAG_KEY))
}

/// Description that marks an HTTP API integration as the application's.
pub fn integration_marker(app: &str) -> String {
    format!("ecs-deployer:app={app}")
}

mod api_record;

pub use api_record::{ApiRecord, ApiRecordStore, Owner, VersionedApiRecord};
