//! Issue 11, item 1: the real `whatsapi` binary on a SQLite file, sending to a `whatsapi-sandbox` started here,
//! killed with SIGKILL three times under a steady load of sends and restarted on the same port.
//!
//! The client retries a send that got no answer with the same Idempotency-Key until it gets a 202, so every
//! message is acknowledged exactly once. At the end every acknowledged message is stored once and is `sent` or
//! later; a message may reach Meta twice only if its send was in flight when the process died (it was
//! `processing`, and is sent again after its 2 s lease). The test prints the figures.

use std::collections::HashMap;
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::process::{Child, Command};
use whatsapi_sandbox::{Sandbox, SandboxConfig, SandboxHandle, StatusDelays};

const MESSAGES: usize = 200;
const KILLS: usize = 3;
/// Pause between two sends of the load (200 × 15 ms ≈ 3 s of sending, plus the restarts).
const PACE: Duration = Duration::from_millis(15);

fn spawn(port: u16, db: &Path, sandbox: &SandboxHandle, log: &Path) -> Child {
    let file = std::fs::File::options()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_whatsapi"))
        .env_remove("DATABASE_URL")
        .env(
            "WHATSAPI_ENCRYPTION_KEY",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        )
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--database", &db.display().to_string()])
        .args(["--meta-base-url", &sandbox.base_url()])
        .args(["--meta-app-secret", "sandbox-app-secret"])
        .args(["--lease-secs", "2"])
        .args(["--plan-rpm", "free=100000"])
        .args(["--register-per-minute", "100"])
        .args(["--shutdown-grace", "1"])
        .args(["--log", "warn"])
        .stdout(Stdio::null())
        .stderr(file)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the whatsapi binary")
}

async fn wait_ready(child: &mut Child, http: &reqwest::Client, base: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "whatsapi exited with {status}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("whatsapi never became ready");
}

