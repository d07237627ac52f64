//! Approvals that must name their signer (`approvers` set): image-push refuses them by plain
//! invoke, so `ecs-deployer approve` sends the same payload to the approve function's URL
//! (`AuthType: AWS_IAM`) as a SigV4-signed POST, signed for the `lambda` service as Lambda checks
//! it before the function runs. Which URL takes it and what its HTTP answer means are here
//! (pure); the binary signs and sends it through [`crate::aws::signed_post`].

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

/// The content type of an approval.
pub const JSON: &str = "application/json";

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
    use serde_json::json;

    use super::*;

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
