//! A real PostgreSQL server from Debian's packages (`initdb`, `postgres` on
//! the PATH), on 127.0.0.1 and a free port, in a data directory under a
//! fresh temporary directory; stopped by PID and removed on drop.
//!
//! PostgreSQL refuses to run as root: as root, both commands run as the
//! `postgres` user (`runuser`), which owns the temporary directory.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{SystemTime, UNIX_EPOCH},
};

use super::DEADLINE;

pub struct Postgres {
    child: Child,
    dir: PathBuf,
    pub port: u16,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// `program args…`, as the `postgres` user when we are root.
fn as_postgres(program: &str, root: bool) -> Command {
    if root {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--", program]);
        cmd
    } else {
        Command::new(program)
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Postgres {
    /// Creates a cluster with database `app` (user `app`, any password
    /// accepted) and waits until the server accepts connections.
    pub fn start() -> std::io::Result<Self> {
        let root = is_root();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("pg-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        if root {
            run(Command::new("chown").args(["postgres:postgres", &dir.to_string_lossy()]))?;
        }
        let data = dir.join("data");
        run(as_postgres("initdb", root)
            .args(["--no-sync", "--auth=trust", "--username=app", "-D"])
            .arg(&data))?;
        let port = free_port()?;
        let mut child = as_postgres("postgres", root)
            .arg("-D")
            .arg(&data)
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-k"])
            .arg(&dir)
            .args(["-c", "fsync=off"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let postgres = Postgres { child, dir, port };
        loop {
            match lines.recv_timeout(DEADLINE) {
                Ok(line) if line.contains("ready to accept connections") => break,
                Ok(_) => {}
                Err(_) => return Err(std::io::Error::other("postgres did not become ready")),
            }
        }
        postgres.create_database("app")?;
        Ok(postgres)
    }

    fn create_database(&self, name: &str) -> std::io::Result<()> {
        let port = self.port.to_string();
        run(as_postgres("psql", is_root()).args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "app",
            "-d",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            &format!("CREATE DATABASE {name}"),
        ]))
    }

    /// The URL of database `app`, with a password (trust auth ignores it)
    /// that must never show up in telemetry.
    pub fn url(&self) -> String {
        format!("postgres://app:pg-secret-pw@127.0.0.1:{}/app", self.port)
    }

    /// The postmaster's PID, from its data directory.
    fn server_pid(&self) -> Option<String> {
        let pid_file = std::fs::read_to_string(self.dir.join("data/postmaster.pid")).ok()?;
        pid_file.lines().next().map(str::to_owned)
    }
}

fn run(cmd: &mut Command) -> std::io::Result<()> {
    let out = cmd.output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGINT to the postmaster itself (runuser may be its parent): a
        // fast shutdown, which does not wait for clients to leave.
        if let Some(pid) = self.server_pid() {
            let _ = Command::new("kill").args(["-INT", &pid]).status();
        } else {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