/// Sends until a 202 (same Idempotency-Key every time); answers the message id and how many tries it took.
async fn send_acknowledged(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    i: usize,
) -> (String, u32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut tries = 0;
    loop {
        tries += 1;
        let r = http
            .post(format!("{base}/send-message"))
            .bearer_auth(key)
            .header("idempotency-key", format!("crash-{i}"))
            .json(&json!({"to": "14155552671", "message": format!("crash-{i}")}))
            .send()
            .await;
        if let Ok(r) = r {
            let status = r.status().as_u16();
            if let Ok(v) = r.json::<Value>().await {
                if status == 202 {
                    return (v["data"]["id"].as_str().unwrap().to_owned(), tries);
                }
                assert_eq!(status, 503, "send {i}: {v}");
            }
        }
        assert!(Instant::now() < deadline, "send {i} never acknowledged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn list(http: &reqwest::Client, base: &str, key: &str, query: &str) -> Value {
    let r = http
        .get(format!("{base}/messages?{query}"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_sigkills_under_load_lose_nothing() {
    let started = Instant::now();
    let port = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let sandbox = Sandbox::start(SandboxConfig {
        open_numbers: true,
        callback_url: Some(format!("{base}/webhooks/whatsapp")),
        delays: StatusDelays {
            sent: Duration::from_millis(20),
            delivered: Duration::from_millis(40),
            read: Duration::from_millis(60),
        },
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db: PathBuf = dir.path().join("whatsapi.db");
    let log = dir.path().join("whatsapi.log");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let mut child = spawn(port, &db, &sandbox, &log);
    wait_ready(&mut child, &http, &base, &log).await;

    let r = http
        .post(format!("{base}/auth/register"))
        .json(&json!({"name": "Crash Test", "email": "crash@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let key = r.json::<Value>().await.unwrap()["data"]["apiKey"]
        .as_str()
        .unwrap()
        .to_owned();
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

    // The load: one send every PACE, each retried until acknowledged.
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let ids: Arc<Mutex<Vec<String>>> = Arc::default();
    let retried = Arc::new(AtomicUsize::new(0));
    let load = {
        let (http, base, key) = (http.clone(), base.clone(), key.clone());
        let (acknowledged, ids, retried) = (acknowledged.clone(), ids.clone(), retried.clone());
        tokio::spawn(async move {
            let mut inflight = tokio::task::JoinSet::new();
            for i in 0..MESSAGES {
                let (http, base, key) = (http.clone(), base.clone(), key.clone());
                let (acknowledged, ids, retried) =
                    (acknowledged.clone(), ids.clone(), retried.clone());
                inflight.spawn(async move {
                    let (id, tries) = send_acknowledged(&http, &base, &key, i).await;
                    if tries > 1 {
                        retried.fetch_add(1, Ordering::Relaxed);
                    }
                    ids.lock().unwrap().push(id);
                    acknowledged.fetch_add(1, Ordering::Relaxed);
                });
                tokio::time::sleep(PACE).await;
            }
            while inflight.join_next().await.is_some() {}
        })
    };

    // Three SIGKILLs, spread over the load; each followed by a restart on the same port.
    let mut at_kills = Vec::new();
    for k in 1..=KILLS {
        let threshold = MESSAGES * k / (KILLS + 1);
        let deadline = Instant::now() + Duration::from_secs(20);
        while acknowledged.load(Ordering::Relaxed) < threshold {
            assert!(
                Instant::now() < deadline,
                "the load stalled before kill {k}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        child.start_kill().expect("SIGKILL");
        child.wait().await.unwrap();
        let sent_at_kill = sandbox.sent().len();
        child = spawn(port, &db, &sandbox, &log);
        wait_ready(&mut child, &http, &base, &log).await;
        // Claimed by the dead process (still within their lease), or already by the new one: an upper bound
        // of the sends that were in flight at the kill.
        let processing = list(&http, &base, &key, "status=processing&limit=1").await["pagination"]
            ["total"]
            .as_u64()
            .unwrap();
        at_kills.push((
            acknowledged.load(Ordering::Relaxed),
            sent_at_kill,
            processing,
        ));
    }
    load.await.unwrap();
    let ids = ids.lock().unwrap().clone();
    assert_eq!(ids.len(), MESSAGES);

    // Every acknowledged message is stored once and ends sent or later.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = list(&http, &base, &key, "limit=200").await;
        assert_eq!(
            v["pagination"]["total"], MESSAGES,
            "each acknowledged message is stored exactly once"
        );
        let statuses: HashMap<String, String> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["id"].as_str().unwrap().to_owned(),
                    m["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let done = ids.iter().all(|id| {
            statuses
                .get(id)
                .is_some_and(|s| ["sent", "delivered", "read"].contains(&s.as_str()))
        });
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not every acknowledged message was sent: {:?}\nlog:\n{}",
            statuses
                .values()
                .fold(HashMap::<&str, usize>::new(), |mut m, s| {
                    *m.entry(s).or_default() += 1;
                    m
                }),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Duplicates at Meta, by our id echoed as biz_opaque_callback_data.
    let mut sends: HashMap<String, usize> = HashMap::new();
    for req in sandbox.sent() {
        let id = req.body["biz_opaque_callback_data"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        *sends.entry(id).or_default() += 1;
    }
    assert!(
        sends.keys().all(|id| ids.contains(id)),
        "only acknowledged messages reach Meta"
    );
    assert!(ids.iter().all(|id| sends.contains_key(id)));
    let duplicates: usize = sends.values().map(|n| n - 1).sum();
    let in_flight: u64 = at_kills.iter().map(|(_, _, p)| p).sum();
    println!(
        "crash: {MESSAGES} messages acknowledged ({} needed more than one try), {KILLS} SIGKILLs at \
         (acknowledged, sent to Meta, processing after restart) = {at_kills:?}; {} sends to Meta in all, \
         {duplicates} duplicate sends (bound: {in_flight} processing at the kills); {:.1} s",
        retried.load(Ordering::Relaxed),
        sends.values().sum::<usize>(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        duplicates as u64 <= in_flight,
        "{duplicates} duplicates, but only {in_flight} messages were processing at the kills"
    );
    drop(child);
    sandbox.shutdown().await;
}
