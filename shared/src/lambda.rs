//! The Lambda side: structured logs, the function's own clients built once per cold start, the
//! configuration source read per invocation, and failures that reach Lambda with a stable
//! `errorType` (see [`crate::error`]): a malformed input, an unusable configuration, or an
//! application or target group that failed while the others were handled.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

use crate::error::InvokeError;
use crate::input::config::ConfigSource;
use crate::job::{settle, Invocation, Job, Settings};
use crate::{aws, telemetry};

/// Runs the function `J` under the Lambda runtime until the runtime stops it.
pub async fn serve<J: Job>() -> Result<(), Error> {
    telemetry::init();
    let clients = J::clients(&aws::sdk_config(J::NAME).await);
    let settings = Settings::from_env();
    J::cold_start(&settings);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (clients, settings) = (&clients, &settings);
        let invocation = Invocation::from_lambda(
            &event.context.request_id,
            event.context.deadline,
            &event.context.invoked_function_arn,
        );
        async move { invoke::<J>(clients, &event.payload, settings, &invocation).await }
    }))
    .await
}

/// One invocation as the runtime sees it: the answer as JSON, or the failure, logged once.
async fn invoke<J: Job>(
    clients: &J::Clients,
    payload: &Value,
    settings: &Settings,
    invocation: &Invocation,
) -> Result<Value, InvokeError> {
    // The source is read per invocation, so a changed variable or S3 object applies at once.
    let answer = match ConfigSource::from_env() {
        // Boxed: the job's future is deep, and a boxed one keeps the binary's own future shallow
        // (the compiler's layout query overflows otherwise).
        Ok(source) => Box::pin(J::invoke(clients, &source, payload, settings, invocation)).await,
        Err(err) => Err(err.into()),
    };
    match answer.and_then(settle::<J>) {
        Ok(answer) => Ok(serde_json::to_value(answer).expect("answers serialize")),
        Err(err) => {
            tracing::error!(function = J::NAME, error_type = err.error_type(), error = %err, "invocation failed");
            Err(err)
        }
    }
}
