//! `nlb-sync` against the AWS emulator (ELB, S3) and a real DNS server on loopback.

use std::net::Ipv4Addr;

use deployer::nlb_sync::Outcome as NlbOutcome;
use deployer_devkit::dns::{Answer, DnsServer};
use deployer_devkit::emulator::{count_op, count_writes};
use deployer_devkit::world::{self, invoke_nlb_sync, target_ips, World, ALB_DNS_NAME};
use deployer_devkit::Emulator;
use serde_json::json;

struct Setup {
    emulator: Emulator,
    kit: World,
    dns: DnsServer,
    tg: String,
}

async fn setup() -> Setup {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_bucket(&kit.clients, "deployer-state").await;
    let tg = kit.target_group("nlb-443", 443).await;
    Setup {
        emulator,
        kit,
        dns: DnsServer::start(),
        tg,
    }
}

fn ips(last: &[u8]) -> Vec<Ipv4Addr> {
    last.iter().map(|n| Ipv4Addr::new(10, 0, 1, *n)).collect()
}

fn targets(last: &[u8], port: i32) -> Vec<String> {
    let mut all: Vec<String> = last.iter().map(|n| format!("10.0.1.{n}:{port}")).collect();
    all.sort();
    all
}

impl Setup {
    fn config(&self, extra: serde_json::Value) -> String {
        let mut nlb = json!({
            "state_bucket": "deployer-state",
            "dns_servers": [self.dns.addr.to_string()],
            "target_groups": [{"target_group_arn": self.tg, "alb_dns_name": ALB_DNS_NAME, "port": 443}],
        });
        for (key, value) in extra.as_object().unwrap() {
            nlb[key] = value.clone();
        }
        json!({"apps": [], "nlb": nlb}).to_string()
    }

    async fn run_with(&self, config: &str) -> deployer::nlb_sync::Report {
        let response = invoke_nlb_sync(&self.kit.clients, config, &json!({"sync": {}}))
            .await
            .unwrap();
        response.results.into_iter().next().unwrap()
    }

    async fn run(&self) -> deployer::nlb_sync::Report {
        self.run_with(&self.config(json!({}))).await
    }

    async fn targets(&self) -> Vec<String> {
        target_ips(&self.kit.clients, &self.tg).await
    }
}

#[tokio::test]
async fn the_first_run_registers_all_and_a_quiet_run_makes_two_reads() {
    let s = setup().await;
    s.dns.set(ALB_DNS_NAME, Answer::Addresses(ips(&[10, 20])));
    let first = s.run().await;
    assert_eq!(first.outcome, NlbOutcome::Synced, "{first:?}");
    assert_eq!(s.targets().await, targets(&[10, 20], 443));

    s.emulator.start_recording();
    let quiet = s.run().await;
    let calls = s.emulator.stop_recording();
    assert_eq!(quiet.outcome, NlbOutcome::Unchanged, "{quiet:?}");
    assert_eq!(count_writes(&calls), 0, "{calls:?}");
    assert_eq!(calls.len(), 2, "state read and target health only: {calls:?}");
    assert_eq!(quiet.dns_queries, 1);
}

#[tokio::test]
async fn a_replaced_address_is_deregistered_exactly_at_the_configured_run_and_never_again() {
    let s = setup().await;
    s.dns.set(ALB_DNS_NAME, Answer::Addresses(ips(&[10, 20])));
    s.run().await;
    s.dns.set(ALB_DNS_NAME, Answer::Addresses(ips(&[10, 30])));

    s.emulator.start_recording();
    let run1 = s.run().await;
    assert_eq!(run1.registered, vec!["10.0.1.30"]);
    assert!(run1.deregistered.is_empty());
    let run2 = s.run().await;
    assert!(run2.deregistered.is_empty(), "{run2:?}");
    assert_eq!(s.targets().await, targets(&[10, 20, 30], 443));
    let run3 = s.run().await;
    assert_eq!(run3.deregistered, vec!["10.0.1.20"], "default: missing for 3 runs");
    let run4 = s.run().await;
    let run5 = s.run().await;
    let calls = s.emulator.stop_recording();
    assert_eq!(
        (run4.outcome, run5.outcome),
        (NlbOutcome::Unchanged, NlbOutcome::Unchanged)
    );
    assert_eq!(count_op(&calls, "DeregisterTargets"), 1);
    assert_eq!(s.targets().await, targets(&[10, 30], 443));

    // An address that comes back is registered again.
    s.dns.set(ALB_DNS_NAME, Answer::Addresses(ips(&[10, 20, 30])));
    assert_eq!(s.run().await.registered, vec!["10.0.1.20"]);
}

