//! `ecs-deployer`: the deployer's command line. It reads its arguments and prints through the
//! library (`deployer::cli`), checks a configuration offline with the functions' own
//! validation, and otherwise invokes the deployed image-push function with the caller's AWS
//! credentials, so IAM on `lambda:InvokeFunction` decides who may do what.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use aws_config::BehaviorVersion;
use deployer::cli::{self, wait, Command, Options, Output};
use serde_json::Value;

mod approval_url;

/// Exit code of a deploy still rolling out when `--timeout` ran out.
const STILL_RUNNING: u8 = 4;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, mut options) = match cli::parse_args(&args) {
        Ok(parsed) => parsed,
        Err(err) => {
            eprintln!("ecs-deployer: {err}");
            return ExitCode::from(2);
        }
    };
    options.color =
        options.output == Output::Text && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    if options.by.is_none() {
        options.by = std::env::var("USER").ok().filter(|u| !u.is_empty());
    }
    match &command {
        Command::Help => {
            print!("{}", cli::USAGE);
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("ecs-deployer {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Schema => {
            print!("{}", deployer::input::config::config_schema_text());
            ExitCode::SUCCESS
        }
        Command::ValidateConfig(file) => validate(file, false),
        Command::Params(file) => validate(file, true),
        _ => remote(&command, &options).await,
    }
}

/// `config validate FILE`: the very validation the functions run, with its path-precise
/// messages; `config params FILE` (`params`): then the stack parameters it needs.
fn validate(file: &str, params: bool) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("ecs-deployer: {file}: {err}");
            return ExitCode::from(2);
        }
    };
    match deployer::Config::parse(&text, file) {
        Ok(config) if params => {
            print!("{}", cli::parameters_text(file, &cli::stack_parameters(&config)));
            ExitCode::SUCCESS
        }
        Ok(config) => {
            println!("{file}: valid ({} application(s))", config.apps.len());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{file}: {} problem(s)", err.problems.len());
            for problem in &err.problems {
                eprintln!("  {}: {}", problem.path, problem.message);
            }
            ExitCode::from(2)
        }
    }
}

/// What one invocation answered: the function's answer, and its `errorType` when it failed.
struct Invoked {
    answer: Option<Value>,
    error: Option<(String, String)>,
}

/// The caller's AWS configuration (profile, region, credentials) for the Lambda calls.
async fn sdk_config(options: &Options) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(deployer::aws::https_client())
        // A deploy answers within the function's timeout (at most 15 minutes).
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .read_timeout(Duration::from_secs(900))
                .build(),
        )
        .app_name(aws_config::AppName::new("ecs-deployer-cli").expect("a valid app name"))
        // image-push runs one invocation at a time (reserved concurrency 1): a command that
        // meets a push in flight is throttled (429, the function did not run) and tried again.
        // A local endpoint (cargo-lambda) answers a function's error with a 500, which must
        // not be sent again.
        .retry_config(match options.endpoint_url {
            Some(_) => aws_config::retry::RetryConfig::disabled(),
            None => aws_config::retry::RetryConfig::standard().with_max_attempts(6),
        });
    if let Some(profile) = &options.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &options.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(url) = &options.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

