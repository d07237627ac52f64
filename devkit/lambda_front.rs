//! Lambda's front door as the command line meets it, for what no local server provides: the
//! Invoke API (forwarded to cargo-lambda's local Lambda), `GetFunctionUrlConfig` for the approve
//! function, and that function's URL with `AuthType: AWS_IAM`. The URL checks each request's
//! SigV4 signature as Lambda does before the function runs (service `lambda`, the Region, a
//! known access key, the signed headers and the body's hash, the time within 5 minutes),
//! answers a bad one with 403 `{"Message":"Forbidden"}` without running anything, and hands a
//! good one to the approve binary through the Runtime API as the payload format 2.0 event whose
//! `requestContext.authorizer.iam.userArn` names the signer. The signature check is written
//! here from the SigV4 specification, apart from the signer the command line uses.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::faults::{forward, header, read_request, response};
use crate::runtime_api::{FunctionAnswer, RuntimeRun};

/// An IAM identity whose requests the URL takes: its key pair, and the ARN Lambda names it by.
#[derive(Debug, Clone)]
pub struct Signer {
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret: String,
    /// The caller's ARN (`arn:aws:sts::<account>:assumed-role/<role>/<session>`).
    pub arn: String,
}

/// What the front door serves.
#[derive(Debug, Clone)]
pub struct FrontConfig {
    /// Port of the local Lambda (`cargo lambda watch`) that takes the Invoke API.
    pub invoke_port: u16,
    /// The approve function's name (`GetFunctionUrlConfig` answers for it only).
    pub approve_function: String,
    /// The approve function's binary, run once per signed request.
    pub approve_binary: PathBuf,
    /// The approve function's environment.
    pub env: Vec<(String, String)>,
    /// Who may sign.
    pub signers: Vec<Signer>,
    /// The Region requests must be signed for.
    pub region: String,
}

/// The front door on a loopback port; stopped on drop.
pub struct LambdaFront {
    /// Loopback port: the Lambda endpoint and the function URL (`/`).
    pub port: u16,
    refused: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl LambdaFront {
    /// Starts the front door.
    pub async fn start(config: FrontConfig) -> LambdaFront {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let port = listener.local_addr().expect("address").port();
        let refused = Arc::new(AtomicUsize::new(0));
        let (config, counter) = (Arc::new(config), refused.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (config, counter) = (config.clone(), counter.clone());
                tokio::spawn(async move { serve(stream, port, &config, &counter).await });
            }
        });
        LambdaFront { port, refused, task }
    }

    /// The Lambda endpoint (`--endpoint-url`).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Requests the URL refused (403).
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }
}