#[tokio::test]
async fn empty_nxdomain_failing_and_silent_dns_change_nothing() {
    let s = setup().await;
    s.dns.set(ALB_DNS_NAME, Answer::Addresses(ips(&[10, 20])));
    s.run().await;
    let config = s.config(json!({"missing_runs_before_deregister": 1}));
    s.emulator.start_recording();
    for answer in [Answer::Empty, Answer::NxDomain, Answer::ServerFailure, Answer::Silent] {
        s.dns.set(ALB_DNS_NAME, answer.clone());
        for _ in 0..2 {
            let result = s.run_with(&config).await;
            assert_eq!(result.outcome, NlbOutcome::DnsFailed, "{answer:?}: {result:?}");
            assert!(result.reason.as_deref().unwrap().contains("nothing changed"));
        }
    }
    // A server that is down: nothing listens on the port.
    let down = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut config: serde_json::Value = serde_json::from_str(&config).unwrap();
    config["nlb"]["dns_servers"] = json!([down.to_string()]);
    let result = s.run_with(&config.to_string()).await;
    assert_eq!(result.outcome, NlbOutcome::DnsFailed, "{result:?}");
    assert_eq!(
        s.emulator.stop_recording(),
        vec![],
        "a failed look-up makes no AWS call"
    );
    assert_eq!(s.targets().await, targets(&[10, 20], 443));
}

#[tokio::test]
async fn corrupt_state_is_rebuilt_without_deregistering() {
    let s = setup().await;
    s.dns.set(ALB_DNS_NAME, Answer::Addresses(ips(&[10, 20])));
    s.run().await;
    let key = deployer::nlb_sync::state::state_key("nlb-sync/", &s.tg, ALB_DNS_NAME, 443);
    s.kit
        .clients
        .s3
        .put_object()
        .bucket("deployer-state")
        .key(&key)
        .body(b"{not json".to_vec().into())
        .send()
        .await
        .unwrap();
    s.dns.set(ALB_DNS_NAME, Answer::Addresses(ips(&[10])));
    let result = s
        .run_with(&s.config(json!({"missing_runs_before_deregister": 1})))
        .await;
    assert!(
        result.reason.as_deref().unwrap_or_default().contains("state rebuilt"),
        "{result:?}"
    );
    assert!(result.deregistered.is_empty());
    assert_eq!(
        s.targets().await,
        targets(&[10, 20], 443),
        "20 is unknown after the rebuild: left alone"
    );
    let stored = deployer::nlb_sync::state::read(&s.kit.clients.s3, "deployer-state", &key)
        .await
        .unwrap();
    assert!(
        matches!(stored, deployer::nlb_sync::state::Stored::Found(..)),
        "{stored:?}"
    );
}

#[tokio::test]
async fn more_than_eight_addresses_answered_eight_at_a_time_converge() {
    let s = setup().await;
    let all: Vec<u8> = (1..=13).collect();
    s.dns.set(ALB_DNS_NAME, Answer::Addresses(ips(&all)));
    let result = s.run().await;
    assert_eq!(result.addresses_found, 13, "{result:?}");
    assert!(result.dns_queries > 1 && result.dns_queries <= 50);
    assert_eq!(s.targets().await, targets(&all, 443));
}

