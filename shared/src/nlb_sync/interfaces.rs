//! `eni` discovery: the ALB's addresses from its network interfaces, trusting only the ones
//! Elastic Load Balancing made for it. Anyone who may create an interface can give it the ALB's
//! description (`ELB app/<name>/<id>`), so the description only finds candidates: an interface
//! counts when it is requester-managed by `amazon-elb`, in the ALB's VPC and one of its
//! subnets, with every address inside that subnet's range. Anything else is reported and
//! skipped, never registered.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use futures::stream::{self, StreamExt};

use super::{Clients, NAME, SOURCE_IDENTITY};
use crate::aws::ec2::{self, Interface, Ipv4Range, ELB_REQUESTER_ID};
use crate::aws::elb::{self, Placement};
use crate::aws::{self, AwsError};
use crate::input::config::{Discovery, TargetGroupConfig};

/// The ALB and role an `eni` group is described through.
pub(crate) type AlbKey = (String, Option<String>);

/// How an ALB is reached: the role (if any), the region, and whether the role's sessions carry
/// a source identity.
pub type ReachKey = (Option<String>, String, bool);

/// What one ALB's interfaces gave: the trusted addresses, and a line per interface skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlbAddresses {
    /// Addresses of the interfaces ELB made for the ALB.
    pub addresses: BTreeSet<Ipv4Addr>,
    /// `eni-...: why it was not trusted`, one per interface described as the ALB's but skipped.
    pub untrusted: Vec<String>,
}

/// The EC2 and ELB clients of one (role, region).
#[derive(Debug, Clone)]
pub struct AlbClients {
    /// Network interfaces and subnets.
    pub ec2: crate::aws::ec2::Ec2Client,
    /// The ALB's placement.
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
}

/// The ALB and role an `eni` group is described through.
pub(crate) fn alb_key(group: &TargetGroupConfig) -> AlbKey {
    (group.alb_arn.clone().unwrap_or_default(), group.role_arn.clone())
}

/// Keeps the addresses of the interfaces ELB made for the ALB at `placement` (whose subnets
/// have `ranges`); says why each other interface was skipped. Pure.
pub fn trusted(placement: &Placement, ranges: &BTreeMap<String, Ipv4Range>, interfaces: &[Interface]) -> AlbAddresses {
    let mut found = AlbAddresses::default();
    for interface in interfaces {
        let range = ranges.get(&interface.subnet_id);
        let outside: Vec<String> = interface
            .addresses
            .iter()
            .filter(|ip| !range.is_some_and(|r| r.contains(**ip)))
            .map(Ipv4Addr::to_string)
            .collect();
        let why = if !interface.requester_managed || interface.requester_id != ELB_REQUESTER_ID {
            Some(format!(
                "not made by Elastic Load Balancing (requester-managed {}, requester {:?})",
                interface.requester_managed, interface.requester_id
            ))
        } else if interface.vpc_id != placement.vpc_id {
            Some(format!("in {}, not the ALB's {}", interface.vpc_id, placement.vpc_id))
        } else if !placement.subnet_ids.contains(&interface.subnet_id) || range.is_none() {
            Some(format!("in {}, not one of the ALB's subnets", interface.subnet_id))
        } else if !outside.is_empty() {
            Some(format!("{} outside its subnet's range", outside.join(", ")))
        } else {
            None
        };
        match why {
            Some(why) => found.untrusted.push(format!("{}: {why}", interface.id)),
            None => found.addresses.extend(interface.addresses.iter().copied()),
        }
    }
    found
}

/// One look-up per ALB (and role) for every `eni` group of it (the port 80 and 443 groups of
/// one ALB cost one look-up together): its placement (`DescribeLoadBalancers`), its subnets'
/// ranges (`DescribeSubnets`) and the interfaces described as its own in its VPC
/// (`DescribeNetworkInterfaces`).
pub(crate) async fn describe_albs(
    clients: &Clients,
    groups: &[&TargetGroupConfig],
    concurrency: usize,
    source_identity: bool,
) -> BTreeMap<AlbKey, Result<AlbAddresses, String>> {
    let albs: BTreeSet<AlbKey> = groups
        .iter()
        .filter(|g| g.discovery() == Discovery::Eni)
        .map(|g| alb_key(g))
        .collect();
    let own_region = aws::region_of(&clients.sdk_config);
    stream::iter(albs.into_iter().map(|key| {
        let own_region = own_region.clone();
        async move {
            // The ALB's interfaces are in the ALB's own region (its ARN says which), whatever the
            // function's.
            let region = key
                .0
                .split(':')
                .nth(3)
                .filter(|r| !r.is_empty())
                .unwrap_or(&own_region)
                .to_owned();
            let reach = match (&key.1, region == own_region) {
                (None, true) => AlbClients {
                    ec2: clients.ec2.clone(),
                    elb: clients.elb.clone(),
                },
                (role, _) => alb_clients_as(clients, role.as_deref(), &region, source_identity).await,
            };
            let answer = describe_alb(&reach, &key.0).await.map_err(|e| match &key.1 {
                Some(role) => format!("{e} (as {role})"),
                None => e.to_string(),
            });
            (key, answer)
        }
    }))
    .buffer_unordered(concurrency.max(1))
    .collect()
    .await
}

