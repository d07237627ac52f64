//! A small DNS client over UDP: A and NS look-ups, enough to follow an ALB's addresses.
//!
//! [`wire`] encodes and decodes DNS messages (RFC 1035) and is shared with the test DNS server.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;

/// Route 53 returns at most this many A records of a larger set in one answer.
pub const ROUTE53_MAX_ANSWERS: usize = 8;
/// How long one query waits for its answer.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a look-up gave no addresses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// The name does not exist.
    #[error("{name}: NXDOMAIN")]
    NxDomain {
        /// The name asked for.
        name: String,
    },
    /// The name exists but has no A record.
    #[error("{name}: no A records in the answer")]
    Empty {
        /// The name asked for.
        name: String,
    },
    /// No server answered in time, or a server failed.
    #[error("{name}: {detail}")]
    NoAnswer {
        /// The name asked for.
        name: String,
        /// What each server did.
        detail: String,
    },
    /// The run's time for DNS was spent before this name's look-ups were done.
    #[error("{name}: the run's DNS time budget was spent after {lookups} look-ups; not resolved this run")]
    OutOfTime {
        /// The name asked for.
        name: String,
        /// Look-ups made for it before the budget ran out.
        lookups: u32,
    },
}

pub mod wire;

/// Sends one query to one server and waits for the matching answer, at most [`QUERY_TIMEOUT`].
pub async fn query(server: SocketAddr, name: &str, qtype: u16) -> Result<wire::Message, String> {
    query_until(server, name, qtype, tokio::time::Instant::now() + QUERY_TIMEOUT).await
}

/// As [`query`], waiting at most [`QUERY_TIMEOUT`] and never past `deadline`.
pub async fn query_until(
    server: SocketAddr,
    name: &str,
    qtype: u16,
    deadline: tokio::time::Instant,
) -> Result<wire::Message, String> {
    let bind: SocketAddr = if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }
        .parse()
        .expect("valid address");
    let socket = UdpSocket::bind(bind).await.map_err(|e| format!("{server}: {e}"))?;
    let query = query_bytes(name, qtype);
    let id = u16::from_be_bytes([query[0], query[1]]);
    socket
        .send_to(&query, server)
        .await
        .map_err(|e| format!("{server}: {e}"))?;
    let mut buf = [0u8; 4096];
    let deadline = deadline.min(tokio::time::Instant::now() + QUERY_TIMEOUT);
    loop {
        let received = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await;
        match received {
            Err(_) => return Err(format!("{server}: no answer in time")),
            Ok(Err(e)) => return Err(format!("{server}: {e}")),
            Ok(Ok((len, from))) if from == server => match wire::decode(&buf[..len]) {
                // Ours: a response with our id to our very question (RFC 5452, section 3).
                Some(message) if message.response && message.id == id && asks(&message, name, qtype) => {
                    return Ok(message)
                }
                _ => continue, // not ours: keep waiting
            },
            Ok(Ok(_)) => continue,
        }
    }
}

/// A query for `name` with a random id (the source port is the system's random ephemeral one):
/// an off-path sender must guess both to pass an answer off as ours.
pub fn query_bytes(name: &str, qtype: u16) -> Vec<u8> {
    let mut id = [0u8; 2];
    getrandom::getrandom(&mut id).expect("the system's random source");
    wire::query(u16::from_be_bytes(id), name, qtype)
}

/// True when `message` answers the question `name` (any case) of type `qtype`.
fn asks(message: &wire::Message, name: &str, qtype: u16) -> bool {
    message
        .question
        .as_ref()
        .is_some_and(|(asked, t)| *t == qtype && same_name(asked, name))
}

fn same_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.').eq_ignore_ascii_case(b.trim_end_matches('.'))
}

/// The A records of `message` that belong to `name`: records of `name` itself or of a name it is
/// an alias of (the CNAME records of the answer, followed from `name`); any other record in the
/// answer is not taken.
pub fn addresses_of(message: &wire::Message, name: &str) -> Vec<Ipv4Addr> {
    let mut names = vec![name.trim_end_matches('.').to_owned()];
    // At most as many hops as the answer has records: a CNAME loop ends.
    for _ in 0..message.answers.len() {
        let next = message.answers.iter().find_map(|(owner, rtype, data)| {
            let aliased = *rtype == wire::TYPE_CNAME && names.iter().any(|n| same_name(n, owner));
            let target = wire::read_name(data, 0).map(|(target, _)| target)?;
            (aliased && !names.iter().any(|n| same_name(n, &target))).then_some(target)
        });
        match next {
            Some(target) => names.push(target),
            None => break,
        }
    }
    message
        .answers
        .iter()
        .filter(|(owner, rtype, data)| {
            *rtype == wire::TYPE_A && data.len() == 4 && names.iter().any(|n| same_name(n, owner))
        })
        .map(|(_, _, d)| Ipv4Addr::new(d[0], d[1], d[2], d[3]))
        .collect()
}

