//! S3: the one set of object helpers (configuration, nlb-sync state, leases). Every write that
//! can race is conditional, so overlapping runs never lose each other's update.

use aws_config::SdkConfig;
use aws_sdk_s3::config::Builder;

use crate::aws::AwsError;

/// An S3 client for `config`, with path-style addressing when an endpoint override is set (local
/// emulators do not serve virtual-hosted buckets).
pub fn client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let s3_config = Builder::from(config)
        .force_path_style(config.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(s3_config)
}

/// The most a state object (an index, a lease, nlb-sync's state, a pending promotion) may
/// weigh: what the deployer writes is a few kilobytes, so anything near this was written by
/// someone else, and is refused before its body is read.
pub const STATE_MAX_BYTES: u64 = 1024 * 1024;

/// An object's bytes and ETag, at most [`STATE_MAX_BYTES`]; `None` when there is no such key.
pub async fn read_object(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Option<(Vec<u8>, String)>, AwsError> {
    read_object_limited(s3, bucket, key, STATE_MAX_BYTES).await
}

/// As [`read_object`], refusing an object larger than `max_bytes` (code `EntityTooLarge`)
/// before its body is read.
pub async fn read_object_limited(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    max_bytes: u64,
) -> Result<Option<(Vec<u8>, String)>, AwsError> {
    let resource = format!("s3://{bucket}/{key}");
    let object = match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(object) => object,
        Err(err) => {
            let status = err.raw_response().map(|r| r.status().as_u16());
            let err = AwsError::from_sdk("S3", "GetObject", &resource, err);
            // A missing key is "nothing written yet", whether S3 says NoSuchKey or only 404
            // (answers without a body, as to a conditional or HEAD-like request). A missing
            // bucket stays an error: the configuration names a bucket that does not exist.
            let missing_key = match err.code.as_deref() {
                Some("NoSuchKey") | Some("NotFound") => true,
                None => status == Some(404),
                Some(_) => false,
            };
            return if missing_key { Ok(None) } else { Err(err) };
        }
    };
    let too_large = |size: u64| AwsError {
        service: "S3",
        transient: false,
        operation: "GetObject",
        resource: resource.clone(),
        code: Some("EntityTooLarge".into()),
        message: format!("the object is {size} bytes; at most {max_bytes} are read"),
    };
    let size = u64::try_from(object.content_length().unwrap_or_default()).unwrap_or_default();
    if size > max_bytes {
        return Err(too_large(size));
    }
    let etag = object.e_tag().unwrap_or_default().to_owned();
    let bytes = object.body.collect().await.map_err(|e| AwsError {
        service: "S3",
        transient: false,
        operation: "GetObject",
        resource: resource.clone(),
        code: None,
        message: e.to_string(),
    })?;
    let bytes = bytes.into_bytes().to_vec();
    if bytes.len() as u64 > max_bytes {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(Some((bytes, etag)))
}

/// Stores a JSON object, whatever is there (for copies whose truth is kept elsewhere).
pub async fn put_json(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), AwsError> {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/json")
        .body(body.into())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("S3", "PutObject", format!("s3://{bucket}/{key}"), e))?;
    Ok(())
}

/// Stores a JSON object only if it still has `etag` (`If-Match`), or, without one, only if it
/// does not exist (`If-None-Match: *`). `Ok(None)` when that condition failed: someone else
/// wrote first (or deleted it), and nothing was stored. On success, the new ETag.
pub async fn put_if(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    etag: Option<&str>,
) -> Result<Option<String>, AwsError> {
    let request = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/json")
        .body(body.into());
    let request = match etag {
        Some(etag) => request.if_match(etag),
        None => request.if_none_match("*"),
    };
    match request.send().await {
        Ok(output) => Ok(Some(output.e_tag().unwrap_or_default().to_owned())),
        Err(err) => {
            let status = err.raw_response().map(|r| r.status().as_u16());
            let err = AwsError::from_sdk("S3", "PutObject", format!("s3://{bucket}/{key}"), err);
            // 404 on an `If-Match` write: the object was deleted since it was read, which is
            // one more way of "someone else wrote first"; the caller reads again (no state yet).
            let gone = etag.is_some() && status == Some(404);
            if gone || status == Some(412) || status == Some(409) || err.code.as_deref() == Some("PreconditionFailed") {
                Ok(None)
            } else {
                Err(err)
            }
        }
    }
}

/// The keys under `prefix` in `bucket`, every page.
pub async fn list_keys(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Result<Vec<String>, AwsError> {
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    let mut keys = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk("S3", "ListObjectsV2", format!("s3://{bucket}/{prefix}"), e))?;
        keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
    }
    Ok(keys)
}
