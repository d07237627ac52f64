//! Manual payloads through a Lambda function URL with `AuthType: AWS_IAM`: Lambda checks the
//! request's SigV4 signature before the function runs and names the signer in
//! `requestContext.authorizer.iam.userArn`, so a payload that comes this way has an
//! authenticated caller (a plain invoke has none: Lambda passes no identity). The request's
//! body is the payload; the answer goes back as an HTTP response (Lambda's payload format 2.0).

use base64::Engine;
use serde_json::{json, Value};

use super::InputError;

/// Characters of an authenticated caller's ARN kept (IAM allows 2,048; an assumed role's session
/// ARN is far shorter).
pub const CALLER_MAX_CHARS: usize = 512;

/// A manual payload that came through the function URL, and who signed it.
#[derive(Debug, Clone, PartialEq)]
pub struct UrlRequest {
    /// The request's body, parsed: the manual payload.
    pub payload: Value,
    /// The signer's ARN (`arn:aws:sts::<account>:assumed-role/<role>/<session>`,
    /// `arn:aws:iam::<account>:user/<name>`).
    pub caller: String,
}

/// True when `event` is a function URL request (payload format 2.0 with an HTTP request
/// context), not an EventBridge event or a manual payload.
pub fn is_url_request(event: &Value) -> bool {
    event["version"] == "2.0" && event["requestContext"]["http"].is_object()
}

/// The payload and the caller of a function URL request. Refused: another method than POST, a
/// request no IAM signature names (the URL must use `AWS_IAM`), a body that is not a JSON object.
pub fn parse(event: &Value) -> Result<UrlRequest, InputError> {
    let method = event["requestContext"]["http"]["method"].as_str().unwrap_or_default();
    if method != "POST" {
        return Err(InputError::new(
            "requestContext.http.method",
            format!("POST with the payload as the body, got {}", super::quoted(method)),
        ));
    }
    let caller = event["requestContext"]["authorizer"]["iam"]["userArn"]
        .as_str()
        .filter(|arn| arn.starts_with("arn:") && arn.len() <= CALLER_MAX_CHARS && !arn.chars().any(char::is_control))
        .ok_or_else(|| {
            InputError::new(
                "requestContext.authorizer.iam.userArn",
                "the IAM caller Lambda names for a function URL with AuthType AWS_IAM (a request no signature names is refused)",
            )
        })?;
    let body = event["body"].as_str().unwrap_or_default();
    let body = if event["isBase64Encoded"] == true {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| InputError::new("body", "base64 (isBase64Encoded is true)"))?;
        String::from_utf8(bytes).map_err(|_| InputError::new("body", "UTF-8 text"))?
    } else {
        body.to_owned()
    };
    let payload: Value = serde_json::from_str(&body).map_err(|e| {
        InputError::new(
            "body",
            format!("a JSON manual payload such as {{\"status\": {{}}}} ({e})"),
        )
    })?;
    if !payload.is_object() {
        return Err(InputError::new("body", "a JSON object: the manual payload"));
    }
    Ok(UrlRequest {
        payload,
        caller: caller.to_owned(),
    })
}

/// The HTTP response of a function URL request: the answer with 200, or the failure with its
/// status (400 for a payload or request the caller got wrong, 503 for work put off, 500
/// otherwise) and `{"errorType", "errorMessage"}` as Lambda reports an invocation error.
pub fn response(answer: Result<Value, (u16, &str, String)>) -> Value {
    let (status, body) = match answer {
        Ok(answer) => (200, answer),
        Err((status, error_type, message)) => (status, json!({"errorType": error_type, "errorMessage": message})),
    };
    json!({
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": body.to_string(),
        "isBase64Encoded": false,
    })
}

/// The principal an authenticated caller acts as, as IAM names it in a policy: an assumed role's
/// session ARN (`arn:aws:sts::1:assumed-role/Approver/alice`) is the role
/// (`arn:aws:iam::1:role/Approver`, without the role's path, which the session ARN does not
/// carry); a user's ARN is itself.
pub fn principal_of(caller: &str) -> String {
    let parts: Vec<&str> = caller.splitn(6, ':').collect();
    if let [arn, partition, "sts", "", account, resource] = parts.as_slice() {
        if let Some(role) = resource.strip_prefix("assumed-role/").and_then(|r| r.split('/').next()) {
            return format!("{arn}:{partition}:iam::{account}:role/{role}");
        }
    }
    caller.to_owned()
}

