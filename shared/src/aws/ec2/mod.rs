//! EC2: the network interfaces of an application load balancer, which list its private
//! addresses in every subnet at once (the exact source nlb-sync prefers to DNS), and the
//! address ranges of the ALB's subnets they must lie in. Spoken through EC2's Query API
//! ([`Ec2Client`]), not the SDK's EC2 crate.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::aws::AwsError;

mod query;
pub mod xml;

pub use query::Ec2Client;

/// The `RequesterId` AWS gives the network interfaces Elastic Load Balancing makes for a load
/// balancer (they are also `RequesterManaged`): nobody else can make an interface with both.
pub const ELB_REQUESTER_ID: &str = "amazon-elb";

/// The description ELB gives an ALB's network interfaces: `ELB app/<name>/<id>`, from the ALB's
/// ARN (`...:loadbalancer/app/<name>/<id>`); none for an ARN of another shape.
pub fn alb_interface_description(alb_arn: &str) -> Option<String> {
    let (_, rest) = alb_arn.split_once(":loadbalancer/")?;
    rest.starts_with("app/").then(|| format!("ELB {rest}"))
}

/// A network interface as `DescribeNetworkInterfaces` answers it: what says who made it, where
/// it is, and its private IPv4 addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// `eni-...`.
    pub id: String,
    /// True when an AWS service made it for itself (the caller cannot make such an interface).
    pub requester_managed: bool,
    /// Who made it (`amazon-elb` for a load balancer's).
    pub requester_id: String,
    /// Its VPC.
    pub vpc_id: String,
    /// Its subnet.
    pub subnet_id: String,
    /// Its primary and secondary private IPv4 addresses.
    pub addresses: Vec<Ipv4Addr>,
}

/// An IPv4 range (`10.0.1.0/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Range {
    base: u32,
    prefix: u32,
}

impl Ipv4Range {
    /// Parses `a.b.c.d/n`; `None` for anything else.
    pub fn parse(cidr: &str) -> Option<Self> {
        let (address, prefix) = cidr.split_once('/')?;
        let address: Ipv4Addr = address.parse().ok()?;
        let prefix: u32 = prefix.parse().ok().filter(|p| *p <= 32)?;
        Some(Ipv4Range {
            base: u32::from(address) & Self::mask(prefix),
            prefix,
        })
    }

    /// True when `ip` is inside the range.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & Self::mask(self.prefix) == self.base
    }

    fn mask(prefix: u32) -> u32 {
        u32::MAX.checked_shl(32 - prefix).unwrap_or(0)
    }
}

/// Every network interface of the VPC `vpc_id` described as `description`, all pages (1,000 an
/// answer, as AWS recommends paginating), through a filtered `DescribeNetworkInterfaces`.
pub async fn interfaces_described_as(
    client: &Ec2Client,
    description: &str,
    vpc_id: &str,
) -> Result<Vec<Interface>, AwsError> {
    const OPERATION: &str = "DescribeNetworkInterfaces";
    let mut interfaces = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut params = query::filter_params(&[("description", description), ("vpc-id", vpc_id)]);
        params.push(("MaxResults".into(), "1000".into()));
        params.extend(next.take().map(|token| ("NextToken".to_owned(), token)));
        let body = client.call(OPERATION, &params, description).await?;
        let (page, token) = xml::interfaces_page(&body).map_err(|e| unreadable(OPERATION, description, e))?;
        interfaces.extend(page);
        match token {
            Some(token) => next = Some(token),
            None => return Ok(interfaces),
        }
    }
}

/// The IPv4 range of each of `subnet_ids`, in one `DescribeSubnets`.
pub async fn subnet_ranges(client: &Ec2Client, subnet_ids: &[String]) -> Result<BTreeMap<String, Ipv4Range>, AwsError> {
    const OPERATION: &str = "DescribeSubnets";
    let resource = subnet_ids.join(",");
    let body = client
        .call(OPERATION, &query::list_params("SubnetId", subnet_ids), &resource)
        .await?;
    let subnets = xml::subnets(&body).map_err(|e| unreadable(OPERATION, &resource, e))?;
    Ok(subnets
        .into_iter()
        .filter_map(|subnet| Some((subnet.id, Ipv4Range::parse(&subnet.cidr)?)))
        .collect())
}

/// An answer that is not the XML EC2 sends.
fn unreadable(operation: &'static str, resource: &str, reason: String) -> AwsError {
    AwsError {
        service: "EC2",
        operation,
        resource: resource.to_owned(),
        code: None,
        message: format!("the answer could not be read: {reason}"),
        transient: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_comes_from_the_alb_arn() {
        assert_eq!(
            alb_interface_description("arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:loadbalancer/app/internal-api/50dc6c495c0c9188").as_deref(),
            Some("ELB app/internal-api/50dc6c495c0c9188")
        );
        assert_eq!(
            alb_interface_description(
                "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:loadbalancer/net/nlb/1"
            ),
            None
        );
    }

    #[test]
    fn a_range_holds_exactly_its_addresses() {
        let range = Ipv4Range::parse("10.0.1.0/24").unwrap();
        assert!(range.contains("10.0.1.0".parse().unwrap()));
        assert!(range.contains("10.0.1.255".parse().unwrap()));
        assert!(!range.contains("10.0.2.1".parse().unwrap()));
        assert!(!range.contains("10.0.0.255".parse().unwrap()));
        assert!(Ipv4Range::parse("0.0.0.0/0")
            .unwrap()
            .contains("192.168.1.1".parse().unwrap()));
        let host = Ipv4Range::parse("10.0.1.7/32").unwrap();
        assert!(host.contains("10.0.1.7".parse().unwrap()) && !host.contains("10.0.1.8".parse().unwrap()));
        for bad in ["10.0.1.0", "10.0.1.0/33", "10.0.1/24", "x/8", ""] {
            assert_eq!(Ipv4Range::parse(bad), None, "{bad}");
        }
    }
}
