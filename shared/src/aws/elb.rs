//! Elastic Load Balancing: target groups, their targets and health.

use std::net::Ipv4Addr;

use aws_sdk_elasticloadbalancingv2::types::{TargetDescription, TargetHealthStateEnum};

use crate::aws::AwsError;

/// A target of the group as ELB reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// IP address.
    pub ip: String,
    /// Port.
    pub port: i32,
    /// Health state (`healthy`, `initial`, `draining`, ...).
    pub state: String,
}

impl Target {
    /// True while ELB drains the target (it is on its way out).
    pub fn draining(&self) -> bool {
        self.state == TargetHealthStateEnum::Draining.as_str()
    }
}

/// The target type of each group, in one call (20 ARNs a call).
pub async fn target_types(
    client: &aws_sdk_elasticloadbalancingv2::Client,
    arns: &[String],
) -> Result<Vec<(String, String)>, AwsError> {
    let mut types = Vec::new();
    for chunk in arns.chunks(20) {
        let output = client
            .describe_target_groups()
            .set_target_group_arns(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ELBv2", "DescribeTargetGroups", chunk.join(","), e))?;
        for group in output.target_groups() {
            if let (Some(arn), Some(kind)) = (group.target_group_arn(), group.target_type()) {
                types.push((arn.to_owned(), kind.as_str().to_owned()));
            }
        }
    }
    Ok(types)
}

/// The group's targets and their health.
pub async fn targets(client: &aws_sdk_elasticloadbalancingv2::Client, arn: &str) -> Result<Vec<Target>, AwsError> {
    let output = client
        .describe_target_health()
        .target_group_arn(arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ELBv2", "DescribeTargetHealth", arn, e))?;
    Ok(output
        .target_health_descriptions()
        .iter()
        .filter_map(|d| {
            let target = d.target()?;
            Some(Target {
                ip: target.id()?.to_owned(),
                port: target.port().unwrap_or_default(),
                state: d
                    .target_health()
                    .and_then(|h| h.state())
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
            })
        })
        .collect())
}

fn descriptions(ips: &[Ipv4Addr], port: i32, all_zones: bool) -> Vec<TargetDescription> {
    ips.iter()
        .map(|ip| {
            let description = TargetDescription::builder().id(ip.to_string()).port(port);
            let description = if all_zones {
                description.availability_zone("all")
            } else {
                description
            };
            description.build()
        })
        .collect()
}

/// Registers addresses (AvailabilityZone `all` for addresses outside the NLB's VPC).
pub async fn register(
    client: &aws_sdk_elasticloadbalancingv2::Client,
    arn: &str,
    ips: &[Ipv4Addr],
    port: i32,
    all_zones: bool,
) -> Result<(), AwsError> {
    client
        .register_targets()
        .target_group_arn(arn)
        .set_targets(Some(descriptions(ips, port, all_zones)))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ELBv2", "RegisterTargets", arn, e))?;
    Ok(())
}

/// Deregisters addresses.
pub async fn deregister(
    client: &aws_sdk_elasticloadbalancingv2::Client,
    arn: &str,
    ips: &[Ipv4Addr],
    port: i32,
    all_zones: bool,
) -> Result<(), AwsError> {
    client
        .deregister_targets()
        .target_group_arn(arn)
        .set_targets(Some(descriptions(ips, port, all_zones)))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ELBv2", "DeregisterTargets", arn, e))?;
    Ok(())
}

/// Where a load balancer is: its VPC and the subnets it has interfaces in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// `vpc-...`.
    pub vpc_id: String,
    /// One subnet per Availability Zone it is enabled in.
    pub subnet_ids: Vec<String>,
}

/// The VPC and subnets of the load balancer `arn`, in one `DescribeLoadBalancers`.
pub async fn placement(client: &aws_sdk_elasticloadbalancingv2::Client, arn: &str) -> Result<Placement, AwsError> {
    let output = client
        .describe_load_balancers()
        .load_balancer_arns(arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ELBv2", "DescribeLoadBalancers", arn, e))?;
    let found = output.load_balancers().first().and_then(|lb| {
        Some(Placement {
            vpc_id: lb.vpc_id()?.to_owned(),
            subnet_ids: lb
                .availability_zones()
                .iter()
                .filter_map(|zone| zone.subnet_id().map(str::to_owned))
                .collect(),
        })
    });
    found.ok_or_else(|| AwsError {
        service: "ELBv2",
        transient: false,
        operation: "DescribeLoadBalancers",
        resource: arn.to_owned(),
        code: None,
        message: "the answer names no load balancer with a VPC".into(),
    })
}
