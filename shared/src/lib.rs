//! Library of the serverless ECS deployer.
//!
//! Laid out by what things are, imports going one way (down this list; `make lint` checks it):
//!
//! - [`lambda`]: the runtime glue every function calls; [`cli`]: what the `ecs-deployer`
//!   command line reads, sends and prints.
//! - one module per function (job): [`image_push`], [`service_sync`], [`nlb_sync`], each with
//!   the same steps and names: `select` → `observe` → `plan` (pure) → `apply`, reporting
//!   `Report`s with an `Outcome` in an `Answer`. Jobs never import each other.
//! - what jobs share: [`job`] (the [`job::Job`] trait, answer, settings), [`lease`],
//!   [`ownership`] (how the deployer marks what it made), [`error`] (failures with a stable
//!   `errorType`).
//! - [`input`]: the configuration, events and payloads users and AWS send.
//! - [`aws`]: one adapter per AWS service (and DNS).
//! - [`glob`], [`telemetry`]: small helpers.

pub mod aws;
pub mod cli;
pub mod error;
pub mod glob;
pub mod image_push;
pub mod input;
pub mod job;
pub mod lambda;
pub mod lease;
pub mod nlb_sync;
pub mod notify;
pub mod ownership;
pub mod records;
pub mod service_sync;
pub mod telemetry;
#[cfg(test)]
mod testing;

pub use aws::AwsClients;
pub use error::InvokeError;
pub use input::config::Config;
pub use input::InputError;
