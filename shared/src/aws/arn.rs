//! Names and ARNs: the short name of an ARN, task definition `family:revision`, S3 locations.

/// The last part of an ARN (`.../name`), or the value itself when it is a plain name.
pub fn short_name(name_or_arn: &str) -> &str {
    name_or_arn.rsplit('/').next().unwrap_or(name_or_arn)
}

/// `(family, revision)` from a task definition ARN or `family:revision`.
pub fn family_and_revision(task_definition: &str) -> Option<(String, i32)> {
    let name = short_name(task_definition);
    let (family, revision) = name.rsplit_once(':')?;
    Some((family.to_owned(), revision.parse().ok()?))
}

/// Splits `s3://bucket/key` into bucket and key.
pub fn parse_s3_location(location: &str) -> Option<(&str, &str)> {
    let rest = location.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then_some((bucket, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_and_revision_parse_arns_and_short_forms() {
        assert_eq!(
            family_and_revision("arn:aws:ecs:eu-west-1:1:task-definition/orders:12"),
            Some(("orders".into(), 12))
        );
        assert_eq!(family_and_revision("orders:3"), Some(("orders".into(), 3)));
        assert_eq!(family_and_revision("orders"), None);
    }

    #[test]
    fn short_names_come_from_arns() {
        assert_eq!(short_name("arn:aws:ecs:r:1:service/sss/orders"), "orders");
        assert_eq!(short_name("orders"), "orders");
    }

    #[test]
    fn s3_locations_need_a_bucket_and_a_key() {
        assert_eq!(
            parse_s3_location("s3://bucket/dir/key.json"),
            Some(("bucket", "dir/key.json"))
        );
        assert_eq!(parse_s3_location("s3://bucket/"), None);
        assert_eq!(parse_s3_location("bucket/key"), None);
    }
}
