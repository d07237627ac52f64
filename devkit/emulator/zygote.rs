//! One Python process that imports moto, the test kit's changes to it and the services the tests
//! call, then forks every emulator of this test process from itself (`moto_server.py --zygote`).
//! A server started from scratch spends about 2 s of CPU importing before it answers; the suite
//! starts over a hundred, on two cores. Each forked server is a process of its own, with its own
//! state, port, recording and log: the isolation of one server per test is kept. The zygote stops
//! every server it forked when its stdin closes, which happens however this process ends.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

use crate::host::{log_file, repo_root};

struct Zygote {
    _process: Child,
    requests: ChildStdin,
    answers: BufReader<ChildStdout>,
}

static ZYGOTE: Mutex<Option<Zygote>> = Mutex::new(None);

/// Forks a moto server that listens on `port`, records to `recording` and logs to `log`: its
/// process id. A zygote that died is started again.
pub fn fork_server(port: u16, recording: &Path, log: &Path) -> u32 {
    let mut zygote = ZYGOTE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    for _attempt in 0..2 {
        let running = zygote.get_or_insert_with(Zygote::start);
        if let Some(pid) = running.fork(port, recording, log) {
            return pid;
        }
        *zygote = None;
    }
    panic!("the emulator's zygote (devkit/moto_server.py --zygote) does not answer: see target/test-logs/moto-zygote-*.log");
}

impl Zygote {
    fn start() -> Zygote {
        let python = repo_root().join(".venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run scripts/setup.sh (make setup) first",
            python.display()
        );
        let mut process = Command::new(python)
            .arg(repo_root().join("devkit/moto_server.py"))
            .arg("--zygote")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file(&format!("moto-zygote-{}.log", std::process::id())))
            .spawn()
            .expect("the emulator's zygote starts");
        Zygote {
            requests: process.stdin.take().expect("piped stdin"),
            answers: BufReader::new(process.stdout.take().expect("piped stdout")),
            _process: process,
        }
    }

    fn fork(&mut self, port: u16, recording: &Path, log: &Path) -> Option<u32> {
        writeln!(self.requests, "{port}\t{}\t{}", recording.display(), log.display()).ok()?;
        let mut line = String::new();
        self.answers.read_line(&mut line).ok()?;
        line.trim().parse().ok()
    }
}
