//! Child processes for the benchmarks that run the service and the emulator as processes: spawn
//! and stop them, wait for their port, read their RSS and CPU time from `/proc`, and talk to the
//! emulator's control surface.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A child process, stopped with SIGTERM (then killed) when asked.
pub(crate) struct Process {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Process {
    pub(crate) fn spawn(name: &'static str, cmd: &mut Command, dir: &Path) -> anyhow::Result<Self> {
        let log = dir.join(format!("{name}.log"));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()?;
        Ok(Process { name, child, log })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn stop(mut self) {
        self.stop_mut();
    }

    pub(crate) fn stop_mut(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        eprintln!("{} did not stop on SIGTERM; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub(crate) fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!(
                "{} exited ({status}): {}",
                self.name,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            )),
            _ => None,
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub(crate) async fn wait_for_port(addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    anyhow::bail!("nothing listens on {addr} after 10 s")
}

/// A `kB` field of `/proc/PID/status` (`VmRSS`, `VmHWM`).
pub(crate) fn proc_status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix(field)?.strip_prefix(':')?;
            rest.trim().trim_end_matches("kB").trim().parse().ok()
        })
        .ok_or_else(|| anyhow::anyhow!("no {field} in /proc/{pid}/status"))
}

/// User + system CPU seconds of `/proc/<pid>/stat` (`pid` may be `self`).
pub(crate) fn cpu_seconds(pid: &str) -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    let ticks = *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    });
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name: state is the first; utime and stime the 12th and 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (field(11) + field(12)) / ticks
}

/// One HTTP/1.1 request to the emulator's control surface; the body of a 200 answer.
pub(crate) async fn control(
    addr: SocketAddr,
    method: &str,
    path: &str,
    form: &str,
) -> anyhow::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\n\
         content-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{form}",
        form.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    anyhow::ensure!(
        head.starts_with("HTTP/1.1 200"),
        "{method} {path}: {answer}"
    );
    Ok(body.to_owned())
}

/// The emulator as a child process whose resources settle at once, listening and seeded (one
/// cache, the snapshots of `common::seed`); the process, its address and an SDK client for it.
pub(crate) async fn seeded_emulator(
    dir: &Path,
) -> anyhow::Result<(Process, SocketAddr, aws_sdk_elasticache::Client)> {
    let addr = crate::common::free_port()?;
    let emulator = Process::spawn(
        "emulator",
        Command::new(crate::common::bin()).args([
            "emulator",
            "--listen",
            &addr.to_string(),
            "--settle-ms",
            "0",
        ]),
        dir,
    )?;
    wait_for_port(addr).await?;
    let sdk = elasticache_grpc::startup::static_client(&format!("http://{addr}"));
    crate::common::seed(&sdk).await?;
    Ok((emulator, addr, sdk))
}

/// Calls the emulator has answered, summed over `actions`.
pub(crate) async fn emulator_calls_of(addr: SocketAddr, actions: &[&str]) -> anyhow::Result<u64> {
    let body = control(addr, "GET", "/_emulator/calls", "").await?;
    Ok(body
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(action, _)| actions.contains(action))
        .filter_map(|(_, n)| n.trim().parse::<u64>().ok())
        .sum())
}
