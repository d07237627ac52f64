//! Signed approvals: the approve function's URL (`AuthType: AWS_IAM`) is read from Lambda
//! (`GetFunctionUrlConfig`) unless `--approval-url` names it, and the approval is POSTed to it
//! signed with the caller's credentials (`deployer::cli::signed_headers`), so the record names
//! who approved.

use std::time::Duration;

use aws_credential_types::provider::ProvideCredentials;
use deployer::aws::signed_post::{hyper_client, post, SignedPost};
use deployer::cli::{self, Options};
use serde_json::Value;

use crate::{failed_with, Invoked};

/// The approve function's URL: `--approval-url`, else its function URL as Lambda reports it.
pub async fn approval_url(client: &aws_sdk_lambda::Client, options: &Options) -> Result<String, String> {
    if let Some(url) = &options.approval_url {
        return Ok(url.clone());
    }
    let function = options.approve_function_name();
    let config = client
        .get_function_url_config()
        .function_name(&function)
        .send()
        .await
        .map_err(|err| {
            format!(
                "reading the URL of {function} failed: {}",
                aws_sdk_lambda::error::DisplayErrorContext(err)
            )
        })?;
    let url = config.function_url().to_owned();
    cli::check_approval_url(&url)?;
    Ok(url)
}

/// POSTs `payload` to `url`, signed with the caller's credentials and region (`sdk`): what the
/// function answered, or Lambda's refusal of the request.
pub async fn send_signed(sdk: &aws_config::SdkConfig, url: &str, payload: &Value) -> Result<Invoked, String> {
    let region = sdk
        .region()
        .map(ToString::to_string)
        .ok_or("no AWS region: give --region or set AWS_REGION")?;
    let credentials = sdk
        .credentials_provider()
        .ok_or("no AWS credentials to sign the approval with")?
        .provide_credentials()
        .await
        .map_err(|err| format!("no AWS credentials to sign the approval with: {err}"))?;
    let body = payload.to_string();
    let request = SignedPost {
        service: "lambda",
        region: &region,
        url,
        content_type: cli::JSON,
        body: &body,
        user_agent: Some(concat!("ecs-deployer/", env!("CARGO_PKG_VERSION"))),
    };
    let client = hyper_client(Some(Duration::from_secs(10)));
    // The approval deploys: it answers within the function's timeout (at most 15 minutes).
    let (status, body) = tokio::time::timeout(Duration::from_secs(900), post(&client, request, &credentials))
        .await
        .map_err(|_| format!("{url} did not answer within 15 minutes"))??;
    Ok(match cli::url_answer(status, &body) {
        Ok(answer) => Invoked {
            answer: Some(answer),
            error: None,
        },
        Err((error_type, message)) => failed_with(error_type, message),
    })
}
