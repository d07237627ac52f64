//! Functions run through cargo-lambda's local Lambda runtime (`cargo lambda watch`), the real
//! Runtime API that the functions' `lambda_runtime` loop talks to.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::host::{free_port, log_file, owns_listener, path_with_venv, repo_root};

/// A `cargo lambda watch` server for one function package; stopped (with the function
/// process it started) on drop.
pub struct LambdaWatch {
    child: Child,
    /// Loopback port that takes invokes.
    pub port: u16,
}

impl LambdaWatch {
    /// Starts the runtime emulator for `package` with `env` set for the function, on another
    /// port when the one found free was taken before it could listen.
    pub fn start(package: &str, env: &[(String, String)]) -> LambdaWatch {
        for _attempt in 0..5 {
            let mut watch = LambdaWatch::spawn(package, env, free_port());
            if watch.wait_listening(Duration::from_secs(60)) {
                return watch;
            }
        }
        panic!("cargo lambda watch for {package} did not listen on loopback");
    }

    fn spawn(package: &str, env: &[(String, String)], port: u16) -> LambdaWatch {
        let mut command = cargo();
        command
            .current_dir(repo_root())
            .env("PATH", path_with_venv())
            .args([
                "lambda",
                "watch",
                "--quiet",
                "--ignore-changes",
                "-A",
                "127.0.0.1",
                "-P",
                &port.to_string(),
                "-p",
                package,
            ])
            .stdout(Stdio::null())
            .stderr(log_file(&format!("cargo-lambda-watch-{package}-{port}.log")));
        // The function process inherits these (`--env-var` would split JSON values at commas).
        command.envs(env.iter().map(|(k, v)| (k, v)));
        // Its own process group, so that drop stops cargo-lambda and the function it spawned.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command
            .spawn()
            .expect("cargo lambda watch starts (is .venv/bin on PATH?)");
        LambdaWatch { child, port }
    }

    /// Waits until a process of this watch's group listens on its port (not merely until the
    /// port answers: see `owns_listener`); false when it exited or the limit passed.
    fn wait_listening(&mut self, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if owns_listener(self.child.id(), self.port) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// `cargo lambda invoke FUNCTION --data-file FILE`: the function's JSON answer, or the error
    /// text when the invocation failed.
    pub fn invoke_file(&self, function: &str, data_file: &Path) -> Result<serde_json::Value, String> {
        let output = self.invoke(function, &["--data-file", data_file.to_str().expect("UTF-8 path")]);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            serde_json::from_str(&stdout).map_err(|e| format!("answer is not JSON ({e}): {stdout}"))
        } else {
            Err(format!("{stdout}{}", String::from_utf8_lossy(&output.stderr)))
        }
    }

    fn invoke(&self, function: &str, data: &[&str]) -> Output {
        cargo()
            .current_dir(repo_root())
            .env("PATH", path_with_venv())
            .args([
                "lambda",
                "invoke",
                function,
                "-A",
                "127.0.0.1",
                "-P",
                &self.port.to_string(),
                "--output-format",
                "json",
            ])
            .args(data)
            .output()
            .expect("cargo lambda invoke runs")
    }
}

impl Drop for LambdaWatch {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// The debug build of a function's binary (`target/debug/<function>`), built first if needed (as
/// `make test` does before the tests, in which case this is a no-op).
pub fn function_binary(function: &str) -> std::path::PathBuf {
    let status = cargo()
        .current_dir(repo_root())
        .args(["build", "--locked", "--quiet", "-p", function])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build -p {function} failed");
    repo_root().join("target/debug").join(function)
}

/// `cargo` without the variables cargo sets for a running test (`CARGO_MANIFEST_DIR`,
/// `CARGO_PKG_*`, ...): some build scripts (ring's) watch them, and a build that sees them would
/// rebuild those crates, and everything above them, for this build and again for the next one.
fn cargo() -> Command {
    let mut command = Command::new("cargo");
    for (name, _) in std::env::vars() {
        let set_for_tests = name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_BIN_EXE_")
            || matches!(
                name.as_str(),
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
            );
        if set_for_tests {
            command.env_remove(name);
        }
    }
    command
}
