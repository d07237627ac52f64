//! A real DNS server on loopback for the tests: it speaks the wire protocol over UDP (using the
//! library's encoder), answers A queries from a table that tests change as they go, and, like
//! Route 53, returns at most 8 records of a larger set, rotating through it.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use deployer::aws::dns::wire;

/// What the server answers for a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// These A records (8 at a time when there are more).
    Addresses(Vec<Ipv4Addr>),
    /// NOERROR with no record.
    Empty,
    /// NXDOMAIN.
    NxDomain,
    /// SERVFAIL.
    ServerFailure,
    /// No answer at all (the query times out).
    Silent,
    /// NS records naming these hosts (a zone's name servers).
    NameServers(Vec<String>),
    /// A CNAME to this name, then that name's A records (as the table says).
    Alias(String),
    /// These A records, and beside them records of other names (`(owner, address)`): what a
    /// forged or poisoned answer carries.
    WithStrangers(Vec<Ipv4Addr>, Vec<(String, Ipv4Addr)>),
    /// These A records in a response to another question (this name): an answer not ours.
    OtherQuestion(String, Vec<Ipv4Addr>),
}

/// The running server; stopped on drop.
pub struct DnsServer {
    /// Where it listens (`127.0.0.1:PORT`).
    pub addr: SocketAddr,
    table: Arc<Mutex<HashMap<String, Answer>>>,
    queries: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DnsServer {
    /// Starts a server on a free loopback UDP port.
    pub fn start() -> DnsServer {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("a loopback UDP port");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let addr = socket.local_addr().expect("address");
        let table: Arc<Mutex<HashMap<String, Answer>>> = Arc::default();
        let queries = Arc::new(AtomicU32::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (table, queries, stop) = (table.clone(), queries.clone(), stop.clone());
            std::thread::spawn(move || serve(socket, table, queries, stop))
        };
        DnsServer {
            addr,
            table,
            queries,
            stop,
            thread: Some(thread),
        }
    }

    /// Sets what `name` answers from now on.
    pub fn set(&self, name: &str, answer: Answer) {
        self.table
            .lock()
            .unwrap()
            .insert(name.trim_end_matches('.').to_ascii_lowercase(), answer);
    }

    /// Queries received so far.
    pub fn queries(&self) -> u32 {
        self.queries.load(Ordering::SeqCst)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    socket: UdpSocket,
    table: Arc<Mutex<HashMap<String, Answer>>>,
    queries: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
) {
    let mut buf = [0u8; 1500];
    let mut rotation = 0usize;
    while !stop.load(Ordering::SeqCst) {
        let Ok((len, peer)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let Some(request) = wire::decode(&buf[..len]) else {
            continue;
        };
        queries.fetch_add(1, Ordering::SeqCst);
        let name = request
            .question
            .as_ref()
            .map(|(n, _)| n.to_ascii_lowercase())
            .unwrap_or_default();
        let answer = table.lock().unwrap().get(&name).cloned().unwrap_or(Answer::NxDomain);
        let a_record = |owner: &str, address: &Ipv4Addr| (owner.to_owned(), wire::TYPE_A, address.octets().to_vec());
        let reply = match answer {
            Answer::Alias(target) => {
                let mut records = vec![(name.clone(), wire::TYPE_CNAME, wire::name_bytes(&target))];
                if let Some(Answer::Addresses(addresses)) = table.lock().unwrap().get(&target) {
                    records.extend(addresses.iter().map(|a| a_record(&target, a)));
                }
                wire::response_named(&request, &records, 60)
            }
            Answer::WithStrangers(own, strangers) => {
                let mut records: Vec<_> = own.iter().map(|a| a_record(&name, a)).collect();
                records.extend(strangers.iter().map(|(owner, a)| a_record(owner, a)));
                wire::response_named(&request, &records, 60)
            }
            Answer::OtherQuestion(other, addresses) => {
                let mut forged = request.clone();
                forged.question = forged.question.map(|(_, qtype)| (other.clone(), qtype));
                let records: Vec<_> = addresses.iter().map(|a| a_record(&other, a)).collect();
                wire::response_named(&forged, &records, 60)
            }
            Answer::Silent => continue,
            Answer::NxDomain => wire::response(&request, wire::RCODE_NXDOMAIN, &[], 60),
            Answer::ServerFailure => wire::response(&request, wire::RCODE_SERVFAIL, &[], 60),
            Answer::Empty => wire::response(&request, wire::RCODE_OK, &[], 60),
            Answer::NameServers(hosts) => {
                let records: Vec<(u16, Vec<u8>)> = hosts.iter().map(|h| (wire::TYPE_NS, wire::name_bytes(h))).collect();
                wire::response(&request, wire::RCODE_OK, &records, 60)
            }
            Answer::Addresses(addresses) => {
                let shown = deployer::aws::dns::ROUTE53_MAX_ANSWERS.min(addresses.len());
                let records: Vec<(u16, Vec<u8>)> = (0..shown)
                    .map(|i| addresses[(rotation + i) % addresses.len()])
                    .map(|a| (wire::TYPE_A, a.octets().to_vec()))
                    .collect();
                rotation = rotation.wrapping_add(3);
                wire::response(&request, wire::RCODE_OK, &records, 60)
            }
        };
        let _ = socket.send_to(&reply, peer);
    }
}
