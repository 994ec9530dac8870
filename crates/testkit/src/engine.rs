//! A private Docker engine for tests: `dockerd` on its own socket, data root and exec root in
//! a temporary directory, no iptables and no bridge (containers run with `--network none`).
//! Stopped, and its files removed, when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running private `dockerd`.
pub struct Dockerd {
    child: Child,
    dir: tempfile::TempDir,
}

impl Dockerd {
    /// Starts an engine, or `None` when `dockerd` is not installed (outside CI; in CI a
    /// missing engine is a failure, never a skip).
    pub fn start() -> Option<Dockerd> {
        // In CI a missing engine is a failure, never a skip (`have` asserts it).
        if !(crate::have("dockerd") && crate::have("docker")) {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("dockerd-")
            .tempdir()
            .expect("engine directory");
        let d = dir.path();
        let log = fs_err::File::create(d.join("log"))
            .expect("engine log")
            .into_parts()
            .0;
        let child = Command::new("dockerd")
            .arg("--data-root")
            .arg(d.join("root"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("-H")
            .arg(format!("unix://{}", d.join("sock").display()))
            .arg("--pidfile")
            .arg(d.join("pid"))
            .args(["--iptables=false", "--bridge=none"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        let engine = Dockerd { child, dir };
        let deadline = Instant::now() + Duration::from_mins(1);
        while !engine
            .docker()
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            assert!(
                Instant::now() < deadline,
                "dockerd did not answer within 60 s: {}",
                fs_err::read_to_string(engine.dir.path().join("log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        Some(engine)
    }

    /// A `docker` command talking to this engine.
    pub fn docker(&self) -> Command {
        let mut cmd = Command::new("docker");
        cmd.env("DOCKER_HOST", format!("unix://{}", self.socket().display()))
            .env("DOCKER_CONFIG", self.dir.path().join("client"))
            .stdin(Stdio::null());
        cmd
    }

    /// The engine's socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    /// Runs `docker ARGS…` and returns its standard output; panics with its error otherwise.
    pub fn run(&self, args: &[&str]) -> String {
        let out = self.docker().args(args).output().expect("run docker");
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SIGTERM lets dockerd stop its containers and unmount its layers before the
        // directory is removed.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Overlay mounts under the data root would make the removal fail.
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "grep -o ' {}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l",
                self.dir.path().display()
            ))
            .status();
    }
}