#[tokio::test]
async fn port_80_and_443_groups_of_one_alb_keep_separate_state() {
    let s = setup().await;
    let http = s.kit.target_group("nlb-80", 80).await;
    s.dns.set(ALB_DNS_NAME, Answer::Addresses(ips(&[10, 20])));
    let mut config: serde_json::Value = serde_json::from_str(&s.config(json!({}))).unwrap();
    config["nlb"]["target_groups"]
        .as_array_mut()
        .unwrap()
        .push(json!({"target_group_arn": http, "alb_dns_name": ALB_DNS_NAME, "port": 80}));
    let config = config.to_string();
    let response = invoke_nlb_sync(&s.kit.clients, &config, &json!({"sync": {}}))
        .await
        .unwrap();
    assert!(
        response.results.iter().all(|r| r.outcome == NlbOutcome::Synced),
        "{response:?}"
    );
    assert_eq!(s.targets().await, targets(&[10, 20], 443));
    assert_eq!(target_ips(&s.kit.clients, &http).await, targets(&[10, 20], 80));
    let objects = s
        .kit
        .clients
        .s3
        .list_objects_v2()
        .bucket("deployer-state")
        .send()
        .await
        .unwrap();
    assert_eq!(objects.contents().len(), 2);

    // Only the port 80 group, by a manual payload.
    s.dns.set(ALB_DNS_NAME, Answer::Addresses(ips(&[10, 20, 30])));
    let only = invoke_nlb_sync(&s.kit.clients, &config, &json!({"sync": {"target_groups": [http]}}))
        .await
        .unwrap();
    assert_eq!(only.results.len(), 1);
    assert_eq!(target_ips(&s.kit.clients, &http).await, targets(&[10, 20, 30], 80));
    assert_eq!(s.targets().await, targets(&[10, 20], 443));
}

#[tokio::test]
async fn the_share_limit_holds_when_most_addresses_vanish() {
    let s = setup().await;
    s.dns.set(ALB_DNS_NAME, Answer::Addresses(ips(&[1, 2, 3, 4])));
    let config = s.config(json!({"missing_runs_before_deregister": 1, "max_deregister_share": 0.5}));
    s.run_with(&config).await;
    s.dns.set(ALB_DNS_NAME, Answer::Addresses(ips(&[9])));
    let first = s.run_with(&config).await;
    // 4 targets present: at most 2 go in this run, the other two wait.
    assert_eq!(first.deregistered, vec!["10.0.1.1", "10.0.1.2"], "{first:?}");
    assert_eq!(first.held_back.len(), 2);
    // Then 3 present (3, 4 and the new 9): one more; then 2 present: the last.
    let second = s.run_with(&config).await;
    assert_eq!(
        (second.deregistered.len(), second.held_back.len()),
        (1, 1),
        "{second:?}"
    );
    let third = s.run_with(&config).await;
    assert_eq!(third.deregistered.len(), 1, "{third:?}");
    assert_eq!(s.targets().await, targets(&[9], 443));
}

#[tokio::test]
async fn targets_it_did_not_register_are_left_alone_unless_told() {
    let s = setup().await;
    deployer::aws::elb::register(&s.kit.clients.elb, &s.tg, &ips(&[99]), 443, false)
        .await
        .unwrap();
    s.dns.set(ALB_DNS_NAME, Answer::Addresses(ips(&[10])));
    let config = s.config(json!({"missing_runs_before_deregister": 1}));
    for _ in 0..3 {
        assert!(s.run_with(&config).await.deregistered.is_empty());
    }
    assert_eq!(s.targets().await, targets(&[10, 99], 443));
    let told = s.config(json!({"missing_runs_before_deregister": 1, "remove_untracked": true}));
    assert_eq!(s.run_with(&told).await.deregistered, vec!["10.0.1.99"]);
    assert_eq!(s.targets().await, targets(&[10], 443));
}