impl Drop for LambdaFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut client: TcpStream, port: u16, config: &FrontConfig, refused: &AtomicUsize) {
    let Ok(Some((head, body))) = read_request(&mut client).await else {
        return;
    };
    let mut words = head.split_whitespace();
    let (method, path) = (words.next().unwrap_or_default(), words.next().unwrap_or("/"));
    let answer = if path.starts_with("/2015-03-31/functions/") {
        forward(&head, &body, config.invoke_port)
            .await
            .unwrap_or_else(|_| response(502, "text/plain", &[], "the local Lambda did not answer"))
    } else if let Some(name) = path
        .strip_prefix("/2021-10-31/functions/")
        .and_then(|rest| rest.split('?').next()?.strip_suffix("/url"))
    {
        url_config(name, port, config)
    } else if method == "POST" && path == "/" {
        match check_signature(&head, &body, config, SystemTime::now()) {
            Ok(signer) => run_approve(&head, &body, &signer, config).await,
            Err(_) => {
                refused.fetch_add(1, Ordering::SeqCst);
                response(403, "application/json", &[], r#"{"Message":"Forbidden"}"#)
            }
        }
    } else {
        response(404, "text/plain", &[], "not served here")
    };
    let _ = client.write_all(&answer).await;
}

/// `GetFunctionUrlConfig`: the approve function's URL, or Lambda's ResourceNotFoundException.
fn url_config(name: &str, port: u16, config: &FrontConfig) -> Vec<u8> {
    if name != config.approve_function {
        let error = json!({"Type": "User", "message": format!("Function does not exist: {name}")});
        return response(
            404,
            "application/json",
            &[("x-amzn-errortype", "ResourceNotFoundException")],
            &error.to_string(),
        );
    }
    let answer = json!({
        "FunctionUrl": format!("http://127.0.0.1:{port}/"),
        "FunctionArn": format!("arn:aws:lambda:{}:123456789012:function:{name}", config.region),
        "AuthType": "AWS_IAM",
        "CreationTime": "2026-12-07T10:00:00.000+0000",
        "LastModifiedTime": "2026-12-07T10:00:00.000+0000",
        "InvokeMode": "BUFFERED",
    });
    response(200, "application/json", &[], &answer.to_string())
}

/// The signer of a SigV4-signed request, or why it is refused.
pub fn check_signature(head: &str, body: &[u8], config: &FrontConfig, now: SystemTime) -> Result<Signer, String> {
    let authorization = header(head, "authorization").ok_or("no Authorization header")?;
    let rest = authorization
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or("not AWS4-HMAC-SHA256")?;
    let field = |name: &str| {
        rest.split(',')
            .find_map(|part| part.trim().strip_prefix(name))
            .ok_or(format!("no {name} in Authorization"))
    };
    let (credential, signed_headers, signature) =
        (field("Credential=")?, field("SignedHeaders=")?, field("Signature=")?);
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key, date, region, service, "aws4_request"] = scope.as_slice() else {
        return Err(format!("credential scope `{credential}`"));
    };
    if *service != "lambda" || *region != config.region {
        return Err(format!("signed for {service} in {region}"));
    }
    let signer = config
        .signers
        .iter()
        .find(|s| s.access_key == *access_key)
        .ok_or("unknown access key")?;
    let amz_date = header(head, "x-amz-date").ok_or("no X-Amz-Date")?;
    let signed_at = epoch_of(amz_date).ok_or("X-Amz-Date is not YYYYMMDDTHHMMSSZ")?;
    let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    if !amz_date.starts_with(date) || (now - signed_at).abs() > 300 {
        return Err(format!("signed at {amz_date}, outside 5 minutes"));
    }
    let names: Vec<&str> = signed_headers.split(';').collect();
    if !names.contains(&"host") {
        return Err("host is not signed".into());
    }
    let mut canonical_headers = String::new();
    for name in &names {
        let value = header(head, name).ok_or(format!("signed header {name} is missing"))?;
        canonical_headers.push_str(&format!(
            "{name}:{}\n",
            value.split_whitespace().collect::<Vec<_>>().join(" ")
        ));
    }
    let mut words = head.split_whitespace();
    let (method, target) = (words.next().unwrap_or_default(), words.next().unwrap_or("/"));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let canonical_request = format!(
        "{method}\n{path}\n{query}\n{canonical_headers}\n{signed_headers}\n{}",
        hex::encode(Sha256::digest(body))
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{date}/{region}/lambda/aws4_request\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = format!("AWS4{}", signer.secret).into_bytes();
    for part in [*date, *region, "lambda", "aws4_request", &string_to_sign] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
        mac.update(part.as_bytes());
        key = mac.finalize().into_bytes().to_vec();
    }
    if hex::encode(key) != signature {
        return Err("the signature does not match".into());
    }
    Ok(signer.clone())
}

