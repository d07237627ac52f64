//! An internal application load balancer in the emulator, and the network interfaces Elastic
//! Load Balancing would give it. moto makes none: the tests add and remove them as ELB does when
//! the ALB scales, marked as ELB's own through the emulator launcher's `devkit:requester-id` tag
//! (`RequesterManaged`, `RequesterId` `amazon-elb`), and can forge ones anyone could make.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use deployer::aws::ec2::{xml, Ec2Client};
use deployer::AwsClients;

/// The tag the emulator launcher (`devkit/moto_server.py`) turns into a requester-managed
/// interface made by the tag's value.
pub const REQUESTER_TAG: &str = "devkit:requester-id";

/// An ALB and the interfaces the tests gave it.
pub struct AlbWorld {
    /// The ALB's ARN.
    pub arn: String,
    ec2: Ec2Client,
    subnets: Vec<(String, String)>,
    interfaces: BTreeMap<Ipv4Addr, String>,
}

impl AlbWorld {
    /// Creates an internal ALB `name` over every subnet the test world made in `clients'`
    /// account and region (not the emulator's default VPC).
    pub async fn create(clients: &AwsClients, name: &str) -> AlbWorld {
        let ec2 = Ec2Client::new(&clients.sdk_config);
        let found = ec2.call("DescribeSubnets", &[], "all").await.expect("DescribeSubnets");
        let subnets: Vec<(String, String)> = xml::subnets(&found)
            .expect("DescribeSubnets answers XML")
            .into_iter()
            .filter(|s| !s.default_for_az)
            .map(|s| (s.id, s.cidr))
            .collect();
        let created = clients
            .elb
            .create_load_balancer()
            .name(name)
            .scheme(aws_sdk_elasticloadbalancingv2::types::LoadBalancerSchemeEnum::Internal)
            .r#type(aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum::Application)
            .set_subnets(Some(subnets.iter().map(|(id, _)| id.clone()).collect()))
            .send()
            .await
            .expect("CreateLoadBalancer");
        AlbWorld {
            arn: created.load_balancers()[0].load_balancer_arn().expect("ARN").to_owned(),
            ec2,
            subnets,
            interfaces: Default::default(),
        }
    }

    /// Gives the ALB a network interface with `ip` in the subnet `ip` falls in, made by ELB
    /// (requester-managed by `amazon-elb`) and described as ELB describes its own.
    pub async fn add(&mut self, ip: Ipv4Addr) {
        let subnet = self.subnet_of(ip);
        let id = self
            .interface(&subnet, ip, Some(deployer::aws::ec2::ELB_REQUESTER_ID))
            .await;
        self.interfaces.insert(ip, id);
    }

    /// Makes an interface with `ip` in `subnet` (any subnet: one the ALB is not in, too) carrying
    /// the ALB's description, made by `requester` (`None`: by the caller, as anyone with
    /// `ec2:CreateNetworkInterface` could). Not one of the ALB's; returns its ID.
    pub async fn forge(&self, subnet: Option<&str>, ip: Ipv4Addr, requester: Option<&str>) -> String {
        let subnet = subnet.map_or_else(|| self.subnet_of(ip), str::to_owned);
        self.interface(&subnet, ip, requester).await
    }

    /// Removes the interface with `ip` (the ALB scaled in).
    pub async fn remove(&mut self, ip: Ipv4Addr) {
        let id = self.interfaces.remove(&ip).expect("an interface of the ALB");
        let params = [("NetworkInterfaceId".to_owned(), id.clone())];
        self.ec2
            .call("DeleteNetworkInterface", &params, &id)
            .await
            .expect("DeleteNetworkInterface");
    }

    /// The ALB's subnet whose range `ip` is in (the first one when none).
    fn subnet_of(&self, ip: Ipv4Addr) -> String {
        let prefix = format!("{}.{}.{}.", ip.octets()[0], ip.octets()[1], ip.octets()[2]);
        self.subnets
            .iter()
            .find(|(_, cidr)| cidr.starts_with(&prefix))
            .unwrap_or(&self.subnets[0])
            .0
            .clone()
    }

    async fn interface(&self, subnet: &str, ip: Ipv4Addr, requester: Option<&str>) -> String {
        let description = deployer::aws::ec2::alb_interface_description(&self.arn).expect("an ALB ARN");
        let mut params = vec![
            ("SubnetId".to_owned(), subnet.to_owned()),
            ("PrivateIpAddress".to_owned(), ip.to_string()),
            ("Description".to_owned(), description),
        ];
        if let Some(requester) = requester {
            params.extend([
                (
                    "TagSpecification.1.ResourceType".to_owned(),
                    "network-interface".to_owned(),
                ),
                ("TagSpecification.1.Tag.1.Key".to_owned(), REQUESTER_TAG.to_owned()),
                ("TagSpecification.1.Tag.1.Value".to_owned(), requester.to_owned()),
            ]);
        }
        let created = self
            .ec2
            .call("CreateNetworkInterface", &params, subnet)
            .await
            .expect("CreateNetworkInterface");
        xml::first_value(&created, "networkInterfaceId").expect("ENI ID")
    }
}
