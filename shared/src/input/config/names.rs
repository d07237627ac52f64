//! The names and identifiers AWS constrains, as the configuration's checks test them (pure).

use crate::input::is_account_id;

/// `arn:<partition>:elasticloadbalancing:<region>:<account>:loadbalancer/app/<name>/<id>`.
pub(super) fn is_alb_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "elasticloadbalancing"
        && is_account_id(parts[4])
        && parts[5]
            .strip_prefix("loadbalancer/app/")
            .is_some_and(|rest| rest.split('/').count() == 2 && rest.split('/').all(|p| !p.is_empty()))
}

/// An AWS region name such as `eu-west-1` or `us-gov-west-1`.
pub(super) fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()))
        && parts.last().is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

/// `arn:<partition>:iam::<account>:role/<path/name>`.
pub(super) fn is_role_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "iam"
        && parts[3].is_empty()
        && is_account_id(parts[4])
        && parts[5]
            .strip_prefix("role/")
            .is_some_and(|name| !name.is_empty() && name.len() <= 512)
}

pub(super) fn is_app_name(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

pub(super) fn is_name_or_arn(s: &str) -> bool {
    if s.starts_with("arn:") {
        return s.len() <= 2048 && !s.contains(char::is_whitespace);
    }
    (1..=255).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

pub(super) fn is_repository_name(s: &str) -> bool {
    (2..=256).contains(&s.len())
        && s.split('/').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
                && part.starts_with(|c: char| c.is_ascii_alphanumeric())
                && part.ends_with(|c: char| c.is_ascii_alphanumeric())
        })
}

pub(super) fn is_tag_pattern(s: &str) -> bool {
    (1..=crate::input::events::TAG_MAX_CHARS).contains(&s.len())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "_.-*?".contains(c))
}

/// The reserved prefix every tag a pattern matches starts with, if there is one: the pattern
/// begins with that prefix literally (no wildcard in it), so it matches nothing but the
/// deployer's own tags. `*` or `l*` also match reserved tags, and others: those pushes are
/// ignored, the pattern is fine.
pub(super) fn reserved_prefix_of(pattern: &str) -> Option<&'static str> {
    crate::input::events::RESERVED_TAG_PREFIXES
        .into_iter()
        .find(|prefix| pattern.starts_with(prefix))
}

/// A DNS label: letters, digits and inner hyphens, 1-63 characters.
pub(super) fn is_dns_label(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS name: labels separated by dots, at most 253 characters, no underscore.
pub fn is_dns_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

pub(super) fn is_aws_id(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric())
}

pub(super) fn is_bucket_name(s: &str) -> bool {
    (3..=63).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// An IAM role or user ARN: `arn:<partition>:iam::<12 digits>:role/<path/name>` or `:user/...`.
pub(super) fn is_principal_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ["arn", partition, "iam", "", account, resource] = parts.as_slice() else {
        return false;
    };
    partition.starts_with("aws")
        && crate::input::is_account_id(account)
        && (resource
            .strip_prefix("role/")
            .or_else(|| resource.strip_prefix("user/")))
        .is_some_and(|name| !name.is_empty() && !name.ends_with('/') && name.len() <= 512)
        && arn.chars().all(|c| c.is_ascii_graphic())
}
