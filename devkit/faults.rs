//! A fault-injecting HTTP proxy on loopback, between the functions and the AWS emulator. At a
//! set rate it answers a request with a throttling error in the shape of the request's AWS
//! protocol, with HTTP 500 or 503, resets the connection, or delays it; some faults strike after
//! the emulator has carried the request out (the write happened, the answer is lost), which is
//! what makes retries dangerous for calls that create things.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

mod put_events;

use crate::ecs_throttle::EcsThrottle;

mod http;
mod protocol;

use http::{ecs_operation, operation_of, reset, signer_of};
pub(crate) use http::{forward, header, read_request, response};
use protocol::Protocol;

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// Throttling, as the protocol reports it (JSON `ThrottlingException`, query `Throttling`,
    /// API Gateway 429 `TooManyRequestsException`, S3 503 `SlowDown`); not carried out.
    Throttle,
    /// HTTP 500; not carried out.
    ServerError,
    /// HTTP 503; not carried out.
    Unavailable,
    /// Connection reset before the request reaches the emulator.
    ResetBefore,
    /// Answer held back 50-300 ms, then forwarded.
    Delay,
    /// Carried out by the emulator, then answered with HTTP 500.
    ServerErrorAfter,
    /// Carried out by the emulator, then the connection is reset.
    ResetAfter,
    /// Refused as IAM refuses a call the role may not make (HTTP 403; EC2's
    /// `UnauthorizedOperation` for query requests); not carried out. Never drawn by
    /// [`FaultPlan::any`]: a denied call does not heal by retrying.
    Denied,
    /// ECR's refusal to move a tag in a repository whose tags are immutable (JSON
    /// `ImageTagAlreadyExistsException`, which the emulator does not send); not carried out.
    /// Never drawn by [`FaultPlan::any`].
    ImmutableTag,
    /// ECS's refusal of a request about a resource it will not serve (JSON `ClientException`),
    /// such as describing an INACTIVE revision; not carried out. Never drawn by
    /// [`FaultPlan::any`].
    ClientException,
    /// EventBridge's partial failure: a `PutEvents` whose last entry is refused
    /// (`InternalFailure` in the answer's entries, `FailedEntryCount` 1) while the others are
    /// carried out; other requests are forwarded untouched. Never drawn by [`FaultPlan::any`].
    RefuseLastEvent,
    /// ECR's refusal of a tag past its 1,000 tags an image (JSON `LimitExceededException`);
    /// not carried out. Never drawn by [`FaultPlan::any`].
    TagLimit,
    /// An endpoint without the operation (JSON `UnknownOperationException`): a partition or an
    /// endpoint without ECS's service deployments API. Never drawn by [`FaultPlan::any`].
    UnknownOperation,
}

impl Fault {
    /// Position in [`Fault::ALL`] (and in the counters).
    fn index(self) -> usize {
        Fault::ALL
            .iter()
            .position(|f| *f == self)
            .expect("every kind is in ALL")
    }

    /// Every kind, in the order the proxy draws from.
    pub const ALL: [Fault; 13] = [
        Fault::Throttle,
        Fault::ServerError,
        Fault::Unavailable,
        Fault::ResetBefore,
        Fault::Delay,
        Fault::ServerErrorAfter,
        Fault::ResetAfter,
        Fault::Denied,
        Fault::ImmutableTag,
        Fault::ClientException,
        Fault::RefuseLastEvent,
        Fault::TagLimit,
        Fault::UnknownOperation,
    ];

    /// The kinds a retry or a later run recovers from (all but [`Fault::Denied`]).
    pub const TRANSIENT: [Fault; 7] = [
        Fault::Throttle,
        Fault::ServerError,
        Fault::Unavailable,
        Fault::ResetBefore,
        Fault::Delay,
        Fault::ServerErrorAfter,
        Fault::ResetAfter,
    ];
}

