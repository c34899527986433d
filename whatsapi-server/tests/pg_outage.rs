//! PostgreSQL going away for 30 s under load, with a real `whatsapi` process on a PostgreSQL cluster of its own
//! (made with `initdb` in a temporary directory, so stopping it disturbs no other test).
//!
//! While the cluster is down every send answers 503 with `Retry-After` and says nothing was saved; the server
//! stays up; once the cluster is back, accepts succeed again and the engine resumes by itself, and every
//! acknowledged (202) message is sent. A message may be sent twice only when its send was in flight as the
//! cluster stopped (its outcome could not be recorded, so it is sent again after its lease); it is never lost.
//!
//! Needs PostgreSQL's server binaries (`initdb`, `pg_ctl`; Debian's `postgresql` package). When they are missing
//! the test says why and passes, except under `CI=true`, where that fails.

use std::collections::{HashMap, HashSet};
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::process::{Child, Command};
use whatsapi_sandbox::{Sandbox, SandboxConfig};

const OUTAGE: Duration = Duration::from_secs(30);
const LEASE_SECS: u64 = 3;
/// One send every this often, from each producer.
const PACE: Duration = Duration::from_millis(10);
const PRODUCERS: usize = 4;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The directory holding `initdb` and `pg_ctl`: `pg_config --bindir`, else Debian's versioned directories.
fn server_bin_dir() -> Option<PathBuf> {
    let from_config = std::process::Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|dirs| {
            let mut found: Vec<PathBuf> = dirs
                .filter_map(|d| Some(d.ok()?.path().join("bin")))
                .collect();
            found.sort();
            found.pop()
        });
    [from_config, debian]
        .into_iter()
        .flatten()
        .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A PostgreSQL cluster in a temporary directory, on a port of its own. PostgreSQL refuses to run as root, so
/// under root it runs as the `postgres` user.
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    as_postgres: bool,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn command(&self, tool: &str) -> std::process::Command {
        let path = self.bin.join(tool);
        if self.as_postgres {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            std::process::Command::new(path)
        }
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self
            .command(tool)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `initdb` and a first start; `None` with the reason when that cannot be done here.
    fn create() -> Result<Self, String> {
        let bin = server_bin_dir().ok_or("PostgreSQL's initdb and pg_ctl were not found")?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let as_postgres = is_root();
        if as_postgres {
            let chown = std::process::Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .map_err(|e| e.to_string())?;
            if !chown.success() {
                return Err("cannot hand a directory to the postgres user".into());
            }
        }
        let cluster = Cluster {
            bin,
            data: dir.path().join("data"),
            port: free_port(),
            as_postgres,
            _dir: dir,
        };
        let out = cluster
            .command("initdb")
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&cluster.data)
            .output()
            .map_err(|e| format!("initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        cluster.start();
        Ok(cluster)
    }

    fn data(&self) -> String {
        self.data.display().to_string()
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50",
            self.port,
            self.data()
        );
        let log = self.data.join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        );
    }

    /// A fast shutdown: connections are cut, as when the database server goes away.
    fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D", &self.data(), "-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

async fn spawn_server(url: &str, meta: &str, dir: &Path) -> (Child, String, PathBuf) {
    let port = free_port();
    let log = dir.join("server.log");
    let file = std::fs::File::create(&log).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_whatsapi"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--database-url", url])
        .args(["--database", &dir.join("unused.db").display().to_string()])
        .env(
            "WHATSAPI_ENCRYPTION_KEY",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        )
        .args(["--meta-base-url", meta])
        .args(["--lease-secs", &LEASE_SECS.to_string()])
        .args(["--plan-rpm", "free=100000"])
        .args(["--shutdown-grace", "1"])
        .args(["--log", "warn"])
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the whatsapi binary");
    (child, format!("http://127.0.0.1:{port}"), log)
}

/// What one send request got.
#[derive(Debug, Clone)]
struct Answer {
    text: String,
    status: Option<u16>,
    retry_after: bool,
    error: String,
    began: Instant,
    ended: Instant,
}

