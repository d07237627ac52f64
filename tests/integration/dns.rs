//! The DNS client against a real DNS server on loopback that misbehaves: it takes only an answer
//! to its own question, only the records of the name it asked (and of the names that name is an
//! alias of), and a fresh random query id each time.

use std::net::Ipv4Addr;

use deployer::aws::dns::{self, wire, DnsError};
use deployer_devkit::dns::{Answer, DnsServer};

const ALB: &str = "internal-api-123.ap-northeast-1.elb.amazonaws.com";

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 1, last)
}

#[tokio::test]
async fn an_answer_to_another_question_is_not_taken() {
    let server = DnsServer::start();
    // The server answers our query with the question (and records) of another name: a reply to
    // someone else's query, or a forgery. It is not ours, so the client waits and gives up.
    server.set(ALB, Answer::OtherQuestion("evil.example.com".into(), vec![ip(66)]));
    let found = dns::lookup_a(&[server.addr], ALB).await;
    assert!(
        matches!(&found, Err(DnsError::NoAnswer { detail, .. }) if detail.contains("no answer in time")),
        "{found:?}"
    );
}

#[tokio::test]
async fn records_of_other_names_in_an_answer_are_not_taken() {
    let server = DnsServer::start();
    server.set(
        ALB,
        Answer::WithStrangers(vec![ip(5), ip(6)], vec![("evil.example.com".into(), ip(66))]),
    );
    let found = dns::lookup_a(&[server.addr], ALB).await.unwrap();
    assert_eq!(found, vec![ip(5), ip(6)]);
    // Only strangers: the name has no address.
    server.set(
        ALB,
        Answer::WithStrangers(Vec::new(), vec![("evil.example.com".into(), ip(66))]),
    );
    let found = dns::lookup_a(&[server.addr], ALB).await;
    assert!(matches!(found, Err(DnsError::Empty { .. })), "{found:?}");
}

#[tokio::test]
async fn an_alias_is_followed_to_its_addresses() {
    let server = DnsServer::start();
    server.set("api.internal.example.com", Answer::Alias(ALB.into()));
    server.set(ALB, Answer::Addresses(vec![ip(7)]));
    let found = dns::lookup_a(&[server.addr], "api.internal.example.com").await.unwrap();
    assert_eq!(found, vec![ip(7)]);
}

#[test]
fn query_ids_are_random() {
    // 64 queries of one name: ids from the system's random source, not from the name and the
    // clock (which repeat within a clock tick and can be guessed).
    let ids: std::collections::BTreeSet<u16> = (0..64)
        .map(|_| wire::decode(&dns::query_bytes(ALB, wire::TYPE_A)).unwrap().id)
        .collect();
    assert!(ids.len() > 56, "{} distinct ids of 64", ids.len());
}
