//! The AWS protocol of a request, and the throttling and error answers in its shape.

use super::*;

/// The AWS protocol of a request, for error shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Protocol {
    /// awsJson1.1 (ECS, ECR, Cloud Map): `X-Amz-Target`.
    Json,
    /// awsQuery (ELBv2): a form body with `Action=`.
    Query,
    /// restJson1 (API Gateway v2): `/v2/...` paths.
    RestJson,
    /// restXml (S3).
    RestXml,
}

impl Protocol {
    pub(super) fn of(head: &str) -> Protocol {
        let path = head.split_whitespace().nth(1).unwrap_or("/");
        if header(head, "x-amz-target").is_some() {
            Protocol::Json
        } else if header(head, "content-type").is_some_and(|v| v.contains("x-www-form-urlencoded")) {
            Protocol::Query
        } else if path.starts_with("/v2/") {
            Protocol::RestJson
        } else {
            Protocol::RestXml
        }
    }

    pub(super) fn throttle(self) -> Vec<u8> {
        match self {
            Protocol::Json => response(
                400,
                "application/x-amz-json-1.1",
                &[],
                r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
            ),
            Protocol::Query => response(
                400,
                "text/xml",
                &[],
                "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>",
            ),
            Protocol::RestJson => response(
                429,
                "application/json",
                &[("x-amzn-ErrorType", "TooManyRequestsException")],
                r#"{"message":"Too Many Requests"}"#,
            ),
            Protocol::RestXml => response(
                503,
                "application/xml",
                &[],
                "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>fault-proxy</RequestId></Error>",
            ),
        }
    }

    pub(super) fn denied(self) -> Vec<u8> {
        match self {
            Protocol::Json => response(
                400,
                "application/x-amz-json-1.1",
                &[],
                r#"{"__type":"AccessDeniedException","message":"not authorized"}"#,
            ),
            // EC2's shape (the only query-protocol service the tests deny).
            Protocol::Query => response(
                403,
                "text/xml",
                &[],
                "<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation.</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>",
            ),
            Protocol::RestJson => response(
                403,
                "application/json",
                &[("x-amzn-ErrorType", "AccessDeniedException")],
                r#"{"message":"not authorized"}"#,
            ),
            Protocol::RestXml => response(
                403,
                "application/xml",
                &[],
                "<Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>fault-proxy</RequestId></Error>",
            ),
        }
    }

    pub(super) fn error(self, status: u16) -> Vec<u8> {
        let code = if status == 503 {
            "ServiceUnavailable"
        } else {
            "InternalFailure"
        };
        match self {
            Protocol::Json => response(
                status,
                "application/x-amz-json-1.1",
                &[],
                &format!(r#"{{"__type":"{code}","message":"injected"}}"#),
            ),
            Protocol::RestJson => response(
                status,
                "application/json",
                &[("x-amzn-ErrorType", code)],
                r#"{"message":"injected"}"#,
            ),
            Protocol::Query => response(
                status,
                "text/xml",
                &[],
                &format!("<ErrorResponse><Error><Type>Receiver</Type><Code>{code}</Code><Message>injected</Message></Error></ErrorResponse>"),
            ),
            Protocol::RestXml => response(
                status,
                "application/xml",
                &[],
                &format!("<Error><Code>{code}</Code><Message>injected</Message></Error>"),
            ),
        }
    }
}
