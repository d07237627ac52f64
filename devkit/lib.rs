//! Development kit: runs the local AWS emulator (moto server) for tests and the demo, records
//! the AWS calls it receives, and builds small ECS/ECR worlds to deploy into.
//!
//! Nothing here is mocked: every call goes over HTTP to a real moto server started on a free
//! loopback port and stopped when the [`Emulator`] is dropped.

pub mod alb;
pub mod dns;
pub mod ecs_throttle;
pub mod emulator;
pub mod events;
pub mod faults;
pub mod host;
pub mod iam;
pub mod lambda;
pub mod lambda_front;
pub mod latency;
pub mod lifecycle;
pub mod runtime_api;
pub mod sqs_player;
pub mod world;

pub use emulator::{Call, Emulator};