/// Seconds since the epoch of `YYYYMMDDTHHMMSSZ`.
fn epoch_of(amz_date: &str) -> Option<i64> {
    let digits = |range: std::ops::Range<usize>| amz_date.get(range)?.parse::<i64>().ok();
    let (y, m, d) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (hh, mm, ss) = (digits(9..11)?, digits(11..13)?, digits(13..15)?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Runs the approve function on the request as Lambda hands it over (payload format 2.0, the
/// signer named), and answers with the function's HTTP response (502 when it failed).
async fn run_approve(head: &str, body: &[u8], signer: &Signer, config: &FrontConfig) -> Vec<u8> {
    let account = signer.arn.split(':').nth(4).unwrap_or_default();
    let event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {"content-type": header(head, "content-type").unwrap_or_default()},
        "requestContext": {
            "accountId": account,
            "apiId": "local",
            "authorizer": {"iam": {
                "accessKey": signer.access_key,
                "accountId": account,
                "callerId": "LOCAL",
                "userArn": signer.arn,
                "userId": "LOCAL",
            }},
            "domainName": "127.0.0.1",
            "http": {"method": "POST", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                     "userAgent": header(head, "user-agent").unwrap_or_default()},
            "requestId": "local",
            "routeKey": "$default",
            "stage": "$default",
        },
        "body": String::from_utf8_lossy(body),
        "isBase64Encoded": false,
    });
    let (binary, env) = (config.approve_binary.clone(), config.env.clone());
    let answer = tokio::task::spawn_blocking(move || {
        RuntimeRun::start(&binary, &env, Some(event.to_string())).answer(Duration::from_secs(120))
    })
    .await
    .ok()
    .flatten();
    let Some(FunctionAnswer::Response(answer)) = answer else {
        return response(502, "application/json", &[], r#"{"Message":"Internal Server Error"}"#);
    };
    let answer: Value = serde_json::from_str(&answer).unwrap_or_default();
    let status = answer["statusCode"].as_u64().unwrap_or(502) as u16;
    response(
        status,
        "application/json",
        &[],
        answer["body"].as_str().unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> FrontConfig {
        FrontConfig {
            invoke_port: 0,
            approve_function: "approve".into(),
            approve_binary: PathBuf::new(),
            env: Vec::new(),
            signers: vec![Signer {
                access_key: "AKID".into(),
                secret: "secret".into(),
                arn: "arn:aws:sts::123456789012:assumed-role/Approver/bob".into(),
            }],
            region: "eu-west-1".into(),
        }
    }

    /// A request as the command line sends it: signed by the library's signer.
    fn signed_request(secret: &str, region: &str, body: &str, at: SystemTime) -> String {
        let credentials = aws_credential_types::Credentials::new("AKID", secret, None, None, "test");
        let json = ("content-type", deployer::cli::JSON);
        let url = "http://127.0.0.1:9000/";
        let headers =
            deployer::aws::signed_post::signed_headers("lambda", url, json, body, &credentials, region, at).unwrap();
        let mut head = "POST / HTTP/1.1\r\nhost: 127.0.0.1:9000\r\n".to_owned();
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head + "\r\n"
    }

    #[test]
    fn the_command_lines_signature_is_checked_as_lambda_checks_it() {
        let now = SystemTime::now();
        let body = r#"{"approve":{"app":"orders","digest":"sha256:1"}}"#;
        let good = signed_request("secret", "eu-west-1", body, now);
        assert_eq!(
            check_signature(&good, body.as_bytes(), &config(), now)
                .unwrap()
                .access_key,
            "AKID"
        );
        // Another body than the one signed, another key, Region or time: refused.
        let refused = [
            check_signature(&good, b"{}", &config(), now),
            check_signature(
                &signed_request("wrong", "eu-west-1", body, now),
                body.as_bytes(),
                &config(),
                now,
            ),
            check_signature(
                &signed_request("secret", "us-east-1", body, now),
                body.as_bytes(),
                &config(),
                now,
            ),
            check_signature(&good, body.as_bytes(), &config(), now + Duration::from_secs(600)),
            check_signature("POST / HTTP/1.1\r\n\r\n", body.as_bytes(), &config(), now),
        ];
        for (i, refusal) in refused.iter().enumerate() {
            assert!(refusal.is_err(), "case {i}: {refusal:?}");
        }
    }

    #[test]
    fn dates_become_epoch_seconds() {
        assert_eq!(epoch_of("19700101T000000Z"), Some(0));
        assert_eq!(epoch_of("20261207T100000Z"), Some(1_796_637_600));
        assert_eq!(epoch_of("2026-12-07"), None);
    }
}
