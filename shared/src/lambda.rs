//! The Lambda side: structured logs, the function's own clients built once per cold start, the
//! configuration source read per invocation, and failures that reach Lambda with a stable
//! `errorType` (see [`crate::error`]): a malformed input, an unusable configuration, or an
//! application or target group that failed while the others were handled.

use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::{layers::TracingLayer, service_fn, Error, LambdaEvent, LambdaInvocation, Runtime};
use serde_json::Value;

use crate::error::InvokeError;
use crate::input::config::ConfigSource;
use crate::input::function_url;
use crate::job::{Invocation, Job, Settings};
use crate::{aws, telemetry};

/// How payloads reach a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// Invocations (events, manual payloads). Nothing names the caller, so a payload shaped as a
    /// function URL request is refused: anyone who may invoke could have written its signer.
    Invoke,
    /// Only requests through the function's URL (`AuthType: AWS_IAM`), answered as HTTP: Lambda
    /// checked each signature and names the signer. Anything else is refused.
    SignedUrl,
}

/// Runs the function `J` under the Lambda runtime until the runtime stops it, taking
/// invocations ([`Door::Invoke`]).
pub async fn serve<J: Job>() -> Result<(), Error> {
    serve_through::<J>(Door::Invoke).await
}

/// Runs the function `J` under the Lambda runtime, taking payloads through `door`.
pub async fn serve_through<J: Job>(door: Door) -> Result<(), Error> {
    telemetry::init();
    let clients = J::clients(&aws::sdk_config(J::NAME).await);
    let settings = Settings::from_env();
    J::cold_start(&settings);
    let handler = service_fn(|event: LambdaEvent<Value>| {
        let (clients, settings) = (&clients, &settings);
        let invocation = Invocation::from_lambda(
            &event.context.request_id,
            event.context.deadline,
            &event.context.invoked_function_arn,
        );
        async move {
            match not_json_reason(&event.payload) {
                Some(reason) => Err(fail::<J>(InvokeError::EventInvalid(crate::input::InputError::new(
                    "$",
                    format!(
                        "a JSON document (an EventBridge event or a manual payload); the payload is not JSON: {reason}"
                    ),
                )))),
                None => match (door, function_url::is_url_request(&event.payload)) {
                    (Door::SignedUrl, _) => Ok(through_url::<J>(clients, &event.payload, settings, invocation).await),
                    (Door::Invoke, true) => Err(fail::<J>(InvokeError::EventInvalid(crate::input::InputError::new(
                        "requestContext",
                        "an EventBridge event or a manual payload: this function has no function URL, so a request shaped as one came by a plain invoke, whose signer anyone could have written (signed payloads go to the approve function's URL)",
                    )))),
                    (Door::Invoke, false) => invoke::<J>(clients, &event.payload, settings, &invocation).await,
                },
            }
        }
    });
    // The last layer added sees the invocation first: a body that is not JSON is turned into a
    // marker before the runtime's own parsing would fail it with a Rust type path as errorType.
    Runtime::new(handler)
        .layer(TracingLayer::new())
        .layer(MarkNotJson)
        .run()
        .await
}

/// The key of the object that stands for a payload that is not JSON (see [`MarkNotJson`]).
const NOT_JSON_KEY: &str = "ecs-deployer:payload-not-json";

/// Why the payload was not JSON, when [`MarkNotJson`] replaced it.
fn not_json_reason(payload: &Value) -> Option<&str> {
    let object = payload.as_object()?;
    (object.len() == 1)
        .then(|| object.get(NOT_JSON_KEY)?.as_str())
        .flatten()
}

/// Replaces a body that is not JSON with `{"ecs-deployer:payload-not-json": "<parser's reason>"}`,
/// so it is refused as `EventInvalid` like any other bad input: the runtime would otherwise
/// answer it with its own deserializer's type path as the `errorType`.
#[derive(Clone, Copy)]
struct MarkNotJson;

impl<S> Layer<S> for MarkNotJson {
    type Service = MarkNotJsonService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        MarkNotJsonService(inner)
    }
}

/// The service of [`MarkNotJson`].
struct MarkNotJsonService<S>(S);

impl<S: Service<LambdaInvocation>> Service<LambdaInvocation> for MarkNotJsonService<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, mut invocation: LambdaInvocation) -> Self::Future {
        if let Err(err) = serde_json::from_slice::<serde::de::IgnoredAny>(&invocation.body) {
            let marker = serde_json::json!({ NOT_JSON_KEY: err.to_string() });
            invocation.body = marker.to_string().into();
        }
        self.0.call(invocation)
    }
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
    answer.and_then(J::respond).map_err(fail::<J>)
}

/// A payload through the function URL: run as signed by its caller, answered as HTTP (the
/// invocation itself succeeds: the caller, waiting on the URL, reads the status code).
async fn through_url<J: Job>(
    clients: &J::Clients,
    event: &Value,
    settings: &Settings,
    invocation: Invocation,
) -> Value {
    let parsed = match function_url::is_url_request(event) {
        true => function_url::parse(event),
        false => Err(crate::input::InputError::new(
            "requestContext",
            "a request through this function's URL (AuthType AWS_IAM): it takes nothing else",
        )),
    };
    let answer = match parsed {
        Err(err) => Err(fail::<J>(InvokeError::EventInvalid(err))),
        Ok(request) => {
            let invocation = invocation.signed_by(&request.caller);
            tracing::info!(function = J::NAME, caller = %request.caller, "payload through the function URL");
            invoke::<J>(clients, &request.payload, settings, &invocation).await
        }
    };
    function_url::response(answer.map_err(|err| {
        let status = match &err {
            InvokeError::EventInvalid(_) => 400,
            _ if err.error_type() == crate::error::DEFERRED => 503,
            _ => 500,
        };
        (status, err.error_type(), err.to_string())
    }))
}

/// A failed invocation, logged once.
fn fail<J: Job>(err: InvokeError) -> InvokeError {
    tracing::error!(function = J::NAME, error_type = err.error_type(), error = %err, "invocation failed");
    err
}
