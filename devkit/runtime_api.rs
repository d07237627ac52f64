//! A minimal Lambda Runtime API on loopback, for measuring a function binary as Lambda runs it:
//! how long from process start until it asks for its first event (cold start), and how much
//! memory one invocation takes. It serves `GET /2018-06-01/runtime/invocation/next` (the given
//! event, once) and takes `POST .../response` or `.../error`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What the function sent back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FunctionAnswer {
    /// `POST .../response` with this body.
    Response(String),
    /// `POST .../error` with this body.
    Error(String),
}

enum Seen {
    Next,
    FunctionAnswer(FunctionAnswer),
}

/// One function process served by its own Runtime API.
pub struct RuntimeRun {
    child: Child,
    seen: mpsc::Receiver<Seen>,
    started: Instant,
}

impl RuntimeRun {
    /// Starts `binary` with `env` and a Runtime API that hands it `event` (if any) on its first
    /// request for work.
    pub fn start(binary: &Path, env: &[(String, String)], event: Option<String>) -> RuntimeRun {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().expect("address").port();
        let (tx, seen) = mpsc::channel();
        std::thread::spawn(move || {
            let mut event = event;
            for stream in listener.incoming().flatten() {
                let tx = tx.clone();
                let event = event.take();
                std::thread::spawn(move || serve(stream, event, tx));
            }
        });
        let started = Instant::now();
        let child = Command::new(binary)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
            .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the function binary starts");
        RuntimeRun { child, seen, started }
    }

    /// Time from process start until the first request for an event.
    pub fn until_first_next(&self, limit: Duration) -> Option<Duration> {
        loop {
            match self.seen.recv_timeout(limit).ok()? {
                Seen::Next => return Some(self.started.elapsed()),
                Seen::FunctionAnswer(_) => continue,
            }
        }
    }

    /// The function's answer to the event.
    pub fn answer(&self, limit: Duration) -> Option<FunctionAnswer> {
        loop {
            match self.seen.recv_timeout(limit).ok()? {
                Seen::FunctionAnswer(answer) => return Some(answer),
                Seen::Next => continue,
            }
        }
    }

    /// Peak resident memory so far (VmHWM), in bytes.
    pub fn peak_memory(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }
}

impl Drop for RuntimeRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One keep-alive connection of the runtime client.
fn serve(stream: TcpStream, mut event: Option<String>, tx: mpsc::Sender<Seen>) {
    let mut writer = stream.try_clone().expect("stream clones");
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.trim().eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or_default().to_owned();
        if path.ends_with("/invocation/next") {
            let _ = tx.send(Seen::Next);
            let Some(payload) = event.take() else {
                // No (more) work: hold the request, as Lambda does between invocations.
                std::thread::sleep(Duration::from_secs(3600));
                return;
            };
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() + 60_000)
                .unwrap_or(0);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Lambda-Runtime-Aws-Request-Id: bench-1\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\n\
                 Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:ap-northeast-1:123456789012:function:bench\r\n\
                 Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000\r\n\r\n",
                payload.len()
            );
            let _ = writer.write_all(head.as_bytes());
            let _ = writer.write_all(payload.as_bytes());
        } else {
            let text = String::from_utf8_lossy(&body).into_owned();
            let answer = if path.ends_with("/error") {
                FunctionAnswer::Error(text)
            } else {
                FunctionAnswer::Response(text)
            };
            let _ = writer.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}");
            let _ = tx.send(Seen::FunctionAnswer(answer));
        }
    }
}

/// Median of durations (the upper middle one for an even count).
pub fn median(mut values: Vec<Duration>) -> Option<Duration> {
    values.sort();
    values.get(values.len() / 2).copied()
}
