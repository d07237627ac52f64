//! Approvals that must name their signer (`approvers` set): image-push refuses them by plain
//! invoke, so `ecs-deployer approve` sends the same payload to the approve function's URL
//! (`AuthType: AWS_IAM`) as a SigV4-signed POST, signed for the `lambda` service as Lambda checks
//! it before the function runs. What is signed, how the URL is read, and what its HTTP answer
//! means are here (pure); the binary sends the request.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use serde_json::Value;

use super::Options;

/// What image-push says when it refuses an approval for coming by a plain invoke.
const UNSIGNED_REFUSAL: &str = "approve function's URL";

/// True when `message` is image-push's refusal of an unsigned approval (`approvers` is set).
pub fn is_unsigned_refusal(message: &str) -> bool {
    message.contains(UNSIGNED_REFUSAL)
}

impl Options {
    /// The approve function whose URL takes signed approvals: `<stack>-approve`, or beside the
    /// function named by `--function` (`…image-push` → `…approve`).
    pub fn approve_function_name(&self) -> String {
        match self.function.as_deref().and_then(|f| f.strip_suffix("image-push")) {
            Some(prefix) => format!("{prefix}approve"),
            None => format!("{}-approve", self.stack),
        }
    }
}

/// Checks an approval URL: `https://`, or `http://` on loopback only (a local stand-in), since
/// the request carries the caller's session token.
pub fn check_approval_url(url: &str) -> Result<(), String> {
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"];
    let plain_loopback = loopback.iter().any(|prefix| {
        url.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
    });
    if url.starts_with("https://") || plain_loopback {
        Ok(())
    } else {
        Err(format!(
            "--approval-url expects the approve function's https:// URL (the stack's ApprovalUrl), got `{url}`"
        ))
    }
}

/// The headers that sign a POST of `body` (JSON) to the function URL `url` for `region` at
/// `now`: `authorization`, `x-amz-date` and, for temporary credentials, `x-amz-security-token`,
/// plus the `content-type` they sign. The request must carry exactly this body and these headers.
pub fn signed_headers(
    url: &str,
    body: &str,
    credentials: &Credentials,
    region: &str,
    now: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    let content_type = ("content-type", "application/json");
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("lambda")
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|err| format!("signing the approval: {err}"))?
        .into();
    let request = SignableRequest::new(
        "POST",
        url,
        std::iter::once(content_type),
        SignableBody::Bytes(body.as_bytes()),
    )
    .map_err(|err| format!("signing the approval for `{url}`: {err}"))?;
    let (instructions, _) = sign(request, &params)
        .map_err(|err| format!("signing the approval: {err}"))?
        .into_parts();
    let (headers, _) = instructions.into_parts();
    let mut all = vec![(content_type.0.to_owned(), content_type.1.to_owned())];
    all.extend(headers.into_iter().map(|h| (h.name().to_owned(), h.value().to_owned())));
    Ok(all)
}

/// What a function URL's HTTP answer means: the function's answer (200), or its error
/// (`errorType`, `errorMessage`) as image-push reports it (400, 500, 503), or Lambda's own
/// refusal of the request (403: the signature, or the caller's `lambda:InvokeFunctionUrl`).
pub fn url_answer(status: u16, body: &[u8]) -> Result<Value, (String, String)> {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    match (status, parsed) {
        (200, Some(answer)) => Ok(answer),
        (_, Some(error)) if error["errorType"].is_string() => Err((
            error["errorType"].as_str().unwrap_or_default().to_owned(),
            error["errorMessage"].as_str().unwrap_or_default().to_owned(),
        )),
        (403, _) => Err((
            "Forbidden".into(),
            "the approval URL refused the request (403): the signature did not match, or your \
             identity may not call lambda:InvokeFunctionUrl on the approve function"
                .into(),
        )),
        (status, _) => Err((
            "ApprovalUrlFailed".into(),
            format!(
                "the approval URL answered HTTP {status}: {}",
                String::from_utf8_lossy(body).chars().take(300).collect::<String>()
            ),
        )),
    }
}

