//! The Lambda side shared by the three binaries: structured logs, the client set built once per
//! cold start, the configuration source read per invocation, and errors that name the field.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

use crate::config::{concurrency_from_env, ConfigSource};
use crate::error::InvokeError;
use crate::{deploy, nlb, sync, telemetry, AwsClients};

/// The deployer's functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// Deploy on ECR push; manual deploy and rollback.
    ImagePush,
    /// Cloud Map, registry and API routes.
    ServiceSync,
    /// NLB target groups that follow an internal ALB.
    NlbSync,
}

impl Function {
    /// The function's name, as in `functions/` and the logs.
    pub fn name(self) -> &'static str {
        match self {
            Function::ImagePush => "image-push",
            Function::ServiceSync => "service-sync",
            Function::NlbSync => "nlb-sync",
        }
    }

    /// One invocation: parse the payload, load the configuration, run, answer JSON.
    pub async fn invoke(self, clients: &AwsClients, payload: &Value, concurrency: usize) -> Result<Value, InvokeError> {
        // The source is read per invocation, so a changed variable or S3 object applies at once.
        let source = ConfigSource::from_env()?;
        let answer = match self {
            Function::ImagePush => {
                let options = deploy::DeployOptions {
                    concurrency,
                    lease: crate::lease::LeaseConfig::from_env(),
                };
                serde_json::to_value(deploy::invoke(clients, &source, payload, &options).await?)
            }
            Function::ServiceSync => serde_json::to_value(sync::invoke(clients, &source, payload, concurrency).await?),
            Function::NlbSync => serde_json::to_value(nlb::invoke(clients, &source, payload, concurrency).await?),
        };
        Ok(answer.expect("responses serialize"))
    }
}

/// Runs `function` under the Lambda runtime until the runtime stops it.
pub async fn serve(function: Function) -> Result<(), Error> {
    telemetry::init();
    let clients = AwsClients::from_env(function.name()).await;
    let concurrency = concurrency_from_env();
    if function == Function::ImagePush && crate::lease::LeaseConfig::from_env().is_none() {
        tracing::warn!(
            variable = crate::lease::ENV_BUCKET,
            "no lease bucket: overlapping deploys of one service are not kept apart"
        );
    }
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let clients = &clients;
        async move {
            function
                .invoke(clients, &event.payload, concurrency)
                .await
                .map_err(|err| {
                    tracing::error!(function = function.name(), error = %err, "invocation refused");
                    Error::from(err.to_string())
                })
        }
    }))
    .await
}
