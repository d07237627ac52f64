//! `service-sync` Lambda: after a completed deploy, on a schedule and on manual `sync` payloads, makes Cloud Map, the ECS service registry and the HTTP API routes match the configuration.
//! All logic lives in the `deployer` library; this binary only runs its job under the Lambda runtime.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    deployer::lambda::serve::<deployer::service_sync::ServiceSync>().await
}
