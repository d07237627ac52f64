//! `eni` discovery: target groups naming an ALB by ARN; the emulator's ALB gets its interfaces
//! from [`world::AlbWorld`].

use super::*;
use deployer::job::{Invocation, Settings};
use deployer_devkit::faults::{Fault, FaultPlan, FaultProxy};
use deployer_devkit::world::AlbWorld;

fn addresses(third: u8, last: std::ops::RangeInclusive<u8>) -> Vec<Ipv4Addr> {
    last.map(|n| Ipv4Addr::new(10, 0, third, n)).collect()
}

fn config(groups: serde_json::Value) -> String {
    json!({"apps": [], "nlb": {"state_bucket": "deployer-state", "missing_runs_before_deregister": 1,
        "target_groups": groups}})
    .to_string()
}

async fn run(clients: &deployer::nlb_sync::Clients, config: &str) -> deployer::nlb_sync::Answer {
    let config = deployer::Config::parse(config, "test").unwrap();
    let request = deployer::input::events::parse_nlb_sync(&json!({"sync": {}})).unwrap();
    deployer::nlb_sync::handle(clients, &config, &request, &Settings::default(), &Invocation::local())
        .await
        .unwrap()
}

#[tokio::test]
async fn every_address_of_every_subnet_in_one_call_per_alb_and_the_alb_followed_as_it_scales() {
    let s = setup().await;
    let mut alb = AlbWorld::create(&s.kit.clients, "internal-api").await;
    // Ten addresses over two subnets: more than one DNS answer would hold.
    for ip in addresses(1, 10..=14).into_iter().chain(addresses(2, 10..=14)) {
        alb.add(ip).await;
    }
    let http = s.kit.target_group("nlb-80", 80).await;
    let config = config(json!([
        {"target_group_arn": s.tg, "alb_arn": alb.arn, "port": 443},
        {"target_group_arn": http, "alb_arn": alb.arn, "port": 80},
    ]));
    let clients = world::job_clients::<deployer::nlb_sync::NlbSync>(&s.kit.clients);
    s.emulator.start_recording();
    let answer = run(&clients, &config).await;
    let calls = s.emulator.stop_recording();
    assert_eq!(
        count_op(&calls, "DescribeNetworkInterfaces"),
        1,
        "one call serves both groups"
    );
    for report in &answer.results {
        assert_eq!(report.outcome, NlbOutcome::Synced, "{report:?}");
        assert_eq!(
            (report.addresses_found, report.registered.len(), report.dns_queries),
            (10, 10, 0)
        );
    }
    assert_eq!(s.targets().await.len(), 10);

    // The ALB scales: one address added, one gone.
    alb.add(Ipv4Addr::new(10, 0, 1, 15)).await;
    alb.remove(Ipv4Addr::new(10, 0, 2, 14)).await;
    let answer = run(&clients, &config).await;
    for report in &answer.results {
        assert_eq!(report.registered, vec!["10.0.1.15"], "{report:?}");
        assert_eq!(report.deregistered, vec!["10.0.2.14"], "{report:?}");
    }
    let expected: Vec<String> = addresses(1, 10..=15)
        .into_iter()
        .chain(addresses(2, 10..=13))
        .map(|ip| format!("{ip}:443"))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(s.targets().await, expected);
}

