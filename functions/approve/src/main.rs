//! `approve` Lambda: image-push's manual payloads (an `approve` above all) signed through this
//! function's URL with `AuthType: AWS_IAM`, so the record names who approved. It takes nothing
//! else: no event, no plain invoke. All logic lives in the `deployer` library.

use deployer::lambda::{serve_through, Door};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve_through::<deployer::image_push::ImagePush>(Door::SignedUrl).await
}
