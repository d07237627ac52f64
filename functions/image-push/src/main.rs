//! `image-push` Lambda: deploys an image pushed to ECR to the ECS services that follow it, and takes manual `deploy` and `rollback` payloads.
//! All logic lives in the `deployer` library; this binary only runs its job under the Lambda runtime.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    deployer::lambda::serve::<deployer::image_push::ImagePush>().await
}
