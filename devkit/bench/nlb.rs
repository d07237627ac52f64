//! nlb-sync: a run over many target groups, and the DNS and `eni` modes side by side.

use super::*;

/// `bench nlb`.
pub async fn nlb(rows: &mut Rows) {
    // nlb-sync: NLB_GROUPS target groups, each following its own ALB name.
    {
        let emulator = Emulator::start();
        let kit = World::new(&emulator).await;
        world::create_bucket(&kit.clients, "deployer-state").await;
        let dns = DnsServer::start();
        let mut groups = Vec::new();
        for i in 0..NLB_GROUPS {
            let arn = kit.target_group(&format!("nlb-{i:02}"), 443).await;
            let alb = format!("internal-api-{i:02}.ap-northeast-1.elb.amazonaws.com");
            let addresses = (0..3u8)
                .map(|n| std::net::Ipv4Addr::new(10, 0, 1 + i as u8, 10 + n))
                .collect();
            dns.set(&alb, Answer::Addresses(addresses));
            groups.push(serde_json::json!({"target_group_arn": arn, "alb_dns_name": alb, "port": 443}));
        }
        let config = serde_json::json!({"apps": [], "nlb": {
        "state_bucket": "deployer-state", "dns_servers": [dns.addr.to_string()], "target_groups": groups}});
        let config = Config::parse(&config.to_string(), "bench").unwrap();
        let request = NlbSyncRequest {
            target_groups: None,
            dry_run: false,
        };
        let (clients, settings) = (job_clients::<nlb_sync::NlbSync>(&kit.clients), Settings::default());
        for label in ["first run (registers all)", "nothing to change"] {
            let queries_before = dns.queries();
            let start = Instant::now();
            let (calls, response) = recorded(&emulator, || {
                nlb_sync::handle(&clients, &config, &request, &settings, &LOCAL)
            })
            .await;
            let elapsed = start.elapsed();
            let response = response.unwrap();
            let ok = response
                .results
                .iter()
                .filter(|r| matches!(r.outcome, NlbOutcome::Synced | NlbOutcome::Unchanged))
                .count();
            rows.push((
                format!("nlb-sync of {NLB_GROUPS} target groups, {label}"),
                format!("{:.2} s", elapsed.as_secs_f64()),
                format!(
                    "{ok}/{NLB_GROUPS} ok, {} AWS calls ({:.1} per group, {} writes), {} DNS queries: {}",
                    calls.len(),
                    calls.len() as f64 / NLB_GROUPS as f64,
                    count_writes(&calls),
                    dns.queries() - queries_before,
                    distinct_ops(&calls)
                ),
            ));
        }
        // Cold start and peak memory of the nlb-sync binary over the same groups.
        let mut env = emulator.env();
        env.push(("DEPLOYER_CONFIG".into(), serde_json::to_string(&config).unwrap()));
        let scheduled: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(repo_root().join("events/scheduled.json")).unwrap()).unwrap();
        measure_function(
            rows,
            "nlb-sync",
            &env,
            &scheduled,
            &format!("a scheduled run over {NLB_GROUPS} groups"),
        );
    }
}

/// `bench nlb-modes`.
pub async fn nlb_modes(rows: &mut Rows) {
    // Steady state of the two discovery modes: NLB_GROUPS target groups over NLB_GROUPS / 2
    // ALBs (a port 80 and a port 443 group each), three addresses an ALB.
    let emulator = Emulator::start();
    let kit = World::new(&emulator).await;
    world::create_bucket(&kit.clients, "deployer-state").await;
    let dns = DnsServer::start();
    let (mut eni_groups, mut dns_groups) = (Vec::new(), Vec::new());
    for i in 0..NLB_GROUPS / 2 {
        let mut alb = world::AlbWorld::create(&kit.clients, &format!("internal-{i:02}")).await;
        let name = format!("internal-{i:02}.ap-northeast-1.elb.amazonaws.com");
        let addresses: Vec<std::net::Ipv4Addr> = (0..3u8)
            .map(|n| std::net::Ipv4Addr::new(10, 0, 1 + (n % 2), 10 * (i as u8 + 1) + n))
            .collect();
        for ip in &addresses {
            alb.add(*ip).await;
        }
        dns.set(&name, Answer::Addresses(addresses));
        for port in [80, 443] {
            let arn = kit.target_group(&format!("nlb-{i:02}-{port}"), port).await;
            eni_groups.push(serde_json::json!({"target_group_arn": arn, "alb_arn": alb.arn, "port": port}));
            dns_groups.push(serde_json::json!({"target_group_arn": arn, "alb_dns_name": name, "port": port}));
        }
    }
    let clients = job_clients::<nlb_sync::NlbSync>(&kit.clients);
    let settings = Settings::default();
    let request = NlbSyncRequest {
        target_groups: None,
        dry_run: false,
    };
    for (mode, groups) in [("eni", eni_groups), ("dns", dns_groups)] {
        let config = serde_json::json!({"apps": [], "nlb": {"state_bucket": "deployer-state",
            "dns_servers": [dns.addr.to_string()], "target_groups": groups}});
        let config = Config::parse(&config.to_string(), "bench").unwrap();
        // The first run registers (or, for the second mode, finds all registered); the
        // second is the steady state measured.
        nlb_sync::handle(&clients, &config, &request, &settings, &LOCAL)
            .await
            .unwrap();
        let queries_before = dns.queries();
        let (calls, response) = recorded(&emulator, || {
            nlb_sync::handle(&clients, &config, &request, &settings, &LOCAL)
        })
        .await;
        let unchanged = response
            .unwrap()
            .results
            .iter()
            .filter(|r| r.outcome == NlbOutcome::Unchanged)
            .count();
        rows.push((
            format!(
                "nlb-sync steady state, {mode} discovery, {NLB_GROUPS} groups over {} ALBs",
                NLB_GROUPS / 2
            ),
            format!("{} AWS calls", calls.len()),
            format!(
                "{unchanged}/{NLB_GROUPS} unchanged, {:.1} per group, {} writes, {} DNS queries: {}",
                calls.len() as f64 / NLB_GROUPS as f64,
                count_writes(&calls),
                dns.queries() - queries_before,
                distinct_ops(&calls)
            ),
        ));
    }
    drop(emulator);
}