/// What to do when the approval could not be signed and sent (no `--approval-url` and the
/// approve function's URL could not be read): the option, and the same payload by `curl`.
pub fn approval_hint(payload: &Value) -> String {
    format!(
        "approvals from `approvers` are signed: give the stack's ApprovalUrl output (EnableApprovalUrl \"true\") as --approval-url, or send the same payload with curl:\n  curl --aws-sigv4 \"aws:amz:$AWS_REGION:lambda\" --user \"$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY\" -H \"x-amz-security-token: $AWS_SESSION_TOKEN\" -H 'content-type: application/json' -d '{payload}' \"$APPROVAL_URL\""
    )
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use serde_json::json;

    use super::*;

    fn credentials(token: Option<&str>) -> Credentials {
        Credentials::new("AKIDEXAMPLE", "secret", token.map(str::to_owned), None, "test")
    }

    #[test]
    fn the_request_is_signed_for_lambda_in_the_region_at_the_time() {
        // 2026-12-07T10:00:00Z
        let now = UNIX_EPOCH + Duration::from_secs(1_796_637_600);
        let url = "https://abc.lambda-url.eu-west-1.on.aws/";
        let body = r#"{"approve":{"app":"orders","digest":"sha256:1"}}"#;
        let headers = signed_headers(url, body, &credentials(Some("TOKEN")), "eu-west-1", now).unwrap();
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
        let other = signed_headers(url, "{}", &credentials(Some("TOKEN")), "eu-west-1", now).unwrap();
        let other_authorization = other.iter().find(|(n, _)| n == "authorization").unwrap();
        assert_ne!(other_authorization.1, authorization);
        // Long-term keys carry no token.
        let plain = signed_headers(url, body, &credentials(None), "eu-west-1", now).unwrap();
        assert!(plain.iter().all(|(n, _)| n != "x-amz-security-token"), "{plain:?}");
    }

    #[test]
    fn only_https_or_loopback_urls_take_a_signed_approval() {
        for good in [
            "https://abc.lambda-url.eu-west-1.on.aws/",
            "http://127.0.0.1:9000/",
            "http://localhost",
        ] {
            assert_eq!(check_approval_url(good), Ok(()), "{good}");
        }
        for bad in [
            "http://abc.lambda-url.eu-west-1.on.aws/",
            "http://127.0.0.1.evil.example/",
            "ftp://x",
            "",
        ] {
            assert!(check_approval_url(bad).unwrap_err().contains("--approval-url"), "{bad}");
        }
    }

    #[test]
    fn the_url_answer_is_the_functions_or_lambdas_refusal() {
        assert_eq!(url_answer(200, br#"{"results":[]}"#), Ok(json!({"results": []})));
        let refused = url_answer(400, br#"{"errorType":"EventInvalid","errorMessage":"approve.digest"}"#);
        assert_eq!(refused, Err(("EventInvalid".into(), "approve.digest".into())));
        let (kind, message) = url_answer(403, br#"{"Message":"Forbidden"}"#).unwrap_err();
        assert_eq!(kind, "Forbidden");
        assert!(message.contains("lambda:InvokeFunctionUrl"), "{message}");
        let (kind, message) = url_answer(502, b"Internal Server Error").unwrap_err();
        assert_eq!(kind, "ApprovalUrlFailed");
        assert!(message.contains("502"), "{message}");
    }

    #[test]
    fn the_approve_function_sits_beside_image_push() {
        let mut options = Options::default();
        assert_eq!(options.approve_function_name(), "ecs-deployer-approve");
        options.function = Some("team-image-push".into());
        assert_eq!(options.approve_function_name(), "team-approve");
        options.function = Some("custom".into());
        options.stack = "deployer".into();
        assert_eq!(options.approve_function_name(), "deployer-approve");
    }
}