/// The trusted addresses of the ALB `alb_arn`.
async fn describe_alb(clients: &AlbClients, alb_arn: &str) -> Result<AlbAddresses, AwsError> {
    let description = ec2::alb_interface_description(alb_arn).ok_or_else(|| AwsError {
        service: "EC2",
        transient: false,
        operation: "DescribeNetworkInterfaces",
        resource: alb_arn.to_owned(),
        code: None,
        message: "not an application load balancer ARN".into(),
    })?;
    let placement = elb::placement(&clients.elb, alb_arn).await?;
    let ranges = ec2::subnet_ranges(&clients.ec2, &placement.subnet_ids).await?;
    let interfaces = ec2::interfaces_described_as(&clients.ec2, &description, &placement.vpc_id).await?;
    Ok(trusted(&placement, &ranges, &interfaces))
}

/// The clients acting as `role` (if any) in `region`, its sessions carrying the source identity
/// `ecs-deployer.nlb-sync` when `source_identity`; made on first use and kept for the cold
/// start.
async fn alb_clients_as(clients: &Clients, role: Option<&str>, region: &str, source_identity: bool) -> AlbClients {
    clients
        .assumed
        .get_or_make(
            (role.map(str::to_owned), region.to_owned(), source_identity),
            || async {
                let identity = source_identity.then_some(SOURCE_IDENTITY);
                let config = aws::reach_config(&clients.sdk_config, role, None, Some(region), NAME, identity).await;
                AlbClients {
                    ec2: crate::aws::ec2::Ec2Client::new(&config),
                    elb: aws_sdk_elasticloadbalancingv2::Client::new(&config),
                }
            },
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placement() -> Placement {
        Placement {
            vpc_id: "vpc-alb".into(),
            subnet_ids: vec!["subnet-a".into(), "subnet-c".into()],
        }
    }

    fn ranges() -> BTreeMap<String, Ipv4Range> {
        [("subnet-a", "10.0.1.0/24"), ("subnet-c", "10.0.3.0/24")]
            .into_iter()
            .map(|(s, r)| (s.to_owned(), Ipv4Range::parse(r).unwrap()))
            .collect()
    }

    fn elb_interface(id: &str, subnet: &str, ips: &[&str]) -> Interface {
        Interface {
            id: id.into(),
            requester_managed: true,
            requester_id: ELB_REQUESTER_ID.into(),
            vpc_id: "vpc-alb".into(),
            subnet_id: subnet.into(),
            addresses: ips.iter().map(|ip| ip.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn only_interfaces_elb_made_in_the_albs_subnets_count() {
        let forged = Interface {
            requester_managed: false,
            requester_id: "AIDAEXAMPLE".into(),
            ..elb_interface("eni-forged", "subnet-a", &["10.0.1.66"])
        };
        let other_requester = Interface {
            requester_id: "amazon-rds".into(),
            ..elb_interface("eni-rds", "subnet-a", &["10.0.1.67"])
        };
        let other_vpc = Interface {
            vpc_id: "vpc-other".into(),
            ..elb_interface("eni-vpc", "subnet-a", &["10.0.1.68"])
        };
        let other_subnet = elb_interface("eni-subnet", "subnet-b", &["10.0.2.9"]);
        let outside = elb_interface("eni-outside", "subnet-c", &["10.0.3.5", "10.9.9.9"]);
        let found = trusted(
            &placement(),
            &ranges(),
            &[
                elb_interface("eni-1", "subnet-a", &["10.0.1.10"]),
                forged,
                other_requester,
                other_vpc,
                other_subnet,
                outside,
                elb_interface("eni-3", "subnet-c", &["10.0.3.10", "10.0.3.11"]),
            ],
        );
        let kept: Vec<String> = found.addresses.iter().map(Ipv4Addr::to_string).collect();
        assert_eq!(kept, ["10.0.1.10", "10.0.3.10", "10.0.3.11"]);
        let skipped: Vec<&str> = found.untrusted.iter().map(|l| l.split(':').next().unwrap()).collect();
        assert_eq!(
            skipped,
            ["eni-forged", "eni-rds", "eni-vpc", "eni-subnet", "eni-outside"]
        );
        assert!(
            found.untrusted[0].contains("not made by Elastic Load Balancing"),
            "{:?}",
            found.untrusted
        );
        assert!(found.untrusted[4].contains("10.9.9.9 outside"), "{:?}", found.untrusted);
    }
}