async fn produce(
    http: reqwest::Client,
    base: String,
    key: String,
    producer: usize,
    until: Arc<Mutex<bool>>,
    answers: Arc<Mutex<Vec<Answer>>>,
) {
    for i in 0.. {
        if *until.lock().unwrap() {
            break;
        }
        let text = format!("load-{producer}-{i}");
        let began = Instant::now();
        let r = http
            .post(format!("{base}/send-message"))
            .bearer_auth(&key)
            .json(&json!({"to": "14155552671", "message": text}))
            .timeout(Duration::from_secs(20))
            .send()
            .await;
        let answer = match r {
            Ok(r) => {
                let status = r.status().as_u16();
                let retry_after = r.headers().contains_key("retry-after");
                let v: Value = r.json().await.unwrap_or(Value::Null);
                Answer {
                    text,
                    status: Some(status),
                    retry_after,
                    error: v["error"].as_str().unwrap_or_default().to_owned(),
                    began,
                    ended: Instant::now(),
                }
            }
            Err(e) => Answer {
                text,
                status: None,
                retry_after: false,
                error: e.to_string(),
                began,
                ended: Instant::now(),
            },
        };
        answers.lock().unwrap().push(answer);
        tokio::time::sleep(PACE).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_away_for_30_s_under_load_refuses_cleanly_and_loses_nothing() {
    let cluster = match Cluster::create() {
        Ok(c) => c,
        Err(e) if in_ci() => panic!("{e} (CI=true: this test must run)"),
        Err(e) => {
            eprintln!("skipped: {e}");
            return;
        }
    };
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mut server, base, log) =
        spawn_server(&cluster.url(), &sandbox.base_url(), dir.path()).await;
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
            if r.status().is_success() {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the server never became ready: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let v: Value = http
        .post(format!("{base}/auth/register"))
        .json(&json!({"name": "Outage Test", "email": "outage@example.com"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = v["data"]["apiKey"].as_str().expect("an API key").to_owned();
    let r = http
        .put(format!("{base}/auth/me/credentials"))
        .bearer_auth(&key)
        .json(
            &json!({"whatsappAccessToken": "sandbox-token", "whatsappPhoneNumberId": "1234567890"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let stop = Arc::new(Mutex::new(false));
    let answers: Arc<Mutex<Vec<Answer>>> = Arc::default();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            tokio::spawn(produce(
                http.clone(),
                base.clone(),
                key.clone(),
                p,
                stop.clone(),
                answers.clone(),
            ))
        })
        .collect();

    // Under load, then the database goes away for 30 s, then comes back.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let sent_before = sandbox.sent().len();
    assert!(sent_before > 0, "sending got going before the outage");
    let down_at = Instant::now();
    cluster.stop();
    let stopped_at = Instant::now();
    tokio::time::sleep(OUTAGE).await;
    assert!(
        server.try_wait().unwrap().is_none(),
        "the server stays up while the database is away: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let up_at = Instant::now();
    cluster.start();
    // Accepts succeed again without a restart.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let recovered = answers
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.began > up_at && a.status == Some(202))
            .count();
        if recovered >= 50 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "accepts did not resume within 30 s of the database coming back: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    *stop.lock().unwrap() = true;
    for p in producers {
        p.await.unwrap();
    }
    let answers = answers.lock().unwrap().clone();

    // While it was away: 503, Retry-After, "nothing was saved"; nothing else but 202.
    let settled = stopped_at + Duration::from_secs(1);
    let during: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.began >= settled && a.ended <= up_at)
        .collect();
    assert!(
        during.len() > 100,
        "requests kept coming during the outage: {}",
        during.len()
    );
    for a in &during {
        assert_eq!(a.status, Some(503), "during the outage: {a:?}");
        assert!(a.retry_after, "503 with Retry-After: {a:?}");
        assert!(
            a.error.contains("nothing was saved"),
            "the answer says nothing was saved: {a:?}"
        );
    }
    let odd: Vec<&Answer> = answers
        .iter()
        .filter(|a| !matches!(a.status, Some(202) | Some(503)))
        .collect();
    assert!(odd.is_empty(), "only 202 or 503: {odd:?}");
    let acknowledged: HashSet<&str> = answers
        .iter()
        .filter(|a| a.status == Some(202))
        .map(|a| a.text.as_str())
        .collect();
    // A request whose answer was lost with the connection may have been saved: only those in flight as the
    // cluster stopped or started.
    let uncertain: HashSet<&str> = answers
        .iter()
        .filter(|a| a.status != Some(202))
        .filter(|a| {
            (a.began <= stopped_at && a.ended >= down_at)
                || (a.began <= up_at + Duration::from_secs(5) && a.ended >= up_at)
        })
        .map(|a| a.text.as_str())
        .collect();

    // Every acknowledged message reaches Meta once the database is back.
    let deadline = Instant::now() + Duration::from_secs(60);
    let counts = loop {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for req in sandbox.sent() {
            if let Some(text) = req.body["text"]["body"].as_str() {
                *counts.entry(text.to_owned()).or_default() += 1;
            }
        }
        let missing = acknowledged
            .iter()
            .filter(|m| !counts.contains_key(**m))
            .count();
        if missing == 0 {
            break counts;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} of {} acknowledged messages never reached Meta: {}",
            acknowledged.len(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let unknown: Vec<&String> = counts
        .keys()
        .filter(|m| !acknowledged.contains(m.as_str()) && !uncertain.contains(m.as_str()))
        .collect();
    assert!(unknown.is_empty(), "sent although refused: {unknown:?}");
    let twice: Vec<(&String, &usize)> = counts.iter().filter(|(_, n)| **n > 1).collect();
    for (m, n) in &twice {
        assert_eq!(**n, 2, "{m} was sent {n} times");
    }
    // Sent twice only when in flight as the cluster stopped: at most what the engine holds at once.
    assert!(
        twice.len() <= 64,
        "{} messages sent twice; only sends in flight at the stop may be",
        twice.len()
    );
    let refused = answers.iter().filter(|a| a.status == Some(503)).count();
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    if std::env::var_os("PG_OUTAGE_LOG").is_some() {
        eprintln!("{logged}");
    }
    println!(
        "pg outage: {} requests, {} acknowledged, {refused} refused with 503, {} sent twice \
         (in flight as the cluster stopped), {} sends in all; {} log lines",
        answers.len(),
        acknowledged.len(),
        twice.len(),
        counts.values().sum::<usize>(),
        logged.lines().count()
    );
    drop(server);
    sandbox.shutdown().await;
}
