//! The integration tests, one module per topic, in one test binary: each test binary links the
//! whole AWS SDK, so one binary instead of seven saves six links on every build.
//!
//! Each test starts its own emulator (moto server) on a free loopback port and stops it: tests
//! count the AWS calls with moto's server-wide request recorder, so they cannot share one. The
//! servers are forked from one process that imported moto once (`devkit/emulator/zygote.rs`), and
//! a server is taken as ready only once its own process listens on its port (`isolation.rs`).
//! `iam_policy::template_grants_each_function_exactly_what_the_tests_called` is `#[ignore]`d: it reads the
//! call ledger the other tests leave, so `make test` runs it afterwards.

mod accounts;
mod approvals;
mod cli;
mod cli_approval;
mod containers;
mod deploy_truth;
mod dns;
mod docs;
mod express;
mod faults;
mod gate;
mod grants;
mod groups;
mod hardening;
mod iam_policy;
mod image_push;
mod image_tags;
mod isolation;
mod lambda_runtime;
mod lifecycle;
mod native;
mod nlb_sync;
mod overlap;
mod promotion;
mod queue;
mod retention;
mod schedules;
mod service_sync;
mod template;
mod terraform;
mod throttling;