/// The A records of `name`, asking `servers` in turn until one answers.
pub async fn lookup_a(servers: &[SocketAddr], name: &str) -> Result<Vec<Ipv4Addr>, DnsError> {
    let deadline = tokio::time::Instant::now() + QUERY_TIMEOUT * servers.len().max(1) as u32;
    lookup_a_from(servers, 0, name, deadline).await
}

/// As [`lookup_a`], starting with `servers[first % len]` and going round, never past
/// `deadline`: look-ups spread over the servers instead of always asking the first.
pub async fn lookup_a_from(
    servers: &[SocketAddr],
    first: usize,
    name: &str,
    deadline: tokio::time::Instant,
) -> Result<Vec<Ipv4Addr>, DnsError> {
    let mut failures = Vec::new();
    let rotated = servers
        .iter()
        .cycle()
        .skip(first % servers.len().max(1))
        .take(servers.len());
    for server in rotated {
        if tokio::time::Instant::now() >= deadline {
            failures.push(format!("{server}: not asked, out of time"));
            break;
        }
        match query_until(*server, name, wire::TYPE_A, deadline).await {
            Ok(message) if message.rcode == wire::RCODE_NXDOMAIN => {
                return Err(DnsError::NxDomain { name: name.into() })
            }
            Ok(message) if message.rcode != wire::RCODE_OK => {
                failures.push(format!("{server}: rcode {}", message.rcode))
            }
            Ok(message) => {
                let addresses = addresses_of(&message, name);
                if addresses.is_empty() {
                    return Err(DnsError::Empty { name: name.into() });
                }
                return Ok(addresses);
            }
            Err(failure) => failures.push(failure),
        }
    }
    Err(DnsError::NoAnswer {
        name: name.into(),
        detail: if failures.is_empty() {
            "no DNS server to ask".into()
        } else {
            failures.join("; ")
        },
    })
}

/// Every address of `name`: repeated look-ups (at most `max_lookups`) whose answers are united,
/// stopping early when an answer holds fewer than 8 records (then it was the whole set). Look-up
/// `i` starts with server `first + i` (round the list), and none starts after `deadline`: a name
/// not done by then is [`DnsError::OutOfTime`], never a partial set. Returns the addresses and
/// the number of look-ups made.
pub async fn resolve_all(
    servers: &[SocketAddr],
    name: &str,
    max_lookups: u32,
    first: usize,
    deadline: tokio::time::Instant,
) -> (Result<BTreeSet<Ipv4Addr>, DnsError>, u32) {
    let mut addresses = BTreeSet::new();
    let mut lookups = 0;
    while lookups < max_lookups.max(1) {
        if tokio::time::Instant::now() >= deadline {
            return (
                Err(DnsError::OutOfTime {
                    name: name.into(),
                    lookups,
                }),
                lookups,
            );
        }
        lookups += 1;
        match lookup_a_from(servers, first + lookups as usize - 1, name, deadline).await {
            Ok(answer) => {
                let complete = answer.len() < ROUTE53_MAX_ANSWERS;
                addresses.extend(answer);
                if complete {
                    break;
                }
            }
            // Out of time in the middle of a look-up: said as such, not as a server failure.
            Err(_) if tokio::time::Instant::now() >= deadline => {
                return (
                    Err(DnsError::OutOfTime {
                        name: name.into(),
                        lookups,
                    }),
                    lookups,
                )
            }
            // One failed look-up spoils the run: better no change than a partial set.
            Err(err) => return (Err(err), lookups),
        }
    }
    (Ok(addresses), lookups)
}

