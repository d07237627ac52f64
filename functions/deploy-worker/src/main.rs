//! `deploy-worker` Lambda: deploys the applications of a large fan-out, one SQS message each, from the deploy queue.
//! All logic lives in the `deployer` library; this binary only runs its job under the Lambda runtime.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    deployer::lambda::serve::<deployer::image_push::worker::DeployWorker>().await
}
