//! Library of the serverless ECS deployer.
//!
//! Every function works in three steps, and the modules follow them:
//! **observe** (the adapters [`ecr`], [`ecs`]), **plan** (pure functions in [`deploy`]) and
//! **apply** (the adapters again, driven by the plan). The binaries in `functions/` only parse
//! their event with [`events`], load the [`config`], call the library and shape the response.

pub mod apigw;
pub mod aws;
pub mod cloudmap;
pub mod config;
pub mod deploy;
pub mod dns;
pub mod ecr;
pub mod ecs;
pub mod error;
pub mod events;
pub mod glob;
pub mod lambda;
pub mod lease;
pub mod nlb;
pub mod state;
pub mod sync;
pub mod telemetry;
#[cfg(test)]
mod testing;

pub use aws::AwsClients;
pub use config::Config;
pub use error::{AwsError, InputError, InvokeError};