/// Counts of what the proxy did.
#[derive(Debug, Default)]
pub struct FaultStats {
    /// Requests seen.
    pub requests: AtomicUsize,
    faults: [AtomicUsize; Fault::ALL.len()],
    forwarded: Mutex<std::collections::BTreeMap<String, Reached>>,
}

/// How often one operation reached the emulator, and when first and last.
#[derive(Debug, Clone, Copy)]
struct Reached {
    count: usize,
    first: std::time::Instant,
    last: std::time::Instant,
}

impl FaultStats {
    /// How many requests got `fault`.
    pub fn count(&self, fault: Fault) -> usize {
        self.faults[fault.index()].load(Ordering::Relaxed)
    }

    /// Faulted requests in all.
    pub fn faulted(&self) -> usize {
        Fault::ALL.iter().map(|f| self.count(*f)).sum()
    }

    /// Requests that reached the emulator, per operation (`RegisterTaskDefinition`; for
    /// S3, the method): a write whose answer was lost or faulted after counts, as it reached.
    pub fn forwarded(&self, operation: &str) -> usize {
        self.forwarded.lock().unwrap().get(operation).map_or(0, |r| r.count)
    }

    /// When `operation` first and last reached the emulator.
    pub fn span(&self, operation: &str) -> Option<(std::time::Instant, std::time::Instant)> {
        self.forwarded.lock().unwrap().get(operation).map(|r| (r.first, r.last))
    }

    /// Requests that reached the emulator, in all.
    pub fn forwarded_total(&self) -> usize {
        self.forwarded.lock().unwrap().values().map(|r| r.count).sum()
    }

    /// The operations that reached the emulator most, `operation=count`, for messages.
    pub fn forwarded_summary(&self, top: usize) -> String {
        let mut counts: Vec<(String, usize)> = self
            .forwarded
            .lock()
            .unwrap()
            .iter()
            .map(|(op, r)| (op.clone(), r.count))
            .collect();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let shown: Vec<String> = counts.iter().take(top).map(|(op, n)| format!("{op}={n}")).collect();
        shown.join(" ")
    }

    fn reached(&self, operation: String) {
        let now = std::time::Instant::now();
        let mut forwarded = self.forwarded.lock().unwrap();
        let reached = forwarded.entry(operation).or_insert(Reached {
            count: 0,
            first: now,
            last: now,
        });
        reached.count += 1;
        reached.last = now;
    }

    /// `kind=count` for each kind, for messages.
    pub fn summary(&self) -> String {
        let kinds: Vec<String> = Fault::ALL.iter().map(|f| format!("{f:?}={}", self.count(*f))).collect();
        format!(
            "{} requests, {} faulted ({})",
            self.requests.load(Ordering::Relaxed),
            self.faulted(),
            kinds.join(" ")
        )
    }
}

/// What to fault.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    /// Share of the eligible requests faulted (0-1).
    pub rate: f64,
    /// Seed of the draws, so a failing run can be repeated.
    pub seed: u64,
    /// Kinds drawn from.
    pub kinds: Vec<Fault>,
    /// Only requests whose request line, `X-Amz-Target` or body (a query protocol's
    /// `Action=...`) contains this are eligible.
    pub only: Option<String>,
}

impl FaultPlan {
    /// Every transient kind, on every request, at `rate`.
    pub fn any(rate: f64, seed: u64) -> Self {
        Self {
            rate,
            seed,
            kinds: Fault::TRANSIENT.to_vec(),
            only: None,
        }
    }

    /// Every request faulted with `kind`.
    pub fn always(kind: Fault) -> Self {
        Self {
            rate: 1.0,
            seed: 1,
            kinds: vec![kind],
            only: None,
        }
    }
}

