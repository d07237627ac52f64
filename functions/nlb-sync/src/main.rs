//! `nlb-sync` Lambda: every minute (and on manual `sync` payloads), keeps each configured NLB
//! target group filled with the current IP addresses of an internal ALB. All logic lives in the
//! `deployer` library.

use deployer::config::{concurrency_from_env, ConfigSource};
use deployer::nlb::{self, NlbInvokeError};
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
            let source = ConfigSource::from_env().map_err(|e| refuse(&NlbInvokeError::Config(e.into())))?;
            match nlb::invoke(clients, &source, &event.payload, concurrency).await {
                Ok(response) => Ok(serde_json::to_value(response)?),
                Err(err) => Err(refuse(&err)),
            }
        }
    }))
    .await
}

/// Logs the refusal once, structured, and hands it to the runtime as the invocation's error.
fn refuse(err: &NlbInvokeError) -> Error {
    tracing::error!(error = %err, "nlb-sync refused the invocation");
    err.to_string().into()
}
