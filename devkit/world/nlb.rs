//! The NLB side of a world: `ip` target groups following an internal ALB, and nlb-sync's
//! invocations.

use super::*;

/// The internal ALB's DNS name the NLB tests follow.
pub const ALB_DNS_NAME: &str = "internal-api-123.ap-northeast-1.elb.amazonaws.com";

impl World {
    /// Creates an `ip` target group (TCP) of the world's VPC and returns its ARN.
    pub async fn target_group(&self, name: &str, port: i32) -> String {
        self.target_group_of_type(name, port, aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum::Ip)
            .await
    }

    /// Creates a target group of a given type and returns its ARN.
    pub async fn target_group_of_type(
        &self,
        name: &str,
        port: i32,
        target_type: aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum,
    ) -> String {
        let output = self
            .clients
            .elb
            .create_target_group()
            .name(name)
            .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Tcp)
            .port(port)
            .vpc_id(&self.vpc)
            .target_type(target_type)
            .send()
            .await
            .expect("CreateTargetGroup");
        output.target_groups()[0].target_group_arn().expect("ARN").to_owned()
    }
}
/// Runs one `nlb-sync` invocation in-process, exactly as the Lambda handler does.
pub async fn invoke_nlb_sync(
    clients: &AwsClients,
    config: &str,
    payload: &serde_json::Value,
) -> Result<nlb_sync::Answer, InvokeError> {
    invoke_job::<nlb_sync::NlbSync>(clients, config, payload, &Settings::default()).await
}

/// The IP addresses registered in a target group, sorted.
pub async fn target_ips(clients: &AwsClients, arn: &str) -> Vec<String> {
    let mut ips: Vec<String> = deployer::aws::elb::targets(&clients.elb, arn)
        .await
        .expect("DescribeTargetHealth")
        .into_iter()
        .map(|t| format!("{}:{}", t.ip, t.port))
        .collect();
    ips.sort();
    ips
}
