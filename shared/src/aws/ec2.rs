//! EC2: the network interfaces of an application load balancer, which list its private
//! addresses in every subnet at once (the exact source nlb-sync prefers to DNS).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use aws_sdk_ec2::types::Filter;

use crate::aws::AwsError;

/// The description ELB gives an ALB's network interfaces: `ELB app/<name>/<id>`, from the ALB's
/// ARN (`...:loadbalancer/app/<name>/<id>`); none for an ARN of another shape.
pub fn alb_interface_description(alb_arn: &str) -> Option<String> {
    let (_, rest) = alb_arn.split_once(":loadbalancer/")?;
    rest.starts_with("app/").then(|| format!("ELB {rest}"))
}

/// Every private IPv4 address of the ALB's network interfaces, all pages, in one
/// `DescribeNetworkInterfaces` filtered on the ELB's description.
pub async fn alb_addresses(client: &aws_sdk_ec2::Client, alb_arn: &str) -> Result<BTreeSet<Ipv4Addr>, AwsError> {
    let description = alb_interface_description(alb_arn).ok_or_else(|| AwsError {
        service: "EC2",
        transient: false,
        operation: "DescribeNetworkInterfaces",
        resource: alb_arn.to_owned(),
        code: None,
        message: "not an application load balancer ARN".into(),
    })?;
    let mut pages = client
        .describe_network_interfaces()
        .filters(Filter::builder().name("description").values(&description).build())
        .into_paginator()
        .send();
    let mut addresses = BTreeSet::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk("EC2", "DescribeNetworkInterfaces", &description, e))?;
        for interface in page.network_interfaces() {
            for private in interface.private_ip_addresses() {
                if let Some(ip) = private.private_ip_address().and_then(|ip| ip.parse().ok()) {
                    addresses.insert(ip);
                }
            }
            if let Some(ip) = interface.private_ip_address().and_then(|ip| ip.parse().ok()) {
                addresses.insert(ip);
            }
        }
    }
    Ok(addresses)
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
}