async fn invoke(client: &aws_sdk_lambda::Client, options: &Options, payload: &Value) -> Result<Invoked, String> {
    let function = options.function_name();
    let output = client
        .invoke()
        .function_name(&function)
        .payload(aws_sdk_lambda::primitives::Blob::new(payload.to_string()))
        .send()
        .await
        .map_err(|err| {
            // Lambda answers a function's error with 200 and `X-Amz-Function-Error`; a local
            // endpoint (cargo-lambda) with a 500 whose body is the same error document.
            let body = err.raw_response().and_then(|raw| raw.body().bytes());
            match body.and_then(|body| serde_json::from_slice::<Value>(body).ok()) {
                Some(error) if error["errorType"].is_string() => Ok(error),
                _ => Err(format!(
                    "invoking {function} failed: {}",
                    aws_sdk_lambda::error::DisplayErrorContext(err)
                )),
            }
        });
    let output = match output {
        Ok(output) => output,
        Err(Ok(error)) => return Ok(failed(&error)),
        Err(Err(err)) => return Err(err),
    };
    let body: Value = output
        .payload()
        .map(|blob| serde_json::from_slice(blob.as_ref()).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    if output.function_error().is_none() {
        return Ok(Invoked {
            answer: Some(body),
            error: None,
        });
    }
    Ok(failed(&body))
}

/// An invocation that failed, from its error document (`errorType`, `errorMessage`).
fn failed(error: &Value) -> Invoked {
    let error_type = error["errorType"].as_str().unwrap_or("Unhandled");
    failed_with(
        error_type.to_owned(),
        error["errorMessage"].as_str().unwrap_or_default().to_owned(),
    )
}

/// An invocation that failed with `error_type` and `message` (which may hold the answer).
fn failed_with(error_type: String, message: String) -> Invoked {
    Invoked {
        answer: cli::answer_in_failure(&message),
        error: Some((error_type, message)),
    }
}

/// `status` of one application.
async fn status_of(client: &aws_sdk_lambda::Client, options: &Options, app: &str) -> Result<Invoked, String> {
    let payload = Command::Status(Some(app.to_owned())).payload(options)?;
    invoke(client, options, &payload.expect("status is sent to the function")).await
}

/// Prints `invoked` for `command` and says which exit code it stands for.
fn show(command: &Command, options: &Options, invoked: &Invoked) -> u8 {
    if let Some(answer) = &invoked.answer {
        match options.output {
            Output::Json => println!("{answer}"),
            Output::Text => println!("{}", cli::render(command, answer, SystemTime::now(), options.color)),
        }
    }
    if let Some((error_type, message)) = &invoked.error {
        let shown = message.split("; answer: ").next().unwrap_or(message);
        eprintln!("ecs-deployer: {error_type}: {shown}");
    }
    cli::exit_code(invoked.error.as_ref().map(|(t, _)| t.as_str())) as u8
}

async fn remote(command: &Command, options: &Options) -> ExitCode {
    let payload = match command.payload(options) {
        Ok(Some(payload)) => payload,
        Ok(None) => unreachable!("offline commands are answered in main"),
        Err(err) => {
            eprintln!("ecs-deployer: {err}");
            return ExitCode::from(2);
        }
    };
    let sdk = sdk_config(options).await;
    let client = aws_sdk_lambda::Client::new(&sdk);
    let invoked = match send(&client, &sdk, command, options, &payload).await {
        Ok(invoked) => invoked,
        Err(err) => {
            eprintln!("ecs-deployer: {err}");
            return ExitCode::from(2);
        }
    };
    let code = show(command, options, &invoked);
    if code != 0 || !options.wait || options.dry_run {
        return ExitCode::from(code);
    }
    let Some(answer) = &invoked.answer else {
        return ExitCode::from(code);
    };
    let mut waiting = wait::started_deploys(answer);
    // Already running or deploying the image: the deploy that brings it (a push's) is followed.
    for (app, image) in wait::unchanged_images(answer) {
        if let Ok(Invoked {
            answer: Some(status), ..
        }) = status_of(&client, options, &app).await
        {
            waiting.extend(wait::in_progress_with(&status, &image).map(|id| (app, id)));
        }
    }
    ExitCode::from(follow(&client, options, waiting).await)
}

/// Sends `payload` for `command`: by invoking image-push, except an approval that must be signed
/// (`--approval-url` given, or image-push refused it unsigned because `approvers` is set), which
/// goes to the approve function's URL signed with the caller's credentials.
async fn send(
    client: &aws_sdk_lambda::Client,
    sdk: &aws_config::SdkConfig,
    command: &Command,
    options: &Options,
    payload: &Value,
) -> Result<Invoked, String> {
    let approval = matches!(command, Command::Approve { .. });
    if !(approval && options.approval_url.is_some()) {
        let invoked = invoke(client, options, payload).await?;
        let unsigned = invoked.error.as_ref().is_some_and(|(_, m)| cli::is_unsigned_refusal(m));
        if !(approval && unsigned) {
            return Ok(invoked);
        }
    }
    let url = match approval_url::approval_url(client, options).await {
        Ok(url) => url,
        Err(err) => {
            eprintln!("ecs-deployer: {err}\n{}", cli::approval_hint(payload));
            return Ok(failed_with(
                "ApprovalNotSigned".into(),
                "the approval must be signed through the approve function's URL, which could not be read".into(),
            ));
        }
    };
    eprintln!("ecs-deployer: approvals are signed here: sending it signed to {url}");
    approval_url::send_signed(sdk, &url, payload).await
}

/// `--wait`: asks `status` of each started deploy's application every `--interval` until each
/// has ended (progress on stderr); 0 when all completed, 1 when one did not, 4 when
/// `--timeout` ran out first.
async fn follow(client: &aws_sdk_lambda::Client, options: &Options, mut waiting: Vec<(String, String)>) -> u8 {
    let deadline = Instant::now() + Duration::from_secs(options.timeout_minutes * 60);
    let mut code = 0;
    while !waiting.is_empty() {
        if Instant::now() >= deadline {
            for (app, id) in &waiting {
                eprintln!(
                    "{app}: deploy {id} still rolling out after {} min",
                    options.timeout_minutes
                );
            }
            return STILL_RUNNING;
        }
        tokio::time::sleep(Duration::from_secs(options.interval_seconds)).await;
        let mut still = Vec::new();
        for (app, id) in waiting {
            let answer = match status_of(client, options, &app).await {
                Ok(Invoked {
                    answer: Some(answer),
                    error: None,
                }) => answer,
                Ok(Invoked { error, .. }) => {
                    eprintln!("{app}: status failed ({:?}); asking again", error.map(|e| e.0));
                    still.push((app, id));
                    continue;
                }
                Err(err) => {
                    eprintln!("{app}: {err}; asking again");
                    still.push((app, id));
                    continue;
                }
            };
            match wait::progress(&answer, &id) {
                wait::Progress::Running(line) => {
                    eprintln!("{app}: {line}");
                    still.push((app, id));
                }
                wait::Progress::Ended { outcome, reason } => {
                    let why = reason.map(|r| format!(": {r}")).unwrap_or_default();
                    match options.output {
                        Output::Json => println!(
                            "{}",
                            serde_json::json!({"app": app, "deploy_id": id, "outcome": outcome})
                        ),
                        Output::Text => println!("{app}: deploy {id} {outcome}{why}"),
                    }
                    if !wait::went_well(&outcome) {
                        code = 1;
                    }
                }
                wait::Progress::Unknown => {
                    eprintln!("{app}: deploy {id} is no longer in the records");
                    code = 1;
                }
            }
        }
        waiting = still;
    }
    code
}
