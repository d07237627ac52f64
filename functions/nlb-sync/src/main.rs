//! `nlb-sync` Lambda: every minute (and on manual `sync` payloads), keeps each configured NLB target group filled with the current IP addresses of an internal ALB.
//! All logic lives in the `deployer` library; this binary only runs its job under the Lambda runtime.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    deployer::lambda::serve::<deployer::nlb_sync::NlbSync>().await
}
