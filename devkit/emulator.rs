//! The moto server, one per test, forked from a zygote that imported moto once, and its
//! request recorder.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use base64::Engine;
use deployer::AwsClients;

use crate::host::{log_path, owns_listener, stat_fields};

mod calls;
mod zygote;
pub use crate::host::{free_port, repo_root};
pub use calls::*;

/// Region every test and the demo use.
pub const REGION: &str = "ap-northeast-1";
/// Account moto answers for.
pub const ACCOUNT: &str = "123456789012";

/// Where the emulators keep the ledger of AWS calls each function made
/// (`<function>.<pid>-<port>.txt`, lines of `service<TAB>operation`).
pub fn calls_dir() -> PathBuf {
    repo_root().join("target/aws-calls")
}

/// A running moto server; stopped on drop.
pub struct Emulator {
    /// The server's process (a child of the zygote, not of this process).
    pid: u32,
    /// Loopback port it listens on.
    pub port: u16,
    recording: PathBuf,
    /// It answered on `port` as itself (else there is nothing of its own to harvest).
    serving: bool,
}

/// CPU time (user + system) a process has used so far, from `/proc/<pid>/stat`.
pub fn cpu_time(pid: u32) -> Duration {
    let fields = stat_fields(pid);
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name; 100 ticks a second.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

impl Emulator {
    /// Starts moto's server from the project's `.venv` (made by `scripts/setup.sh`) on a free
    /// loopback port and waits until it answers. It runs through `devkit/moto_server.py`, which
    /// takes out moto's quadratic cost of sending to a long SQS queue (see there).
    pub fn start() -> Emulator {
        for _attempt in 0..5 {
            if let Some(emulator) = Emulator::start_on(free_port()) {
                return emulator;
            }
        }
        panic!("moto_server did not start on loopback");
    }

    /// Starts moto's server on `port`: `None` when it did not come to listen there itself
    /// (the port was taken, by another test's emulator say, which this never takes for its own).
    pub fn start_on(port: u16) -> Option<Emulator> {
        // Named by this process and a count, never by a port another emulator may hold.
        static STARTED: AtomicU32 = AtomicU32::new(0);
        let name = format!("{}-{}", std::process::id(), STARTED.fetch_add(1, Ordering::Relaxed));
        let recording = std::env::temp_dir().join(format!("moto-recording-{name}"));
        let _ = std::fs::remove_file(&recording);
        let log = log_path(&format!("moto-{port}-{name}.log"));
        let pid = zygote::fork_server(port, &recording, &log);
        let mut emulator = Emulator {
            pid,
            port,
            recording,
            serving: false,
        };
        emulator.serving = emulator.wait_ready(Duration::from_secs(30));
        if !emulator.serving {
            return None; // dropped: stopped, with nothing to harvest
        }
        // Always on: every function call is kept for the IAM check (see `harvest`).
        emulator.post("/moto-api/recorder/start-recording");
        Some(emulator)
    }

    /// Kills the server and waits (a few seconds at most) until it is gone: the zygote reaps it.
    fn stop(&self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.pid.to_string()])
            .stderr(Stdio::null())
            .status();
        let start = Instant::now();
        while self.alive() && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the server's process still exists (the zygote reaps it as it ends: no zombie).
    fn alive(&self) -> bool {
        Path::new(&format!("/proc/{}", self.pid)).exists()
    }

    fn wait_ready(&mut self, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if !self.alive() {
                return false; // exited: the port was taken, say
            }
            // Answering is not enough: until this server fails to bind a port another test's
            // emulator took, that emulator answers (see `owns_listener`).
            if self
                .http("GET", "/moto-api/data.json", "")
                .is_ok_and(|(status, _)| status == 200)
                && owns_listener(self.pid, self.port)
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// CPU time the emulator process has used so far.
    pub fn cpu_time(&self) -> Duration {
        cpu_time(self.pid)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SDK configuration pointing at the emulator with static test credentials.
    pub async fn sdk_config(&self) -> SdkConfig {
        sdk_config_for(&self.endpoint()).await
    }

    /// The deployer's client set pointing at the emulator.
    pub async fn clients(&self) -> AwsClients {
        AwsClients::from_sdk_config(&self.sdk_config().await)
    }

    /// Environment variables that point a function process at the emulator.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.endpoint()),
            ("AWS_REGION".into(), REGION.into()),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ]
    }

    /// Clears every resource and the recording.
    pub fn reset(&self) {
        self.post("/moto-api/reset");
        self.harvest();
        self.post("/moto-api/recorder/reset-recording");
    }

    /// Starts a fresh recording of requests (the emulator records from its start).
    pub fn start_recording(&self) {
        self.harvest();
        self.post("/moto-api/recorder/reset-recording");
    }

    /// The calls recorded since [`Emulator::start_recording`] (recording goes on).
    pub fn stop_recording(&self) -> Vec<Call> {
        self.recorded()
    }

    fn recorded(&self) -> Vec<Call> {
        // Under load the download can fail (an error page instead of the recording) or meet an
        // entry still being written: asked again, a few times, before the test fails.
        let mut last = String::new();
        for _ in 0..5 {
            let (status, body) = self
                .http("GET", "/moto-api/recorder/download-recording", "")
                .expect("recording downloads");
            // moto appends entries from its request threads; under load two may share a line, so
            // the body is read as a stream of JSON values, not one value per line.
            let entries: Result<Vec<serde_json::Value>, _> = serde_json::Deserializer::from_str(&body)
                .into_iter::<serde_json::Value>()
                .collect();
            match entries {
                Ok(entries) if status == 200 => return entries.into_iter().map(Call::from_recorded).collect(),
                _ => last = format!("HTTP {status}: {}", body.chars().take(200).collect::<String>()),
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("the emulator's recording did not download as JSON values: {last}");
    }

    /// Adds the calls the deployer's functions made (their user agent names them) to the ledger
    /// in `target/aws-calls/`, one file per function and emulator, before the recording is cleared.
    /// The IAM test (`tests/integration/iam_policy.rs`) checks the template against the ledger.
    fn harvest(&self) {
        let mut by_function: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for call in self.recorded() {
            if let Some(function) = call.function.clone() {
                by_function.entry(function).or_default().insert(format!(
                    "{}\t{}",
                    call.service,
                    ledger_operation(&call)
                ));
            }
        }
        let dir = calls_dir();
        for (function, calls) in by_function {
            let _ = std::fs::create_dir_all(&dir);
            let path = dir.join(format!("{function}.{}-{}.txt", std::process::id(), self.port));
            let mut known: BTreeSet<String> = std::fs::read_to_string(&path)
                .unwrap_or_default()
                .lines()
                .map(str::to_owned)
                .collect();
            known.extend(calls);
            let text: String = known.into_iter().map(|line| line + "\n").collect();
            std::fs::write(&path, text).expect("the call ledger is writable");
        }
    }

    /// Moves the newest service deployment of `cluster`/`service` (in the test account and
    /// region) as ECS would: `set` holds the fields it takes (`status`, `lifecycleStage`,
    /// `lifecycleHookDetails`, `rollback`, ...), through the stand-in's own operation
    /// (`devkit/ecs_deployments.py`). Returns the service deployment as it is then.
    pub fn set_service_deployment(&self, cluster: &str, service: &str, set: serde_json::Value) -> serde_json::Value {
        let body = serde_json::json!({"cluster": cluster, "service": service, "set": set}).to_string();
        let headers = format!(
            "X-Amz-Target: AmazonEC2ContainerServiceV20141113.DevkitSetServiceDeployment\r\n\
             Content-Type: application/x-amz-json-1.1\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/ecs/aws4_request, SignedHeaders=host, Signature=0\r\n"
        );
        let (status, answer) = self
            .http_with("POST", "/", &headers, &body)
            .expect("the stand-in answers");
        assert!(status < 300, "DevkitSetServiceDeployment answered {status}: {answer}");
        serde_json::from_str(&answer).expect("a service deployment")
    }

    fn post(&self, path: &str) {
        let (status, body) = self
            .http("POST", path, "")
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        assert!(status < 300, "POST {path} answered {status}: {body}");
    }

    /// A minimal HTTP/1.1 exchange with the emulator's own API.
    fn http(&self, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
        self.http_with(method, path, "", body)
    }

    /// [`Emulator::http`] with more header lines (each ending in CRLF).
    fn http_with(&self, method: &str, path: &str, headers: &str, body: &str) -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = match text.split_once("\r\n\r\n") {
            Some((head, rest)) if head.to_ascii_lowercase().contains("transfer-encoding: chunked") => dechunk(rest),
            Some((_, rest)) => rest.to_owned(),
            None => String::new(),
        };
        Ok((status, body))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if self.serving && !std::thread::panicking() {
            self.harvest();
        }
        self.stop();
        let _ = std::fs::remove_file(&self.recording);
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || tail.len() < size {
            break;
        }
        out.push_str(&tail[..size]);
        rest = tail[size..].trim_start_matches("\r\n");
    }
    out
}

/// SDK configuration for an endpoint, with static test credentials and the test region.
pub async fn sdk_config_for(endpoint: &str) -> SdkConfig {
    let credentials = aws_sdk_ecs::config::Credentials::new("testing", "testing", None, None, "devkit");
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(deployer::aws::https_client())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(credentials)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(deployer::aws::MAX_ATTEMPTS))
        .load()
        .await
}
