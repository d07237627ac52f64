//! The proxy's HTTP plumbing: reading a request, naming its operation and signer, forwarding it,
//! writing an answer, resetting a connection.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Closes with a TCP reset (linger 0) instead of an orderly close. (Deprecated in tokio because a
/// non-zero linger blocks on drop; a zero linger does not.)
#[allow(deprecated)]
pub(crate) fn reset(client: TcpStream) {
    let _ = client.set_linger(Some(Duration::ZERO));
    drop(client);
}

/// The request head (up to the blank line) and its body (by Content-Length or chunked).
pub(crate) async fn read_request(client: &mut TcpStream) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = client.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let mut body = raw[head_end..].to_vec();
    if let Some(length) = header(&head, "content-length").and_then(|v| v.parse::<usize>().ok()) {
        while body.len() < length {
            let n = client.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buf[..n]);
        }
    } else if header(&head, "transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        while !body.ends_with(b"0\r\n\r\n") {
            let n = client.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buf[..n]);
        }
    }
    Ok(Some((head, body)))
}

/// The ECS action of a request (`X-Amz-Target: AmazonEC2ContainerServiceV20141113.<Action>`).
/// A request's operation: the JSON target's action, a query request's `Action`, or for S3
/// (REST) `S3 <method>`.
pub(crate) fn operation_of(head: &str, body: &[u8]) -> String {
    if let Some(target) = header(head, "x-amz-target") {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    let body = String::from_utf8_lossy(body);
    if let Some(action) = body.split('&').find_map(|pair| pair.strip_prefix("Action=")) {
        return action.to_owned();
    }
    format!("S3 {}", head.split(' ').next().unwrap_or_default())
}

pub(crate) fn ecs_operation(head: &str) -> Option<String> {
    header(head, "x-amz-target")?
        .strip_prefix("AmazonEC2ContainerServiceV20141113.")
        .map(str::to_owned)
}

/// The access key and Region a request was signed with (`Credential=KEY/DATE/REGION/...`).
pub(crate) fn signer_of(head: &str) -> (String, String) {
    let scope: Vec<&str> = header(head, "authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .map(|c| c.split('/').collect())
        .unwrap_or_default();
    (
        scope.first().copied().unwrap_or_default().to_owned(),
        scope.get(2).copied().unwrap_or_default().to_owned(),
    )
}

pub(crate) fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Sends the request to the emulator on a connection of its own and returns the whole answer.
pub(crate) async fn forward(head: &str, body: &[u8], upstream: u16) -> std::io::Result<Vec<u8>> {
    let mut server = TcpStream::connect(("127.0.0.1", upstream)).await?;
    // One request per connection: ask the emulator to close, so the answer ends at EOF.
    let mut lines: Vec<&str> = head
        .trim_end_matches("\r\n")
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    lines.push("Connection: close");
    let mut request = lines.join("\r\n").into_bytes();
    request.extend_from_slice(b"\r\n\r\n");
    request.extend_from_slice(body);
    server.write_all(&request).await?;
    let mut answer = Vec::new();
    server.read_to_end(&mut answer).await?;
    Ok(answer)
}

/// An HTTP/1.1 answer that closes the connection.
pub(crate) fn response(status: u16, content_type: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let reason = match status {
        400 => "Bad Request",
        200 => "OK",
        403 => "Forbidden",
        404 => "Not Found",
        502 => "Bad Gateway",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Service Unavailable",
    };
    let mut text = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    text.into_bytes()
}