/// The running proxy; stopped on drop.
pub struct FaultProxy {
    /// Loopback port clients connect to.
    pub port: u16,
    /// What it did so far.
    pub stats: Arc<FaultStats>,
    rate: Arc<Mutex<f64>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Proxies `127.0.0.1:PORT` to `127.0.0.1:upstream`, faulting `rate` (0-1) of the requests
    /// with any kind of fault, drawn from a generator seeded with `seed`.
    pub async fn start(upstream: u16, rate: f64, seed: u64) -> FaultProxy {
        Self::start_with(upstream, FaultPlan::any(rate, seed)).await
    }

    /// Proxies to `127.0.0.1:upstream` following `plan`.
    pub async fn start_with(upstream: u16, plan: FaultPlan) -> FaultProxy {
        Self::start_throttled(upstream, plan, None).await
    }

    /// As [`FaultProxy::start_with`], with ECS's request throttling played in front of the
    /// emulator when `throttle` is given (see [`EcsThrottle`]): a request its bucket refuses is
    /// answered `ThrottlingException`, before any fault is drawn.
    pub async fn start_throttled(upstream: u16, plan: FaultPlan, throttle: Option<Arc<EcsThrottle>>) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let port = listener.local_addr().expect("address").port();
        let stats = Arc::new(FaultStats::default());
        let rate = Arc::new(Mutex::new(plan.rate));
        let random = Arc::new(Mutex::new(plan.seed | 1));
        let plan = Arc::new(plan);
        let task = {
            let (stats, rate) = (stats.clone(), rate.clone());
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    let (stats, rate, random, plan) = (stats.clone(), rate.clone(), random.clone(), plan.clone());
                    let throttle = throttle.clone();
                    tokio::spawn(async move {
                        let _ = serve(client, upstream, &stats, &rate, &random, &plan, throttle.as_deref()).await;
                    });
                }
            })
        };
        FaultProxy {
            port,
            stats,
            rate,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Changes the fault rate (0 turns faults off).
    pub fn set_rate(&self, rate: f64) {
        *self.rate.lock().unwrap() = rate;
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// xorshift64*: enough randomness for fault draws, and repeatable from a seed.
fn next(random: &Mutex<u64>) -> u64 {
    let mut state = random.lock().unwrap();
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// One request per connection: read it whole, then fault it or forward it.
async fn serve(
    mut client: TcpStream,
    upstream: u16,
    stats: &FaultStats,
    rate: &Mutex<f64>,
    random: &Mutex<u64>,
    plan: &FaultPlan,
    throttle: Option<&EcsThrottle>,
) -> std::io::Result<()> {
    let Some((head, body)) = read_request(&mut client).await? else {
        return Ok(());
    };
    stats.requests.fetch_add(1, Ordering::Relaxed);
    if let (Some(throttle), Some(operation)) = (throttle, ecs_operation(&head)) {
        let (access_key, region) = signer_of(&head);
        if !throttle.take(&access_key, &region, &operation) {
            return client.write_all(&Protocol::Json.throttle()).await;
        }
    }
    let eligible = plan.only.as_deref().is_none_or(|only| {
        head.lines().next().is_some_and(|line| line.contains(only))
            || header(&head, "x-amz-target").is_some_and(|t| t.contains(only))
            || String::from_utf8_lossy(&body).contains(only)
    });
    // Only eligible requests draw, so a narrow plan's draws do not depend on other traffic.
    let fault = if eligible && !plan.kinds.is_empty() {
        let draw = (next(random) % 1_000_000) as f64 / 1_000_000.0;
        (draw < *rate.lock().unwrap()).then(|| plan.kinds[(next(random) % plan.kinds.len() as u64) as usize])
    } else {
        None
    };
    if let Some(fault) = fault {
        stats.faults[fault.index()].fetch_add(1, Ordering::Relaxed);
    }
    let protocol = Protocol::of(&head);
    let reaches = matches!(
        fault,
        None | Some(Fault::Delay | Fault::ServerErrorAfter | Fault::ResetAfter | Fault::RefuseLastEvent)
    );
    if reaches {
        stats.reached(operation_of(&head, &body));
    }
    match fault {
        Some(Fault::Throttle) => client.write_all(&protocol.throttle()).await?,
        Some(Fault::Denied) => client.write_all(&protocol.denied()).await?,
        Some(Fault::ClientException) => {
            let body = r#"{"__type":"ClientException","message":"Unable to describe task definition."}"#;
            client
                .write_all(&response(400, "application/x-amz-json-1.1", &[], body))
                .await?
        }
        Some(Fault::TagLimit) => {
            let body = r#"{"__type":"LimitExceededException","message":"The operation did not succeed because it would have exceeded a service limit for your account."}"#;
            client
                .write_all(&response(400, "application/x-amz-json-1.1", &[], body))
                .await?
        }
        Some(Fault::UnknownOperation) => {
            let body = r#"{"__type":"UnknownOperationException","message":"Unknown operation"}"#;
            client
                .write_all(&response(400, "application/x-amz-json-1.1", &[], body))
                .await?
        }
        Some(Fault::ImmutableTag) => {
            let body = r#"{"__type":"ImageTagAlreadyExistsException","message":"The image tag already exists in the repository, which is configured for tag immutability"}"#;
            client
                .write_all(&response(400, "application/x-amz-json-1.1", &[], body))
                .await?
        }
        Some(Fault::RefuseLastEvent) => {
            client
                .write_all(&refuse_last_event(&head, &body, upstream).await?)
                .await?
        }
        Some(Fault::ServerError) => client.write_all(&protocol.error(500)).await?,
        Some(Fault::Unavailable) => client.write_all(&protocol.error(503)).await?,
        Some(Fault::ResetBefore) => reset(client),
        Some(Fault::ServerErrorAfter) => {
            forward(&head, &body, upstream).await?;
            client.write_all(&protocol.error(500)).await?;
        }
        Some(Fault::ResetAfter) => {
            forward(&head, &body, upstream).await?;
            reset(client);
        }
        Some(Fault::Delay) => {
            tokio::time::sleep(Duration::from_millis(50 + next(random) % 250)).await;
            let answer = forward(&head, &body, upstream).await?;
            client.write_all(&answer).await?;
        }
        None => {
            let answer = forward(&head, &body, upstream).await?;
            client.write_all(&answer).await?;
        }
    }
    Ok(())
}

/// Forwards a `PutEvents` without its last entry and answers as AWS does when it refused that
/// entry; any other request is forwarded as it is.
async fn refuse_last_event(head: &str, body: &[u8], upstream: u16) -> std::io::Result<Vec<u8>> {
    let Some((sent, kept)) = put_events::without_last_entry(body) else {
        return forward(head, body, upstream).await;
    };
    let carried = if kept > 0 {
        Some(forward(&put_events::with_length(head, sent.len()), &sent, upstream).await?)
    } else {
        None
    };
    let answer = put_events::answer_with_last_refused(carried.as_deref().and_then(put_events::body_of));
    Ok(response(200, "application/x-amz-json-1.1", &[], &answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_are_told_apart_by_their_requests() {
        let json = "POST / HTTP/1.1\r\nX-Amz-Target: AmazonEC2ContainerServiceV20141113.UpdateService\r\n\r\n";
        let query = "POST / HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n";
        let rest_json = "GET /v2/apis/a1/routes HTTP/1.1\r\n\r\n";
        let rest_xml = "PUT /bucket/key HTTP/1.1\r\n\r\n";
        assert_eq!(Protocol::of(json), Protocol::Json);
        assert_eq!(Protocol::of(query), Protocol::Query);
        assert_eq!(Protocol::of(rest_json), Protocol::RestJson);
        assert_eq!(Protocol::of(rest_xml), Protocol::RestXml);
        let throttle = String::from_utf8(Protocol::RestJson.throttle()).unwrap();
        assert!(throttle.starts_with("HTTP/1.1 429") && throttle.contains("TooManyRequestsException"));
    }
}
