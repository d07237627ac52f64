//! The command line of `ecs-deployer`: a command and its options, read from the arguments
//! (pure), and the manual payload each command sends to image-push.

use serde_json::{json, Value};

use crate::input::events::parse_image_push;

/// What `ecs-deployer` is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `status [APP]`: a table of every application (or one).
    Status(Option<String>),
    /// `history APP`: the application's recent deploys.
    History(String),
    /// `deploy APP --tag T | --digest D | --revision N [--digest D] [--override]`.
    Deploy {
        /// Application.
        app: String,
        /// `tag`, `digest` and `revision` as the payload names them.
        target: Vec<(&'static str, Value)>,
        /// Deploy around a promotion gate (`override`).
        override_gate: bool,
    },
    /// `rollback APP [--revision N] [--force]`.
    Rollback {
        /// Application.
        app: String,
        /// The revision of the family to go back to (none: the last good).
        revision: Option<i32>,
        /// Go back even to a revision that names its image by tag.
        force: bool,
    },
    /// `promote APP [--digest D]`.
    Promote {
        /// Application promoted to.
        app: String,
        /// The source's completed digest to promote (none: its newest).
        digest: Option<String>,
    },
    /// `approve APP DIGEST`.
    Approve {
        /// Application.
        app: String,
        /// The pending digest approved.
        digest: String,
    },
    /// `continue APP`: a deploy paused at a lifecycle hook goes on.
    Continue(String),
    /// `abort APP`: a deploy paused at a lifecycle hook rolls back.
    Abort(String),
    /// `config validate FILE`: offline, the functions' own validation.
    ValidateConfig(String),
    /// `config params FILE`: offline, the stack parameters the configuration needs.
    Params(String),
    /// `config schema`: the configuration's JSON Schema.
    Schema,
    /// `help`, `--help`, `-h`.
    Help,
    /// `--version`.
    Version,
}

/// How the answer is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Tables and lines for people.
    Text,
    /// The functions' answers as JSON, for scripts.
    Json,
}

/// The options every command takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The stack's name: functions are `<stack>-image-push` (default `ecs-deployer`).
    pub stack: String,
    /// The function invoked instead of `<stack>-image-push`.
    pub function: Option<String>,
    /// AWS region (default: the profile's).
    pub region: Option<String>,
    /// AWS profile (default: the environment's).
    pub profile: Option<String>,
    /// Another Lambda endpoint (a local one).
    pub endpoint_url: Option<String>,
    /// Text or JSON.
    pub output: Output,
    /// Plan only.
    pub dry_run: bool,
    /// Follow a started deploy until it ends.
    pub wait: bool,
    /// Seconds between two looks while waiting.
    pub interval_seconds: u64,
    /// Minutes waited at most.
    pub timeout_minutes: u64,
    /// Who asks, kept in the records (default: the user's login name).
    pub by: Option<String>,
    /// Colour in text output.
    pub color: bool,
    /// The approve function's URL signed approvals go to (default: read from the function).
    pub approval_url: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            stack: "ecs-deployer".into(),
            function: None,
            region: None,
            profile: None,
            endpoint_url: None,
            output: Output::Text,
            dry_run: false,
            wait: false,
            interval_seconds: 10,
            timeout_minutes: 60,
            by: None,
            color: false,
            approval_url: None,
        }
    }
}

impl Options {
    /// The function the commands invoke.
    pub fn function_name(&self) -> String {
        self.function
            .clone()
            .unwrap_or_else(|| format!("{}-image-push", self.stack))
    }
}