#[tokio::test]
async fn alb_type_groups_are_skipped_and_bad_input_makes_no_call() {
    let s = setup().await;
    let alb_group = s
        .kit
        .target_group_of_type(
            "to-alb",
            443,
            aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum::Alb,
        )
        .await;
    s.dns.set(ALB_DNS_NAME, Answer::Addresses(ips(&[10])));
    let mut config: serde_json::Value = serde_json::from_str(&s.config(json!({}))).unwrap();
    config["nlb"]["target_groups"][0]["target_group_arn"] = json!(alb_group);
    let result = s.run_with(&config.to_string()).await;
    assert_eq!(result.outcome, NlbOutcome::Skipped, "{result:?}");

    s.emulator.start_recording();
    for (bad, path) in [
        (s.config(json!({"max_deregister_share": 0})), "nlb.max_deregister_share"),
        (s.config(json!({"dns_servers": ["localhost"]})), "nlb.dns_servers[0]"),
        (s.config(json!({"lookups_per_run": "many"})), "nlb.lookups_per_run"),
    ] {
        let err = invoke_nlb_sync(&s.kit.clients, &bad, &json!({"sync": {}}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains(path), "{err}");
    }
    // No `nlb` section (a stack that does not use nlb-sync): the every-minute run is `ignored`,
    // not a failure (no alarm, nothing in the failure queue), and calls nothing; a payload
    // naming target groups is still refused.
    let none = json!({"apps": []}).to_string();
    let answer = invoke_nlb_sync(&s.kit.clients, &none, &json!({"sync": {}}))
        .await
        .unwrap();
    assert_eq!(answer.results[0].outcome, NlbOutcome::Ignored, "{answer:?}");
    let err = invoke_nlb_sync(
        &s.kit.clients,
        &none,
        &json!({"sync": {"target_groups": ["arn:aws:elasticloadbalancing:r:1:targetgroup/x/y"]}}),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("`nlb`"), "{err}");
    for (payload, field) in [
        (json!({"sync": {"target_groups": ["tg"]}}), "sync.target_groups[0]"),
        (
            json!({"sync": {"target_groups": ["arn:aws:elasticloadbalancing:r:1:targetgroup/x/y"]}}),
            "sync.target_groups[0]",
        ),
        (
            json!({"detail-type": "ECR Image Action", "source": "aws.ecr", "id": "1", "detail": {}}),
            "detail-type",
        ),
    ] {
        let err = invoke_nlb_sync(&s.kit.clients, &s.config(json!({})), &payload)
            .await
            .unwrap_err();
        assert!(err.to_string().contains(&format!("`{field}`")), "{payload}: {err}");
    }
    assert_eq!(s.emulator.stop_recording(), vec![]);
}

#[tokio::test]
async fn look_ups_go_round_the_configured_servers() {
    let s = setup().await;
    let second = DnsServer::start();
    // Twelve addresses: more than one answer of eight, so a run makes several look-ups.
    let all: Vec<u8> = (1..=12).collect();
    for server in [&s.dns, &second] {
        server.set(ALB_DNS_NAME, Answer::Addresses(ips(&all)));
    }
    let config =
        s.config(json!({"dns_servers": [s.dns.addr.to_string(), second.addr.to_string()], "lookups_per_run": 4}));
    let result = s.run_with(&config).await;
    assert_eq!(result.outcome, NlbOutcome::Synced, "{result:?}");
    assert_eq!(result.dns_queries, 4);
    assert_eq!(
        (s.dns.queries(), second.queries()),
        (2, 2),
        "both servers share the look-ups"
    );

    // The first server goes silent: every look-up still gets its answer from the other one.
    s.dns.set(ALB_DNS_NAME, Answer::Silent);
    let result = s.run_with(&config).await;
    assert!(
        matches!(result.outcome, NlbOutcome::Synced | NlbOutcome::Unchanged),
        "{result:?}"
    );
    assert_eq!(result.dns_queries, 4);
}

#[tokio::test]
async fn slow_servers_and_many_groups_end_inside_the_budget_and_say_what_they_skipped() {
    let s = setup().await;
    let mut groups = Vec::new();
    for i in 0..6 {
        let tg = s.kit.target_group(&format!("nlb-slow-{i}"), 443).await;
        groups.push(json!({"target_group_arn": tg, "alb_dns_name": ALB_DNS_NAME, "port": 443}));
    }
    s.dns.set(ALB_DNS_NAME, Answer::Silent);
    let config = s.config(json!({"target_groups": groups, "dns_budget_seconds": 1}));
    let started = std::time::Instant::now();
    let answer = invoke_nlb_sync(&s.kit.clients, &config, &json!({"sync": {}}))
        .await
        .unwrap();
    let took = started.elapsed();
    // One look-up may still be waiting for its 2 s answer when the budget ends; never more.
    assert!(took < std::time::Duration::from_secs(4), "took {took:?}");
    let skipped: Vec<_> = answer
        .results
        .iter()
        .filter(|r| r.outcome == NlbOutcome::Skipped)
        .collect();
    assert!(!skipped.is_empty(), "{answer:?}");
    assert!(
        skipped[0].reason.as_deref().unwrap().contains("DNS time budget"),
        "{:?}",
        skipped[0]
    );
    assert!(answer
        .results
        .iter()
        .all(|r| matches!(r.outcome, NlbOutcome::Skipped | NlbOutcome::DnsFailed)));
}

mod eni;

#[tokio::test]
async fn a_warm_run_finds_the_zones_name_servers_without_asking_again() {
    use deployer::aws::dns;
    let server = DnsServer::start();
    server.set(
        dns::zone_of(ALB_DNS_NAME),
        Answer::NameServers(vec!["ns-1.awsdns-01.example".into(), "ns-2.awsdns-02.example".into()]),
    );
    for host in ["ns-1.awsdns-01.example", "ns-2.awsdns-02.example"] {
        server.set(host, Answer::Addresses(vec![Ipv4Addr::LOCALHOST]));
    }
    server.set(ALB_DNS_NAME, Answer::Addresses(ips(&[10, 20])));
    // The test server plays the resolver and both name servers (on its own port, not 53).
    let resolvers = [server.addr];
    let deadline = || tokio::time::Instant::now() + std::time::Duration::from_secs(10);

    let servers = dns::authoritative_servers(&resolvers, ALB_DNS_NAME, server.addr.port())
        .await
        .unwrap();
    assert_eq!(servers, vec![server.addr, server.addr]);
    let (found, _) = dns::resolve_all(&servers, ALB_DNS_NAME, 50, 0, deadline()).await;
    assert_eq!(found.unwrap().len(), 2);
    let cold = server.queries();
    assert_eq!(
        cold, 4,
        "cold: the zone's NS, an address for each name server, then the ALB"
    );

    let servers = dns::authoritative_servers(&resolvers, ALB_DNS_NAME, server.addr.port())
        .await
        .unwrap();
    let (found, _) = dns::resolve_all(&servers, ALB_DNS_NAME, 50, 0, deadline()).await;
    assert_eq!(found.unwrap().len(), 2);
    assert_eq!(server.queries() - cold, 1, "warm: only the ALB's name");
}

/// A resolver's cold cache may fail one name server's address (SERVFAIL): the cold run still
/// remembers the others, so the first warm run asks only the ALB's name.
#[tokio::test]
async fn a_name_server_whose_address_failed_does_not_keep_the_others_from_being_remembered() {
    use deployer::aws::dns;
    const NAME: &str = "internal-cold-123.eu-central-1.elb.amazonaws.com";
    let server = DnsServer::start();
    server.set(
        dns::zone_of(NAME),
        Answer::NameServers(vec!["ns-3.awsdns-03.example".into(), "ns-4.awsdns-04.example".into()]),
    );
    server.set("ns-3.awsdns-03.example", Answer::Addresses(vec![Ipv4Addr::LOCALHOST]));
    server.set("ns-4.awsdns-04.example", Answer::ServerFailure);
    server.set(NAME, Answer::Addresses(ips(&[30])));
    let resolvers = [server.addr];
    let servers = dns::authoritative_servers(&resolvers, NAME, server.addr.port())
        .await
        .unwrap();
    assert_eq!(servers, vec![server.addr], "the name server that answered");
    let cold = server.queries();
    assert_eq!(cold, 3, "cold: the zone's NS and each name server's address");
    let again = dns::authoritative_servers(&resolvers, NAME, server.addr.port())
        .await
        .unwrap();
    assert_eq!(again, servers);
    assert_eq!(server.queries(), cold, "warm: remembered, nothing asked");
}

/// No `state_bucket` and no stack state bucket (`DEPLOYER_STATE_BUCKET`): refused, naming the
/// field, before any call.
#[tokio::test]
async fn an_nlb_without_a_state_bucket_needs_the_stacks() {
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    let config = json!({"apps": [], "nlb": {"target_groups": [{
        "target_group_arn": "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:targetgroup/nlb-443/abc",
        "alb_dns_name": ALB_DNS_NAME, "port": 443}]}});
    emulator.start_recording();
    let err = invoke_nlb_sync(&kit.clients, &config.to_string(), &json!({"sync": {}}))
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("nlb.state_bucket"), "{err}");
    assert_eq!(emulator.stop_recording(), vec![], "no call");
}