/// True when `caller` acts as `listed` (an IAM role or user ARN, with or without a path): the
/// same account and kind, and the same name.
pub fn acts_as(caller: &str, listed: &str) -> bool {
    let name = |arn: &str| -> Option<(String, String, String)> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [_, _, "iam", "", account, resource] = parts.as_slice() else {
            return None;
        };
        let (kind, path) = resource.split_once('/')?;
        Some((
            account.to_string(),
            kind.to_owned(),
            path.rsplit('/').next()?.to_owned(),
        ))
    };
    match (name(&principal_of(caller)), name(listed)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url_event(method: &str, body: &str, base64: bool, user_arn: Option<&str>) -> Value {
        let mut event = json!({
            "version": "2.0", "routeKey": "$default", "rawPath": "/", "rawQueryString": "",
            "headers": {"content-type": "application/json"},
            "requestContext": {"accountId": "123456789012", "apiId": "abc", "domainName": "abc.lambda-url.ap-northeast-1.on.aws",
                "http": {"method": method, "path": "/", "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "curl"},
                "requestId": "r-1", "routeKey": "$default", "stage": "$default", "time": "07/Dec/2026:10:00:00 +0000", "timeEpoch": 1796637600000u64},
            "body": body, "isBase64Encoded": base64
        });
        if let Some(arn) = user_arn {
            event["requestContext"]["authorizer"] = json!({"iam": {"accessKey": "AKIA", "accountId": "123456789012",
                "callerId": "AROA:alice", "userArn": arn, "userId": "AROA:alice"}});
        }
        event
    }

    const ALICE: &str = "arn:aws:sts::123456789012:assumed-role/Approver/alice";

    #[test]
    fn a_signed_post_gives_its_payload_and_caller() {
        let event = url_event("POST", r#"{"status": {}}"#, false, Some(ALICE));
        assert!(is_url_request(&event));
        let request = parse(&event).unwrap();
        assert_eq!(
            (request.payload, request.caller.as_str()),
            (json!({"status": {}}), ALICE)
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode(r#"{"status": {}}"#);
        let event = url_event("POST", &encoded, true, Some(ALICE));
        assert_eq!(parse(&event).unwrap().payload, json!({"status": {}}));
        // EventBridge events and manual payloads are not URL requests.
        assert!(!is_url_request(&json!({"version": "0", "detail": {}})));
        assert!(!is_url_request(&json!({"status": {}})));
    }

    #[test]
    fn unsigned_wrong_method_and_bad_bodies_are_refused_by_field() {
        let field = |event: Value| parse(&event).unwrap_err().field;
        assert_eq!(
            field(url_event("POST", "{}", false, None)),
            "requestContext.authorizer.iam.userArn"
        );
        assert_eq!(
            field(url_event("GET", "{}", false, Some(ALICE))),
            "requestContext.http.method"
        );
        assert_eq!(field(url_event("POST", "not json", false, Some(ALICE))), "body");
        assert_eq!(field(url_event("POST", "[1]", false, Some(ALICE))), "body");
        assert_eq!(field(url_event("POST", "%%", true, Some(ALICE))), "body");
        assert_eq!(
            field(url_event("POST", "{}", false, Some("alice\nforged"))),
            "requestContext.authorizer.iam.userArn"
        );
    }

    #[test]
    fn a_response_carries_the_answer_or_the_error_as_http() {
        let ok = response(Ok(json!({"results": []})));
        assert_eq!(ok["statusCode"], 200);
        assert_eq!(
            serde_json::from_str::<Value>(ok["body"].as_str().unwrap()).unwrap(),
            json!({"results": []})
        );
        let refused = response(Err((400, "EventInvalid", "invalid input".into())));
        assert_eq!(refused["statusCode"], 400);
        assert!(refused["body"].as_str().unwrap().contains("EventInvalid"));
    }

    #[test]
    fn an_assumed_role_acts_as_its_role_whatever_the_path() {
        assert_eq!(principal_of(ALICE), "arn:aws:iam::123456789012:role/Approver");
        assert!(acts_as(ALICE, "arn:aws:iam::123456789012:role/Approver"));
        assert!(acts_as(ALICE, "arn:aws:iam::123456789012:role/team/Approver"));
        assert!(!acts_as(ALICE, "arn:aws:iam::999999999999:role/Approver"));
        assert!(!acts_as(ALICE, "arn:aws:iam::123456789012:role/Deployer"));
        assert!(!acts_as(ALICE, "arn:aws:iam::123456789012:user/Approver"));
        let bob = "arn:aws:iam::123456789012:user/bob";
        assert!(acts_as(bob, "arn:aws:iam::123456789012:user/bob"));
        assert!(!acts_as("not an arn", "arn:aws:iam::123456789012:user/bob"));
    }
}
