//! `service-sync` Lambda: after a completed deploy, on a schedule and on manual `sync` payloads,
//! makes Cloud Map, the ECS service registry and the HTTP API routes match the configuration.
//! All logic lives in the `deployer` library.

use deployer::config::{concurrency_from_env, ConfigSource};
use deployer::sync::{self, SyncInvokeError};
use deployer::{telemetry, AwsClients};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let clients = AwsClients::from_env().await;
    let concurrency = concurrency_from_env();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let clients = &clients;
        async move {
            let source = ConfigSource::from_env().map_err(|e| refuse(&SyncInvokeError::Config(e.into())))?;
            match sync::invoke(clients, &source, &event.payload, concurrency).await {
                Ok(response) => Ok(serde_json::to_value(response)?),
                Err(err) => Err(refuse(&err)),
            }
        }
    }))
    .await
}

/// Logs the refusal once, structured, and hands it to the runtime as the invocation's error.
fn refuse(err: &SyncInvokeError) -> Error {
    tracing::error!(error = %err, "service-sync refused the invocation");
    err.to_string().into()
}