#[tokio::test]
async fn a_throttled_denied_or_empty_describe_changes_nothing_and_fails_the_run() {
    let s = setup().await;
    let mut alb = AlbWorld::create(&s.kit.clients, "internal-api").await;
    let all = addresses(1, 10..=12);
    for ip in &all {
        alb.add(*ip).await;
    }
    let config = config(json!([{"target_group_arn": s.tg, "alb_arn": alb.arn, "port": 443}]));
    let clients = world::job_clients::<deployer::nlb_sync::NlbSync>(&s.kit.clients);
    run(&clients, &config).await;
    let before = s.targets().await;
    assert_eq!(before.len(), 3);

    for fault in [Fault::Throttle, Fault::Denied] {
        let proxy = FaultProxy::start_with(s.emulator.port, FaultPlan::always(fault)).await;
        let ec2_config = clients.sdk_config.to_builder().endpoint_url(proxy.endpoint()).build();
        let faulty = deployer::nlb_sync::Clients {
            ec2: deployer::aws::ec2::Ec2Client::new(&ec2_config),
            ..clients.clone()
        };
        s.emulator.start_recording();
        let answer = run(&faulty, &config).await;
        let calls = s.emulator.stop_recording();
        let report = &answer.results[0];
        assert_eq!(report.outcome, NlbOutcome::DiscoveryFailed, "{fault:?}: {report:?}");
        assert!(
            report.reason.as_deref().unwrap().contains("nothing changed"),
            "{report:?}"
        );
        assert_eq!(count_writes(&calls), 0, "{fault:?}: {calls:?}");
        let err = deployer::job::settle::<deployer::nlb_sync::NlbSync>(answer).unwrap_err();
        assert_eq!(err.error_type(), "TargetsFailed");
    }
    // Every interface gone at once (an empty answer): never a reason to deregister.
    for ip in &all {
        alb.remove(*ip).await;
    }
    let report = &run(&clients, &config).await.results[0];
    assert_eq!(report.outcome, NlbOutcome::DiscoveryFailed, "{report:?}");
    assert_eq!(s.targets().await, before);
}

/// Anyone who may create a network interface can describe it as the ALB's: only the ones
/// ELB made for the ALB (requester-managed by `amazon-elb`, in one of its subnets) count.
#[tokio::test]
async fn interfaces_elb_did_not_make_for_the_alb_are_reported_and_never_registered() {
    let s = setup().await;
    let mut alb = AlbWorld::create(&s.kit.clients, "internal-api").await;
    alb.add(Ipv4Addr::new(10, 0, 1, 10)).await;
    let anyones = alb.forge(None, Ipv4Addr::new(10, 0, 1, 66), None).await;
    let rds = alb.forge(None, Ipv4Addr::new(10, 0, 2, 67), Some("amazon-rds")).await;
    // A subnet of the VPC the ALB is not in.
    let ec2 = deployer::aws::ec2::Ec2Client::new(&s.kit.clients.sdk_config);
    let late = world::create_subnet(&ec2, &s.kit.vpc, "10.0.3.0/24", None).await;
    let elsewhere = alb
        .forge(
            Some(&late),
            Ipv4Addr::new(10, 0, 3, 9),
            Some(deployer::aws::ec2::ELB_REQUESTER_ID),
        )
        .await;
    let config = config(json!([{"target_group_arn": s.tg, "alb_arn": alb.arn, "port": 443}]));
    let clients = world::job_clients::<deployer::nlb_sync::NlbSync>(&s.kit.clients);
    let report = &run(&clients, &config).await.results[0];
    assert_eq!(report.outcome, NlbOutcome::Synced, "{report:?}");
    assert_eq!(report.registered, vec!["10.0.1.10"]);
    let mut skipped: Vec<&str> = report
        .untrusted_interfaces
        .iter()
        .map(|l| l.split(':').next().unwrap())
        .collect();
    skipped.sort();
    let mut expected = vec![anyones.as_str(), rds.as_str(), elsewhere.as_str()];
    expected.sort();
    assert_eq!(skipped, expected, "{report:?}");
    assert_eq!(s.targets().await, vec!["10.0.1.10:443"]);

    // Only forged interfaces left: nothing found, nothing deregistered, the run fails.
    alb.remove(Ipv4Addr::new(10, 0, 1, 10)).await;
    let answer = run(&clients, &config).await;
    let report = &answer.results[0];
    assert_eq!(report.outcome, NlbOutcome::DiscoveryFailed, "{report:?}");
    assert!(
        report.reason.as_deref().unwrap().contains("3 others skipped"),
        "{report:?}"
    );
    assert_eq!(s.targets().await, vec!["10.0.1.10:443"]);
}

