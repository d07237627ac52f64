//! Telling people what happened: deploy, sync and target outcomes as EventBridge events with
//! one documented `source` ([`SOURCE`]), so an ordinary rule routes them to chat or mail
//! (docs/knowing-what-happened.md), and links a person can click.

use crate::aws::events::{put_events, Entry};
use crate::aws::AwsError;

/// The `source` of every event the deployer publishes.
pub const SOURCE: &str = "ecs-deployer";

/// A deploy started (ECS accepted the new revision).
pub const DEPLOY_STARTED: &str = "Deploy Started";
/// ECS finished rolling a deploy out.
pub const DEPLOY_SUCCEEDED: &str = "Deploy Succeeded";
/// A deploy failed: the deployer could not start it, or ECS failed it without rolling back.
pub const DEPLOY_FAILED: &str = "Deploy Failed";
/// ECS failed a deploy and rolled the service back.
pub const DEPLOY_ROLLED_BACK: &str = "Deploy Rolled Back";
/// No end of a deploy was heard within the settle time.
pub const DEPLOY_TIMED_OUT: &str = "Deploy Timed Out";
/// Production traffic has shifted to a deploy's new revision (it may still bake or roll back).
pub const DEPLOY_LIVE: &str = "Deploy Live";
/// ECS waits at a pause hook of a deploy for a `continue` or `abort` payload.
pub const DEPLOY_PAUSED: &str = "Deploy Paused";
/// service-sync could not make an application's routing match the configuration.
pub const SYNC_FAILED: &str = "Sync Failed";
/// nlb-sync registered or deregistered targets.
pub const TARGETS_CHANGED: &str = "Targets Changed";
/// detail-type: a retention pass deregistered or deleted task definition revisions.
pub const REVISIONS_REMOVED: &str = "Revisions Removed";

/// A promotion waits for an `approve` payload (image-push).
pub const PROMOTION_PENDING: &str = "Promotion Pending";
/// Detail type: an application's template (the revision registered outside the deployer) is
/// newer than the one its running revision was built from.
pub const TEMPLATE_CHANGED: &str = "Template Changed";

/// Puts `entries` on `bus` with the deployer's source.
pub async fn publish(client: &aws_sdk_eventbridge::Client, bus: &str, entries: &[Entry]) -> Result<(), AwsError> {
    if entries.is_empty() {
        return Ok(());
    }
    put_events(client, bus, SOURCE, entries).await
}

/// Links for a person: the service's deployments in the ECS console, and this invocation's log
/// stream in CloudWatch (when running in Lambda).
pub fn links(region: &str, cluster: &str, service: &str) -> serde_json::Value {
    let cluster = crate::aws::arn::short_name(cluster);
    let service = crate::aws::arn::short_name(service);
    let mut links = serde_json::json!({
        "service": format!(
            "https://{region}.console.aws.amazon.com/ecs/v2/clusters/{cluster}/services/{service}/deployments?region={region}"
        ),
    });
    if let (Ok(group), Ok(stream)) = (
        std::env::var("AWS_LAMBDA_LOG_GROUP_NAME"),
        std::env::var("AWS_LAMBDA_LOG_STREAM_NAME"),
    ) {
        links["logs"] = serde_json::Value::String(log_events_link(region, &group, &stream));
    }
    links
}

/// The CloudWatch console's page of one log stream.
pub fn log_events_link(region: &str, group: &str, stream: &str) -> String {
    format!(
        "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logsV2:log-groups/log-group/{}/log-events/{}",
        console_escape(group),
        console_escape(stream)
    )
}

/// The CloudWatch console's escaping of a name inside its `#logsV2:` fragment: URL-encoded, with
/// `%` itself written `$25`.
fn console_escape(name: &str) -> String {
    let mut out = String::new();
    for byte in name.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => out.push(byte as char),
            other => out.push_str(&format!("$25{other:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_links_name_the_service_and_escape_log_names() {
        let links = links("ap-northeast-1", "arn:aws:ecs:ap-northeast-1:1:cluster/sss", "orders");
        assert_eq!(
            links["service"],
            "https://ap-northeast-1.console.aws.amazon.com/ecs/v2/clusters/sss/services/orders/deployments?region=ap-northeast-1"
        );
        assert_eq!(
            console_escape("/aws/lambda/image-push"),
            "$252Faws$252Flambda$252Fimage-push"
        );
        assert_eq!(
            console_escape("2026/12/01/[$LATEST]ab"),
            "2026$252F12$252F01$252F$255B$2524LATEST$255Dab"
        );
    }
}
