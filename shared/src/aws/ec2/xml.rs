//! EC2's XML answers, read with the SDK's own XML decoder (`aws-smithy-xml`): the network
//! interfaces and subnets the deployer needs, an error's code and message, and the first value
//! of an element (what a call that creates something answers).

use std::net::Ipv4Addr;

use aws_smithy_xml::decode::{try_data, Document, ScopedDecoder};

use super::Interface;

/// A page of `DescribeNetworkInterfaces`: its interfaces and the next page's token.
pub fn interfaces_page(body: &str) -> Result<(Vec<Interface>, Option<String>), String> {
    let mut doc = Document::new(body);
    let mut root = doc.root_element().map_err(|e| e.to_string())?;
    let (mut interfaces, mut next) = (Vec::new(), None);
    while let Some(mut tag) = root.next_tag() {
        match tag.start_el().local() {
            "networkInterfaceSet" => {
                while let Some(mut item) = tag.next_tag() {
                    interfaces.push(interface(&mut item)?);
                }
            }
            "nextToken" => next = Some(text(&mut tag)?).filter(|t| !t.is_empty()),
            _ => {}
        }
    }
    Ok((interfaces, next))
}

fn interface(item: &mut ScopedDecoder) -> Result<Interface, String> {
    let mut found = Interface {
        id: String::new(),
        requester_managed: false,
        requester_id: String::new(),
        vpc_id: String::new(),
        subnet_id: String::new(),
        addresses: Vec::new(),
    };
    let mut addresses: Vec<Ipv4Addr> = Vec::new();
    while let Some(mut field) = item.next_tag() {
        match field.start_el().local() {
            "networkInterfaceId" => found.id = text(&mut field)?,
            "requesterManaged" => found.requester_managed = text(&mut field)? == "true",
            "requesterId" => found.requester_id = text(&mut field)?,
            "vpcId" => found.vpc_id = text(&mut field)?,
            "subnetId" => found.subnet_id = text(&mut field)?,
            "privateIpAddress" => addresses.extend(text(&mut field)?.parse::<Ipv4Addr>().ok()),
            "privateIpAddressesSet" => {
                while let Some(mut address) = field.next_tag() {
                    while let Some(mut member) = address.next_tag() {
                        if member.start_el().local() == "privateIpAddress" {
                            addresses.extend(text(&mut member)?.parse::<Ipv4Addr>().ok());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    addresses.sort();
    addresses.dedup();
    found.addresses = addresses;
    Ok(found)
}

/// A subnet as `DescribeSubnets` answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    /// `subnet-...`.
    pub id: String,
    /// Its IPv4 range (`10.0.1.0/24`).
    pub cidr: String,
    /// True for a default VPC's subnet.
    pub default_for_az: bool,
}

/// `DescribeSubnets`: each subnet.
pub fn subnets(body: &str) -> Result<Vec<Subnet>, String> {
    let mut doc = Document::new(body);
    let mut root = doc.root_element().map_err(|e| e.to_string())?;
    let mut subnets = Vec::new();
    while let Some(mut tag) = root.next_tag() {
        if tag.start_el().local() != "subnetSet" {
            continue;
        }
        while let Some(mut item) = tag.next_tag() {
            let mut subnet = Subnet {
                id: String::new(),
                cidr: String::new(),
                default_for_az: false,
            };
            while let Some(mut field) = item.next_tag() {
                match field.start_el().local() {
                    "subnetId" => subnet.id = text(&mut field)?,
                    "cidrBlock" => subnet.cidr = text(&mut field)?,
                    "defaultForAz" => subnet.default_for_az = text(&mut field)? == "true",
                    _ => {}
                }
            }
            subnets.push(subnet);
        }
    }
    Ok(subnets)
}

/// The text of the first element named `name`, at any depth, in document order.
pub fn first_value(body: &str, name: &str) -> Option<String> {
    let mut doc = Document::new(body);
    let mut root = doc.root_element().ok()?;
    find(&mut root, name)
}

fn find(scope: &mut ScopedDecoder, name: &str) -> Option<String> {
    while let Some(mut tag) = scope.next_tag() {
        let found = if tag.start_el().local() == name {
            text(&mut tag).ok()
        } else {
            find(&mut tag, name)
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// An error answer's code and message (`<Response><Errors><Error><Code>`, or the query
/// protocol's `<ErrorResponse><Error><Code>`).
pub fn error_of(body: &str) -> (Option<String>, Option<String>) {
    (first_value(body, "Code"), first_value(body, "Message"))
}

fn text(tag: &mut ScopedDecoder) -> Result<String, String> {
    try_data(tag).map(|t| t.trim().to_owned()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer in the shape of EC2's API reference (fields the deployer ignores included).
    const INTERFACES: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeNetworkInterfacesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>fc45294c-006b-457b-bab9-012f5b3b0e40</requestId>
  <networkInterfaceSet>
    <item>
      <networkInterfaceId>eni-0f782d6e3f0a3e8ba</networkInterfaceId>
      <subnetId>subnet-c88a35a1</subnetId>
      <vpcId>vpc-8e8a35e7</vpcId>
      <availabilityZone>ap-northeast-1a</availabilityZone>
      <description>ELB app/internal-api/50dc6c495c0c9188</description>
      <ownerId>123456789012</ownerId>
      <requesterId>amazon-elb</requesterId>
      <requesterManaged>true</requesterManaged>
      <status>in-use</status>
      <groupSet><item><groupId>sg-1</groupId><groupName>alb</groupName></item></groupSet>
      <privateIpAddress>10.0.1.20</privateIpAddress>
      <privateIpAddressesSet>
        <item><privateIpAddress>10.0.1.20</privateIpAddress><primary>true</primary></item>
        <item><privateIpAddress>10.0.1.7</privateIpAddress><primary>false</primary></item>
      </privateIpAddressesSet>
      <tagSet/>
    </item>
    <item>
      <networkInterfaceId>eni-2</networkInterfaceId>
      <subnetId>subnet-2</subnetId>
      <vpcId>vpc-8e8a35e7</vpcId>
      <requesterManaged>false</requesterManaged>
      <privateIpAddress>10.0.2.9</privateIpAddress>
    </item>
  </networkInterfaceSet>
  <nextToken>page-2</nextToken>
</DescribeNetworkInterfacesResponse>"#;

    #[test]
    fn interfaces_are_read_with_every_address() {
        let (interfaces, next) = interfaces_page(INTERFACES).unwrap();
        assert_eq!(next.as_deref(), Some("page-2"));
        assert_eq!(interfaces.len(), 2);
        let alb = &interfaces[0];
        assert_eq!(alb.id, "eni-0f782d6e3f0a3e8ba");
        assert!(alb.requester_managed);
        assert_eq!(alb.requester_id, "amazon-elb");
        assert_eq!(
            (alb.vpc_id.as_str(), alb.subnet_id.as_str()),
            ("vpc-8e8a35e7", "subnet-c88a35a1")
        );
        assert_eq!(
            alb.addresses,
            vec![Ipv4Addr::new(10, 0, 1, 7), Ipv4Addr::new(10, 0, 1, 20)]
        );
        assert!(!interfaces[1].requester_managed && interfaces[1].requester_id.is_empty());
        let (none, last) = interfaces_page(
            "<DescribeNetworkInterfacesResponse><networkInterfaceSet/></DescribeNetworkInterfacesResponse>",
        )
        .unwrap();
        assert!(none.is_empty() && last.is_none());
        assert!(interfaces_page("not xml").is_err());
    }

    #[test]
    fn subnets_errors_and_created_ids_are_read() {
        let subnets_answer = "<DescribeSubnetsResponse><subnetSet><item><subnetId>subnet-1</subnetId><cidrBlock>10.0.1.0/24</cidrBlock><defaultForAz>true</defaultForAz><tagSet/></item></subnetSet></DescribeSubnetsResponse>";
        let expected = Subnet {
            id: "subnet-1".into(),
            cidr: "10.0.1.0/24".into(),
            default_for_az: true,
        };
        assert_eq!(subnets(subnets_answer).unwrap(), vec![expected]);
        let ec2_error = "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>1</RequestID></Response>";
        assert_eq!(
            error_of(ec2_error),
            (
                Some("RequestLimitExceeded".into()),
                Some("Request limit exceeded.".into())
            )
        );
        let query_error = "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>";
        assert_eq!(error_of(query_error).0.as_deref(), Some("Throttling"));
        assert_eq!(error_of("gateway timeout"), (None, None));
        let created = "<CreateVpcResponse><requestId>1</requestId><vpc><vpcId>vpc-9</vpcId><cidrBlock>10.0.0.0/16</cidrBlock></vpc></CreateVpcResponse>";
        assert_eq!(first_value(created, "vpcId").as_deref(), Some("vpc-9"));
    }
}