/// An ALB of another region (its ARN says which) is described in that region: its
/// interfaces are not in the function's.
#[tokio::test]
async fn an_alb_of_another_region_is_described_in_its_own_region() {
    let s = setup().await;
    let europe = deployer::AwsClients::from_sdk_config(
        &s.kit
            .clients
            .sdk_config
            .to_builder()
            .region(aws_config::Region::new("eu-west-1"))
            .build(),
    );
    world::create_vpc(&europe).await;
    let mut alb = AlbWorld::create(&europe, "eu-api").await;
    assert!(alb.arn.contains(":eu-west-1:"), "{}", alb.arn);
    let ips: Vec<Ipv4Addr> = (30..=31).map(|n| Ipv4Addr::new(10, 1, 1, n)).collect();
    for ip in &ips {
        alb.add(*ip).await;
    }
    let clients = world::job_clients::<deployer::nlb_sync::NlbSync>(&s.kit.clients);
    let config = config(json!([{"target_group_arn": s.tg, "alb_arn": alb.arn, "port": 443, "same_vpc": false}]));
    let report = &run(&clients, &config).await.results[0];
    assert_eq!(report.outcome, NlbOutcome::Synced, "{report:?}");
    assert_eq!(report.registered, vec!["10.1.1.30", "10.1.1.31"]);
    assert_eq!(clients.assumed.len(), 1, "one client for that region, kept");
}

#[tokio::test]
async fn an_alb_of_another_account_is_described_through_the_groups_role() {
    let s = setup().await;
    let role = "arn:aws:iam::111111111111:role/nlb-describe";
    let other = world::clients_as(&s.kit.clients, role).await;
    world::create_vpc(&other).await;
    let mut alb = AlbWorld::create(&other, "shared-api").await;
    assert!(alb.arn.contains(":111111111111:"), "{}", alb.arn);
    let ips: Vec<Ipv4Addr> = (20..=22).map(|n| Ipv4Addr::new(10, 1, 1, n)).collect();
    for ip in &ips {
        alb.add(*ip).await;
    }
    let clients = world::job_clients::<deployer::nlb_sync::NlbSync>(&s.kit.clients);

    // Without the role the ALB's interfaces are not in this account: nothing found, nothing changed.
    let without = config(json!([{"target_group_arn": s.tg, "alb_arn": alb.arn, "port": 443, "same_vpc": false}]));
    assert_eq!(
        run(&clients, &without).await.results[0].outcome,
        NlbOutcome::DiscoveryFailed
    );
    assert!(s.targets().await.is_empty());

    let mut with_role: serde_json::Value = serde_json::from_str(&config(json!([{"target_group_arn": s.tg,
        "alb_arn": alb.arn, "port": 443, "same_vpc": false, "role_arn": role}])))
    .unwrap();
    with_role["source_identity"] = json!(true);
    let with_role = with_role.to_string();
    s.emulator.start_recording();
    let report = &run(&clients, &with_role).await.results[0];
    let sessions: Vec<String> = s
        .emulator
        .stop_recording()
        .into_iter()
        .filter(|c| c.operation == "AssumeRole")
        .map(|c| c.body)
        .collect();
    assert_eq!(report.outcome, NlbOutcome::Synced, "{report:?}");
    assert_eq!(report.registered, vec!["10.1.1.20", "10.1.1.21", "10.1.1.22"]);
    assert!(
        sessions.len() == 1 && sessions[0].contains("SourceIdentity=ecs-deployer.nlb-sync"),
        "{sessions:?}"
    );
    // The role's client is made once per cold start and kept.
    assert_eq!(clients.assumed.len(), 1);
    run(&clients, &with_role).await;
    assert_eq!(clients.assumed.len(), 1);
}
