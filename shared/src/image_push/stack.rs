//! The jobs' top futures stay small: an async function's state holds every future it awaits
//! inline, and they run on 2 MiB threads (tokio's workers in Lambda; the test threads get 4 MiB,
//! `.cargo/config.toml`, for a debug build's deeper frames). The
//! settle run awaits a dozen passes, each boxed (a debug build's settle run that templates,
//! deploys and promotes overflowed a test thread before); this test prints the sizes and fails
//! when one grows past a tenth of such a thread.

use std::time::SystemTime;

use super::{follow, handle, Clients};
use crate::input::config::Config;
use crate::input::events::ImagePushRequest;
use crate::job::{Invocation, Job, Settings};

/// Bytes a job's top future may take (a tenth of a 2 MiB thread).
const MAX_FUTURE_BYTES: usize = 200 * 1024;

fn offline_clients() -> Clients {
    let config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("ap-northeast-1"))
        .build();
    super::ImagePush::clients(&config)
}

#[test]
fn the_settle_run_and_a_request_fit_a_small_stack() {
    let clients = offline_clients();
    let config = Config::parse(r#"{"apps": []}"#, "test").unwrap();
    let settings = Settings::default();
    let invocation = Invocation::local();
    let settle = follow::settle(&clients, &config, &settings, &invocation, SystemTime::now());
    let request = ImagePushRequest::Settle;
    let handled = handle(&clients, &config, &request, &settings, &invocation);
    let sizes = [std::mem::size_of_val(&settle), std::mem::size_of_val(&handled)];
    println!("settle future: {} bytes, handle future: {} bytes", sizes[0], sizes[1]);
    assert!(sizes.iter().all(|s| *s < MAX_FUTURE_BYTES), "{sizes:?}");
}
