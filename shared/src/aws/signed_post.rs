//! A SigV4-signed POST the SDK does not send (EC2's Query API, a Lambda function URL): signed by
//! the SDK's own signer (`aws-sigv4`) and sent over the same HTTPS stack as the SDK's clients
//! (hyper, rustls on ring, the system's root certificates).

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The HTTPS client of [`post`] (plain HTTP too, for a local endpoint).
pub type HyperClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<bytes::Bytes>>;

/// A client for [`post`], connecting within `connect_timeout` (none: no bound).
pub fn hyper_client(connect_timeout: Option<Duration>) -> HyperClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(connect_timeout);
    let provider = || rustls::crypto::ring::default_provider();
    let builder = match hyper_rustls::HttpsConnectorBuilder::new().with_provider_and_native_roots(provider()) {
        Ok(builder) => builder,
        // No root certificate on the system: every HTTPS call then fails, saying so.
        Err(_) => hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(
            rustls::ClientConfig::builder_with_provider(provider().into())
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        ),
    };
    let connector = builder.https_or_http().enable_http1().wrap_connector(http);
    Client::builder(TokioExecutor::new()).build(connector)
}

/// The request to sign and send.
#[derive(Debug, Clone, Copy)]
pub struct SignedPost<'a> {
    /// The signing name of the service (`ec2`, `lambda`).
    pub service: &'a str,
    /// The Region signed for.
    pub region: &'a str,
    /// Where to.
    pub url: &'a str,
    /// The body's content type.
    pub content_type: &'a str,
    /// The body.
    pub body: &'a str,
    /// A `user-agent` (not signed).
    pub user_agent: Option<&'a str>,
}

/// Sends `post` signed with `credentials`: the answer's status and body.
pub async fn post(
    client: &HyperClient,
    post: SignedPost<'_>,
    credentials: &Credentials,
) -> Result<(u16, Vec<u8>), String> {
    let content_type = ("content-type", post.content_type);
    let headers = signed_headers(
        post.service,
        post.url,
        content_type,
        post.body,
        credentials,
        post.region,
        SystemTime::now(),
    )?;
    let mut request = http::Request::post(post.url);
    for (name, value) in &headers {
        request = request.header(name, value);
    }
    if let Some(agent) = post.user_agent {
        request = request.header("user-agent", agent);
    }
    let request = request
        .body(Full::new(bytes::Bytes::from(post.body.to_owned())))
        .map_err(|err| format!("the request to `{}`: {err}", post.url))?;
    let response = client
        .request(request)
        .await
        .map_err(|err| format!("sending to {} failed: {err}", post.url))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|err| format!("reading the answer of {} failed: {err}", post.url))?
        .to_bytes();
    Ok((status, body.to_vec()))
}

/// The headers that sign a POST of `body` (of `content_type`) to `url` for `service` in `region`
/// at `now`: `content_type` itself, `authorization`, `x-amz-date` and, for temporary
/// credentials, `x-amz-security-token`. The request must carry exactly this body and these
/// headers.
pub fn signed_headers(
    service: &str,
    url: &str,
    content_type: (&str, &str),
    body: &str,
    credentials: &Credentials,
    region: &str,
    now: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|err| format!("signing for {service}: {err}"))?
        .into();
    let request = SignableRequest::new(
        "POST",
        url,
        std::iter::once(content_type),
        SignableBody::Bytes(body.as_bytes()),
    )
    .map_err(|err| format!("signing the request to `{url}`: {err}"))?;
    let (instructions, _) = sign(request, &params)
        .map_err(|err| format!("signing for {service}: {err}"))?
        .into_parts();
    let (headers, _) = instructions.into_parts();
    let mut all = vec![(content_type.0.to_owned(), content_type.1.to_owned())];
    all.extend(headers.into_iter().map(|h| (h.name().to_owned(), h.value().to_owned())));
    Ok(all)
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    const JSON: (&str, &str) = ("content-type", "application/json");

    fn credentials(token: Option<&str>) -> Credentials {
        Credentials::new("AKIDEXAMPLE", "secret", token.map(str::to_owned), None, "test")
    }

    #[test]
    fn the_request_is_signed_for_lambda_in_the_region_at_the_time() {
        // 2026-12-07T10:00:00Z
        let now = UNIX_EPOCH + Duration::from_secs(1_796_637_600);
        let url = "https://abc.lambda-url.eu-west-1.on.aws/";
        let body = r#"{"approve":{"app":"orders","digest":"sha256:1"}}"#;
        let headers = signed_headers("lambda", url, JSON, body, &credentials(Some("TOKEN")), "eu-west-1", now).unwrap();
        let get = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        assert_eq!(get("content-type").as_deref(), Some("application/json"));
        assert_eq!(get("x-amz-date").as_deref(), Some("20261207T100000Z"));
        assert_eq!(get("x-amz-security-token").as_deref(), Some("TOKEN"));
        let authorization = get("authorization").unwrap();
        assert!(
            authorization.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261207/eu-west-1/lambda/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="
            ),
            "{authorization}"
        );
        let signature = authorization.rsplit('=').next().unwrap();
        assert_eq!(signature.len(), 64);
        // The body is signed: another body, another signature.
        let other = signed_headers("lambda", url, JSON, "{}", &credentials(Some("TOKEN")), "eu-west-1", now).unwrap();
        let other_authorization = other.iter().find(|(n, _)| n == "authorization").unwrap();
        assert_ne!(other_authorization.1, authorization);
        // Long-term keys carry no token.
        let plain = signed_headers("lambda", url, JSON, body, &credentials(None), "eu-west-1", now).unwrap();
        assert!(plain.iter().all(|(n, _)| n != "x-amz-security-token"), "{plain:?}");
    }
}