/// The system resolvers from `/etc/resolv.conf` (port 53).
pub fn system_resolvers() -> Vec<SocketAddr> {
    std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim().strip_prefix("nameserver"))
        .filter_map(|ip| ip.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// The zone a name lives in: its parent domain (`internal-a.eu-west-1.elb.amazonaws.com` gives
/// `eu-west-1.elb.amazonaws.com`).
pub fn zone_of(dns_name: &str) -> &str {
    dns_name.split_once('.').map_or(dns_name, |(_, parent)| parent)
}

/// The authoritative servers of the zone `dns_name` lives in (its parent domain), found through
/// `resolvers`, as the classic function does with `dig NS`: the zone's NS records, then each
/// name server's address (`port` 53 in AWS). Remembered for the answers' TTL (at most an hour)
/// across warm invocations, so a warm run asks none of these questions again: it asks only the
/// ALB's own name.
pub async fn authoritative_servers(
    resolvers: &[SocketAddr],
    dns_name: &str,
    port: u16,
) -> Result<Vec<SocketAddr>, DnsError> {
    let zone = zone_of(dns_name);
    let key = format!("{zone} via {resolvers:?} port {port}");
    let now = tokio::time::Instant::now();
    if let Some((servers, until)) = name_server_cache().lock().expect("lock").get(&key) {
        if *until > now {
            return Ok(servers.clone());
        }
    }
    let (servers, ttl) = ask_name_servers(resolvers, zone, port).await?;
    let keep = Duration::from_secs(u64::from(ttl).min(NAME_SERVER_CACHE_MAX.as_secs()));
    if !keep.is_zero() {
        name_server_cache()
            .lock()
            .expect("lock")
            .insert(key, (servers.clone(), now + keep));
    }
    Ok(servers)
}

/// The longest the name servers of a zone are remembered, whatever their TTL.
pub const NAME_SERVER_CACHE_MAX: Duration = Duration::from_secs(3600);

type NameServerCache = std::sync::Mutex<std::collections::HashMap<String, (Vec<SocketAddr>, tokio::time::Instant)>>;

fn name_server_cache() -> &'static NameServerCache {
    static CACHE: std::sync::OnceLock<NameServerCache> = std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The zone's name servers and the smallest TTL of the answers that named them.
async fn ask_name_servers(resolvers: &[SocketAddr], zone: &str, port: u16) -> Result<(Vec<SocketAddr>, u32), DnsError> {
    let mut failures = Vec::new();
    for resolver in resolvers {
        match query(*resolver, zone, wire::TYPE_NS).await {
            Ok(message) => {
                let mut servers = Vec::new();
                let mut ttl = message.min_ttl.unwrap_or(0);
                for (_, rtype, data) in &message.answers {
                    if *rtype != wire::TYPE_NS {
                        continue;
                    }
                    let Some((host, _)) = wire::read_name(data, 0) else {
                        continue;
                    };
                    // A name server whose address did not come (SERVFAIL, empty: a cold resolver)
                    // is left out; its missing TTL does not keep the others from being remembered.
                    if let Ok(answer) = query(*resolver, &host, wire::TYPE_A).await {
                        let addresses: Vec<SocketAddr> = answer
                            .answers
                            .iter()
                            .filter(|(_, rtype, data)| *rtype == wire::TYPE_A && data.len() == 4)
                            .map(|(_, _, d)| SocketAddr::new(Ipv4Addr::new(d[0], d[1], d[2], d[3]).into(), port))
                            .collect();
                        if let (false, Some(answer_ttl)) = (addresses.is_empty(), answer.min_ttl) {
                            ttl = ttl.min(answer_ttl);
                            servers.extend(addresses);
                        }
                    }
                }
                if !servers.is_empty() {
                    return Ok((servers, ttl));
                }
                failures.push(format!("{resolver}: no NS records for {zone}"));
            }
            Err(failure) => failures.push(failure),
        }
    }
    Err(DnsError::NoAnswer {
        name: zone.into(),
        detail: if failures.is_empty() {
            "no system resolver in /etc/resolv.conf".into()
        } else {
            failures.join("; ")
        },
    })
}

#[cfg(test)]
mod tests {
    use super::wire::*;

    #[test]
    fn a_query_and_its_answer_round_trip() {
        let query_bytes = query(0x1234, "internal-api.elb.amazonaws.com", TYPE_A);
        let request = decode(&query_bytes).unwrap();
        assert_eq!(
            request.question,
            Some(("internal-api.elb.amazonaws.com".into(), TYPE_A))
        );
        assert!(!request.response);
        let records = vec![(TYPE_A, vec![10, 0, 1, 5]), (TYPE_A, vec![10, 0, 2, 6])];
        let answer = decode(&response(&request, RCODE_OK, &records, 60)).unwrap();
        assert!(answer.response);
        assert_eq!(answer.id, 0x1234);
        assert_eq!(answer.answers.len(), 2);
        assert_eq!(
            answer.answers[1],
            ("internal-api.elb.amazonaws.com".into(), TYPE_A, vec![10, 0, 2, 6])
        );
        let nx = decode(&response(&request, RCODE_NXDOMAIN, &[], 60)).unwrap();
        assert_eq!(nx.rcode, RCODE_NXDOMAIN);
    }

    #[test]
    fn ns_names_are_expanded_and_garbage_is_refused() {
        let request = decode(&query(1, "elb.amazonaws.com", TYPE_NS)).unwrap();
        let answer = decode(&response(
            &request,
            RCODE_OK,
            &[(TYPE_NS, name_bytes("ns-1.awsdns-01.org"))],
            60,
        ))
        .unwrap();
        assert_eq!(read_name(&answer.answers[0].2, 0).unwrap().0, "ns-1.awsdns-01.org");
        assert_eq!(decode(&[0, 1, 2]), None);
        let mut looped = query(1, "a", TYPE_A);
        looped[12] = 0xc0;
        looped[13] = 12; // a pointer to itself
        assert_eq!(decode(&looped), None);
    }
}
