//! `ecs-deployer`, the command line: what it reads from its arguments, the payloads it sends
//! to image-push, what it prints and how it waits (all pure; the binary in `cli/` invokes the
//! function and reads files).

mod approval;
mod args;
mod params;
mod render;
#[cfg(test)]
mod tests;
pub mod wait;

pub use approval::{approval_hint, check_approval_url, is_unsigned_refusal, url_answer, JSON};
pub use args::{parse_args, Command, Options, Output};
pub use params::{parameters_text, stack_parameters, Parameter};
pub use render::{ago, answer_in_failure, exit_code, history_table, render, results_lines, status_table};

/// `ecs-deployer help`.
pub const USAGE: &str = "\
ecs-deployer: deploys, status and approvals of the serverless ECS deployer, through its functions

Usage: ecs-deployer <command> [options]

Commands:
  status [APP]                       a table: app, digest, outcome, since, via
  history APP                        the application's recent deploys
  deploy APP --tag T | --digest D | --revision N [--digest D] [--override]
  rollback APP [--revision N] [--force]
  promote APP [--digest D]
  approve APP DIGEST [--approval-url URL]
                                     with `approvers` set, signed (SigV4) to the approve
                                     function's URL, read from <stack>-approve unless given
  continue APP | abort APP           answer a deploy paused at a lifecycle hook
  config validate FILE               offline: the functions' own validation of a configuration
  config params FILE                 offline: the stack parameters the configuration needs
  config schema                      the configuration's JSON Schema

Options:
  --dry-run                 plan only (deploy, rollback, promote)
  --wait                    follow the deploys started until they end (progress on stderr)
  --interval SECONDS        between two looks while waiting (default 10)
  --timeout MINUTES         waited at most (default 60)
  -o, --output text|json    human output (default) or the function's answer as JSON
  --stack NAME              the stack: invokes <NAME>-image-push (default ecs-deployer)
  --function NAME           the function invoked instead
  --profile P, --region R   AWS profile and region (default: the environment's)
  --endpoint-url URL        another Lambda endpoint (a local one)
  --by WHO                  who asks, kept in the records (default: your login name)

Exit codes: 0 went through; 1 a deploy failed (or, waiting, did not complete); 2 refused
(payload, configuration, usage); 3 put off by AWS throttling (run it again); 4 still rolling
out when --timeout ran out.
";
