//! This machine as the tests see it: the repository's paths, free loopback ports, log files.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;

/// The repository root (where `.venv` lives).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A free TCP port on loopback (bound, then released for the child to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Whether the process `leader`, or a process of its group, holds the socket listening on
/// `127.0.0.1:port`. A child told to listen on a port that another test's server took in the
/// meantime (ports are found free, released, then bound) fails to bind, but until it exits that
/// other server answers in its place: a readiness check that only connects would then take it
/// for the child, and two tests would share one server. Linux's `/proc` names the owner.
pub fn owns_listener(leader: u32, port: u16) -> bool {
    let inodes = listening_inodes(port);
    if inodes.is_empty() {
        return false;
    }
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return false;
    };
    processes
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid == leader || process_group(pid) == Some(leader))
        .any(|pid| holds_any_socket(pid, &inodes))
}

/// Inodes of the IPv4 sockets in LISTEN state (`0A`) on `127.0.0.1:port`.
fn listening_inodes(port: u16) -> Vec<String> {
    let local = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl, local_address, rem_address, st, tx:rx, tr:when, retrnsmt, uid, timeout, inode
            (fields.len() > 9 && fields[1] == local && fields[3] == "0A").then(|| fields[9].to_string())
        })
        .collect()
}

/// The process group of `pid` (field 5 of `/proc/PID/stat`, the third after the name).
fn process_group(pid: u32) -> Option<u32> {
    stat_fields(pid).get(2)?.parse().ok()
}

/// The fields of `/proc/PID/stat` after the command name (which may hold spaces and
/// parentheses, so they start after the last `)`): field 3 of the line is the first. Empty when
/// the process is gone.
pub fn stat_fields(pid: u32) -> Vec<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some((_, after_name)) = stat.rsplit_once(')') else {
        return Vec::new();
    };
    after_name.split_whitespace().map(str::to_owned).collect()
}

fn holds_any_socket(pid: u32, inodes: &[String]) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| target.to_str().map(str::to_owned))
        .any(|target| inodes.iter().any(|inode| target == format!("socket:[{inode}]")))
}

/// A log file under `target/test-logs/` for a child's output, kept for post-mortems.
pub fn log_file(name: &str) -> Stdio {
    std::fs::File::create(log_path(name))
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
}

/// The path of `target/test-logs/<name>` (the folder made if missing).
pub fn log_path(name: &str) -> PathBuf {
    let dir = repo_root().join("target/test-logs");
    let _ = std::fs::create_dir_all(&dir);
    dir.join(name)
}

/// `PATH` with the project's `.venv/bin` (cargo-lambda, zig) first.
pub fn path_with_venv() -> String {
    let venv = repo_root().join(".venv/bin");
    format!("{}:{}", venv.display(), std::env::var("PATH").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_is_owned_by_its_process_and_not_by_another() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(owns_listener(std::process::id(), port));
        // Another process, leading a group of its own, does not hold it.
        let mut command = std::process::Command::new("sleep");
        command.arg("30");
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut other = command.spawn().unwrap();
        let owned_by_other = owns_listener(other.id(), port);
        let _ = other.kill();
        let _ = other.wait();
        assert!(!owned_by_other);
        drop(listener);
        assert!(!owns_listener(std::process::id(), port));
    }
}
