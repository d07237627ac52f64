//! `image-push` Lambda: deploys an image pushed to ECR to the ECS services that follow it, and
//! takes manual `deploy` and `rollback` payloads. All logic lives in the `deployer` library.

use deployer::config::{concurrency_from_env, ConfigSource};
use deployer::deploy::{self, DeployOptions};
use deployer::{telemetry, AwsClients};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let clients = AwsClients::from_env().await;
    let options = DeployOptions {
        concurrency: concurrency_from_env(),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (clients, options) = (&clients, &options);
        async move {
            // The source is read per invocation, so a changed variable or S3 object applies at once.
            let source = ConfigSource::from_env().map_err(|e| refuse(&deploy::InvokeError::Config(e.into())))?;
            match deploy::invoke(clients, &source, &event.payload, options).await {
                Ok(response) => Ok(serde_json::to_value(response)?),
                Err(err) => Err(refuse(&err)),
            }
        }
    }))
    .await
}

/// Logs the refusal once, structured, and hands it to the runtime as the invocation's error.
fn refuse(err: &deploy::InvokeError) -> Error {
    tracing::error!(error = %err, "image-push refused the invocation");
    err.to_string().into()
}