/// Reads the arguments (without the program's name). The error says what was expected.
pub fn parse_args(args: &[String]) -> Result<(Command, Options), String> {
    let mut options = Options::default();
    let mut words: Vec<&str> = Vec::new();
    let (mut tag, mut digest, mut revision) = (None, None, None);
    let (mut override_gate, mut force) = (false, false);
    let mut rest = args.iter().map(String::as_str);
    while let Some(arg) = rest.next() {
        let mut value = |name: &str| rest.next().map(str::to_owned).ok_or(format!("{name} expects a value"));
        match arg {
            "--stack" => options.stack = value(arg)?,
            "--function" => options.function = Some(value(arg)?),
            "--region" => options.region = Some(value(arg)?),
            "--profile" => options.profile = Some(value(arg)?),
            "--endpoint-url" => options.endpoint_url = Some(value(arg)?),
            "--by" => options.by = Some(value(arg)?),
            "--approval-url" => {
                let url = value(arg)?;
                super::check_approval_url(&url)?;
                options.approval_url = Some(url);
            }
            "--output" | "-o" => {
                options.output = match value(arg)?.as_str() {
                    "json" => Output::Json,
                    "text" => Output::Text,
                    other => return Err(format!("--output expects `text` or `json`, got `{other}`")),
                }
            }
            "--interval" => options.interval_seconds = number(arg, &value(arg)?, 1, 3600)?,
            "--timeout" => options.timeout_minutes = number(arg, &value(arg)?, 1, 1440)?,
            "--tag" => tag = Some(value(arg)?),
            "--digest" => digest = Some(value(arg)?),
            "--revision" => revision = Some(number(arg, &value(arg)?, 1, i32::MAX as u64)? as i32),
            "--dry-run" => options.dry_run = true,
            "--wait" => options.wait = true,
            "--override" => override_gate = true,
            "--force" => force = true,
            "--help" | "-h" => return Ok((Command::Help, options)),
            "--version" | "-V" => return Ok((Command::Version, options)),
            flag if flag.starts_with('-') => return Err(format!("unknown option `{flag}` (see `ecs-deployer help`)")),
            word => words.push(word),
        }
    }
    let app = |at: usize| {
        words
            .get(at)
            .map(|w| (*w).to_owned())
            .ok_or_else(|| format!("`{}` expects an application name", words[0]))
    };
    let command = match words.as_slice() {
        [] | ["help"] => Command::Help,
        ["status"] => Command::Status(None),
        ["status", name, ..] => Command::Status(Some((*name).to_owned())),
        ["history", ..] => Command::History(app(1)?),
        ["deploy", ..] => {
            let mut target: Vec<(&'static str, Value)> = Vec::new();
            target.extend(tag.take().map(|t| ("tag", json!(t))));
            target.extend(revision.take().map(|n| ("revision", json!(n))));
            target.extend(digest.take().map(|d| ("digest", json!(d))));
            Command::Deploy {
                app: app(1)?,
                target,
                override_gate,
            }
        }
        ["rollback", ..] => Command::Rollback {
            app: app(1)?,
            revision: revision.take(),
            force,
        },
        ["promote", ..] => Command::Promote {
            app: app(1)?,
            digest: digest.take(),
        },
        ["approve", name, digest, ..] => Command::Approve {
            app: (*name).to_owned(),
            digest: (*digest).to_owned(),
        },
        ["approve", ..] => return Err("`approve` expects an application name and the digest approved".into()),
        ["continue", ..] => Command::Continue(app(1)?),
        ["abort", ..] => Command::Abort(app(1)?),
        ["config", "validate", file, ..] => Command::ValidateConfig((*file).to_owned()),
        ["config", "params", file, ..] => Command::Params((*file).to_owned()),
        ["config", "schema", ..] => Command::Schema,
        ["config", ..] => return Err("`config` expects `validate FILE`, `params FILE` or `schema`".into()),
        [other, ..] => return Err(format!("unknown command `{other}` (see `ecs-deployer help`)")),
    };
    let most_words = match &command {
        Command::Status(None) | Command::Help | Command::Version => 1,
        Command::Approve { .. } | Command::ValidateConfig(_) | Command::Params(_) => 3,
        _ => 2,
    };
    if let Some(extra) = words.get(most_words) {
        return Err(format!("unexpected `{extra}`"));
    }
    if let Some(flag) = [
        ("--tag", tag.is_some()),
        ("--digest", digest.is_some()),
        ("--revision", revision.is_some()),
    ]
    .iter()
    .find_map(|(flag, left)| left.then_some(flag))
    {
        return Err(format!(
            "{flag} is not an option of `{}`",
            words.first().unwrap_or(&"help")
        ));
    }
    Ok((command, options))
}

fn number(flag: &str, text: &str, min: u64, max: u64) -> Result<u64, String> {
    text.parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or(format!(
            "{flag} expects a whole number from {min} to {max}, got `{text}`"
        ))
}

impl Command {
    /// The image-push payload this command sends (none for the offline commands), checked by
    /// image-push's own parser first: what it refuses is said before anything is invoked.
    pub fn payload(&self, options: &Options) -> Result<Option<Value>, String> {
        let (key, mut body) = match self {
            Command::Status(app) => ("status", app.as_ref().map_or(json!({}), |app| json!({"app": app}))),
            Command::History(app) => ("status", json!({"app": app})),
            Command::Deploy {
                app,
                target,
                override_gate,
            } => {
                let mut body = json!({"app": app});
                for (field, value) in target {
                    body[*field] = value.clone();
                }
                if *override_gate {
                    body["override"] = json!(true);
                }
                ("deploy", body)
            }
            Command::Rollback { app, revision, force } => {
                let mut body = json!({"app": app});
                if let Some(revision) = revision {
                    body["revision"] = json!(revision);
                }
                if *force {
                    body["force"] = json!(true);
                }
                ("rollback", body)
            }
            Command::Promote { app, digest } => {
                let mut body = json!({"app": app});
                if let Some(digest) = digest {
                    body["digest"] = json!(digest);
                }
                ("promote", body)
            }
            Command::Approve { app, digest } => ("approve", json!({"app": app, "digest": digest})),
            Command::Continue(app) => ("continue", json!({"app": app})),
            Command::Abort(app) => ("abort", json!({"app": app})),
            Command::ValidateConfig(_) | Command::Params(_) | Command::Schema | Command::Help | Command::Version => {
                return Ok(None)
            }
        };
        if body.is_null() {
            body = json!({});
        }
        let mut payload = json!({ key: body });
        let writes = !matches!(self, Command::Status(_) | Command::History(_));
        if writes {
            if let Some(by) = &options.by {
                payload["by"] = json!(by);
            }
            if options.dry_run {
                payload["dry_run"] = json!(true);
            }
        }
        parse_image_push(&payload).map_err(|err| err.to_string())?;
        Ok(Some(payload))
    }
}
