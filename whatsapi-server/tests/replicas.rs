//! Two real `whatsapi` server processes on one PostgreSQL schema, sending through the Meta sandbox.
//!
//! - Limits hold across replicas: registrations per IP and requests per key are counted in the database, so two
//!   replicas together allow each limit once.
//! - Load is spread over both; one replica is killed with SIGKILL mid-run. Every acknowledged (202) message is
//!   sent exactly once, except messages whose send was in flight on the killed replica: those may be sent once
//!   more after their lease, by the survivor. The test prints how many were.
//! - A replica killed while it records a batch of outcomes (stopped inside that transaction by a lock the test
//!   holds) commits none of it; the other replica sends those messages again after their lease, and nothing else.
//!
//! - Limits of Meta's side hold across replicas too: a number's send rate is the number's (both replicas together
//!   keep to `--send-rate`), and the circuit breaker's failures and half-open probe are shared (the failures of
//!   both add up to the threshold exactly; one probe reaches Meta).
//! - Two business numbers of one account at different rates each keep their own rate across the replicas, and a
//!   130429 seen by one replica slows that number on both.
//!
//! Needs PostgreSQL at `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`); skipped (with a
//! message) when it is unreachable, except under `CI=true`, where that fails.

use std::collections::{HashMap, HashSet};
use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::process::{Child, Command};
use whatsapi_sandbox::{Sandbox, SandboxConfig, SandboxHandle, SandboxNumber};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const MESSAGES: usize = 300;
const BULK: usize = 50;
const LEASE_SECS: u64 = 3;
const REGISTER_PER_MINUTE: usize = 3;
/// The free plan's requests per key per minute.
const FREE_PER_MINUTE: usize = 20;

fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

async fn connect(url: &str) -> Result<tokio_postgres::Client, String> {
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| format!("{e}"))?;
    config.connect_timeout(Duration::from_secs(3));
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.map_err(|e| {
        let cause = std::error::Error::source(&e).map(|c| format!(": {c}"));
        format!("{e}{}", cause.unwrap_or_default())
    })?;
    tokio::spawn(connection);
    Ok(client)
}

/// A server process; killed (SIGKILL) when dropped.
struct Replica {
    name: &'static str,
    base: String,
    child: Child,
    log: PathBuf,
}

impl Replica {
    async fn spawn(
        name: &'static str,
        url: &str,
        sandbox: &SandboxHandle,
        dir: &std::path::Path,
    ) -> Self {
        Self::spawn_with(
            name,
            url,
            sandbox,
            dir,
            &["--lease-secs", &LEASE_SECS.to_string()],
        )
        .await
    }

    /// A replica with `extra` arguments (a `--lease-secs` among them).
    async fn spawn_with(
        name: &'static str,
        url: &str,
        sandbox: &SandboxHandle,
        dir: &std::path::Path,
        extra: &[&str],
    ) -> Self {
        let port = StdListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_whatsapi"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--database-url", url])
            .args(["--database", &dir.join("unused.db").display().to_string()])
            // Replicas share one key for secrets at rest, as the README asks.
            .env(
                "WHATSAPI_ENCRYPTION_KEY",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            )
            .args(["--meta-base-url", &sandbox.base_url()])
            .args(extra)
            .args(["--register-per-minute", &REGISTER_PER_MINUTE.to_string()])
            .args(["--shutdown-grace", "1"])
            .args(["--log", "warn,whatsapi_core=info"])
            .stdout(Stdio::null())
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the whatsapi binary");
        Replica {
            name,
            base: format!("http://127.0.0.1:{port}"),
            child,
            log,
        }
    }

    async fn wait_ready(&mut self, http: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "replica {} exited with {status}: {}",
                    self.name,
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if let Ok(r) = http.get(format!("{}/healthz", self.base)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("replica {} never became ready", self.name);
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

async fn register(http: &reqwest::Client, r: &Replica, email: &str) -> (u16, Value) {
    let resp = http
        .post(r.url("/auth/register"))
        .json(&json!({"name": "Replica Test", "email": email}))
        .send()
        .await
        .unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

/// Waits until at least `margin` is left in the current one-minute rate window, so a phase that counts
/// against a limit does not straddle two windows.
async fn wait_for_room_in_window(margin: u64) {
    let second = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60;
    if 60 - second < margin {
        tokio::time::sleep(Duration::from_secs(60 - second)).await;
    }
}

fn body_text(request: &whatsapi_sandbox::RecordedRequest) -> Option<String> {
    request.body["text"]["body"].as_str().map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_limits_and_survive_a_sigkill() {
    let Some((admin, schema, replica_url)) = fresh_schema().await else {
        return;
    };

    let sandbox = Sandbox::start(SandboxConfig {
        slow_delay: Duration::from_millis(300),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    // Both start at once: the migrations must cope.
    let mut a = Replica::spawn("a", &replica_url, &sandbox, dir.path()).await;
    let mut b = Replica::spawn("b", &replica_url, &sandbox, dir.path()).await;
    a.wait_ready(&http).await;
    b.wait_ready(&http).await;

    // ---- limits shared through the database ----
    wait_for_room_in_window(20).await;
    let replicas = [&a, &b];
    let mut keys = Vec::new();
    let mut register_codes = Vec::new();
    for i in 0..REGISTER_PER_MINUTE + 2 {
        let (code, v) = register(
            &http,
            replicas[i % 2],
            &format!("r{i}-{schema}@example.com"),
        )
        .await;
        register_codes.push(code);
        if code == 201 {
            keys.push(v["data"]["apiKey"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(
        register_codes,
        [201, 201, 201, 429, 429],
        "registrations per IP are counted across both replicas"
    );
    let limited = &keys[1];
    let mut codes: HashMap<u16, usize> = HashMap::new();
    for i in 0..FREE_PER_MINUTE + 10 {
        let r = http
            .get(replicas[i % 2].url("/auth/me"))
            .bearer_auth(limited)
            .send()
            .await
            .unwrap();
        *codes.entry(r.status().as_u16()).or_default() += 1;
    }
    assert_eq!(
        codes,
        HashMap::from([(200, FREE_PER_MINUTE), (429, 10)]),
        "a key's per-minute limit is counted across both replicas"
    );

    // ---- load over both, one replica killed mid-run ----
    let key = &keys[0];
    let r = http
        .put(a.url("/auth/me/credentials"))
        .bearer_auth(key)
        .json(
            &json!({"whatsappAccessToken": "sandbox-token", "whatsappPhoneNumberId": "1234567890"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut acknowledged: HashSet<String> = HashSet::new();
    for (n, chunk) in (0..MESSAGES).collect::<Vec<_>>().chunks(BULK).enumerate() {
        let messages: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"to": whatsapi_sandbox::magic::SLOW, "message": format!("load-{i}")}))
            .collect();
        let r = http
            .post(replicas[n % 2].url("/messages/bulk"))
            .bearer_auth(key)
            .json(&json!({ "messages": messages }))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        assert_eq!(status, 202, "{v}");
        assert_eq!(v["data"]["queued"], chunk.len(), "{v}");
        acknowledged.extend(chunk.iter().map(|i| format!("load-{i}")));
    }
    assert_eq!(acknowledged.len(), MESSAGES);

    let deadline = Instant::now() + Duration::from_secs(30);
    while sandbox.sent().len() < MESSAGES / 3 {
        assert!(Instant::now() < deadline, "sending never got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.child.start_kill().expect("SIGKILL replica a");
    a.child.wait().await.unwrap();
    let sent_at_kill = sandbox.sent().len();
    // Every message whose send may have been in flight on `a`: those still processing right after the kill.
    let in_flight: HashSet<String> = admin
        .query(
            &format!("SELECT content FROM {schema}.messages WHERE status = 2"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .filter_map(|row| {
            let content: Value = serde_json::from_str(&row.get::<_, String>(0)).ok()?;
            content["body"].as_str().map(str::to_owned)
        })
        .collect();

    // The survivor sends the rest, and the killed replica's claims once their lease ends.
    let deadline = Instant::now() + Duration::from_secs(45);
    let counts = loop {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for req in sandbox.sent() {
            if let Some(text) = body_text(&req) {
                *counts.entry(text).or_default() += 1;
            }
        }
        let sent_all = acknowledged.iter().all(|m| counts.contains_key(m));
        // Read from the database: the key's per-minute limit is spent by now.
        let recorded: i64 = admin
            .query_one(
                &format!("SELECT COUNT(*) FROM {schema}.messages WHERE status IN (4, 5, 6)"),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if sent_all && recorded == MESSAGES as i64 {
            break counts;
        }
        assert!(
            Instant::now() < deadline,
            "not every acknowledged message was sent: {} of {MESSAGES} reached Meta, {} recorded as sent; log of b:\n{}",
            counts.len(),
            recorded,
            std::fs::read_to_string(&b.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let unknown: Vec<&String> = counts
        .keys()
        .filter(|m| !acknowledged.contains(*m))
        .collect();
    assert!(
        unknown.is_empty(),
        "sent but never acknowledged: {unknown:?}"
    );
    let twice: Vec<(&String, &usize)> = counts.iter().filter(|(_, n)| **n > 1).collect();
    for (message, n) in &twice {
        assert_eq!(**n, 2, "{message} was sent {n} times");
        assert!(
            in_flight.contains(*message),
            "{message} was sent twice but was not in flight when replica a was killed"
        );
    }
    let total_sends: usize = counts.values().sum();
    println!(
        "replicas: {MESSAGES} acknowledged; {sent_at_kill} sends accepted by Meta before the SIGKILL; \
         {} messages processing at the kill; {} sent twice (in flight on the killed replica), {} sent exactly \
         once; {total_sends} sends in all",
        in_flight.len(),
        twice.len(),
        counts.len() - twice.len()
    );

    drop(b);
    sandbox.shutdown().await;
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
}

/// A fresh schema on the test database: the admin connection, the schema's name and the URL replicas use for it.
/// `None` (the test is skipped, with a message) when PostgreSQL is unreachable outside CI.
async fn fresh_schema() -> Option<(tokio_postgres::Client, String, String)> {
    let url = database_url();
    let admin = match connect(&url).await {
        Ok(c) => c,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("PostgreSQL at {url} is unreachable: {e} (CI=true: this test must run)")
        }
        Err(e) => {
            eprintln!(
                "skipped: PostgreSQL at {url} is unreachable: {e}; set DATABASE_URL to run it"
            );
            return None;
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let schema = format!(
        "wa_test_{now}_{}",
        &uuid::Uuid::now_v7().simple().to_string()[20..]
    );
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    let replica_url = format!("{url}{sep}options=-c%20search_path%3D{schema}");
    Some((admin, schema, replica_url))
}

/// Registers an account through `r` and saves the sandbox's credentials for it; answers its API key.
async fn sandbox_account(http: &reqwest::Client, r: &Replica, email: &str) -> String {
    let (code, v) = register(http, r, email).await;
    assert_eq!(code, 201, "{v}");
    let key = v["data"]["apiKey"].as_str().unwrap().to_owned();
    let resp = http
        .put(r.url("/auth/me/credentials"))
        .bearer_auth(&key)
        .json(
            &json!({"whatsappAccessToken": "sandbox-token", "whatsappPhoneNumberId": "1234567890"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    key
}

/// Queues `texts` to `to` in one bulk request through `r`, from the number `from` (or the default one).
async fn queue(
    http: &reqwest::Client,
    r: &Replica,
    key: &str,
    from: Option<&str>,
    to: &str,
    texts: &[String],
) {
    let messages: Vec<Value> = texts
        .iter()
        .map(|t| match from {
            Some(f) => json!({"from": f, "to": to, "message": t}),
            None => json!({"to": to, "message": t}),
        })
        .collect();
    let resp = http
        .post(r.url("/messages/bulk"))
        .bearer_auth(key)
        .json(&json!({ "messages": messages }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["data"]["queued"], texts.len(), "{v}");
}

/// Most sends whose arrival times fall in one window `[t, t + window)` starting at a send.
fn busiest_window(times: &[chrono::DateTime<chrono::Utc>], window: chrono::Duration) -> usize {
    let mut sorted = times.to_vec();
    sorted.sort();
    (0..sorted.len())
        .map(|i| {
            sorted[i..]
                .iter()
                .take_while(|t| **t < sorted[i] + window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

const RATE: usize = 20;
const PACED: usize = 100;

/// Both replicas send one number's backlog: together they keep to its rate, as one replica would.
///
/// The sandbox records when each send arrived, which is the send's slot plus the time it took to get there. Slots
/// are exactly `1 / rate` apart, but arrival times move with that latency (and a replica that was not scheduled
/// for a moment sends the slots that passed meanwhile at once), so a one-second window of arrivals may hold a
/// send or two more than the rate at its edges: the check allows two. Replicas pacing each on their own would put
/// twice the rate in a second (40 here), and the whole backlog would take half the time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_keep_to_the_send_rate_of_a_number_together() {
    let Some((admin, schema, url)) = fresh_schema().await else {
        return;
    };
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let rate = RATE.to_string();
    let args = ["--lease-secs", "30", "--send-rate", rate.as_str()];
    let mut a = Replica::spawn_with("a", &url, &sandbox, dir.path(), &args).await;
    let mut b = Replica::spawn_with("b", &url, &sandbox, dir.path(), &args).await;
    a.wait_ready(&http).await;
    b.wait_ready(&http).await;
    let key = sandbox_account(&http, &a, &format!("pace-{schema}@example.com")).await;

    let texts: Vec<String> = (0..PACED).map(|i| format!("paced-{i}")).collect();
    let (first, second) = texts.split_at(PACED / 2);
    queue(&http, &a, &key, None, "14155550100", first).await;
    queue(&http, &b, &key, None, "14155550100", second).await;

    let deadline = Instant::now() + Duration::from_secs(60);
    let sends = loop {
        let sends: Vec<_> = sandbox
            .sent()
            .into_iter()
            .filter(|r| r.phone_number_id == "1234567890")
            .collect();
        if sends.len() >= PACED {
            break sends;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {PACED} sends reached Meta; log of a:\n{}",
            sends.len(),
            std::fs::read_to_string(&a.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(sends.len(), PACED, "each message sent once");
    let times: Vec<_> = sends.iter().map(|r| r.received_at).collect();
    let busiest = busiest_window(&times, chrono::Duration::seconds(1));
    let span = *times.iter().max().unwrap() - *times.iter().min().unwrap();
    println!(
        "pacing: {PACED} sends at {RATE}/s over two replicas took {} ms; busiest second held {busiest}",
        span.num_milliseconds()
    );
    assert!(
        busiest <= RATE + 2,
        "{busiest} sends arrived within one second at a rate of {RATE}/s"
    );
    // 100 slots 50 ms apart span 4.95 s; one slot of latency at the start is allowed for.
    let least = chrono::Duration::milliseconds((PACED as i64 - 2) * 1000 / RATE as i64);
    assert!(
        span >= least,
        "{PACED} sends took {} ms: faster than {RATE}/s",
        span.num_milliseconds()
    );

    drop((a, b));
    sandbox.shutdown().await;
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
}

const THRESHOLD: usize = 6;

/// The breaker of an account as stored: (consecutive failures, trips).
async fn breaker(admin: &tokio_postgres::Client, schema: &str) -> (i64, i64) {
    let row = admin
        .query_one(
            &format!(
                "SELECT breaker_failures, breaker_trips FROM {schema}.accounts WHERE phone_number_id = '1234567890'"
            ),
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// Waits until the stored breaker has tripped `trips` times.
async fn wait_for_trips(admin: &tokio_postgres::Client, schema: &str, trips: i64, log: &PathBuf) {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (failures, found) = breaker(admin, schema).await;
        if found >= trips {
            assert_eq!(found, trips, "tripped once per expected failure run");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the breaker never tripped {trips} times ({failures} failures, {found} trips); log of a:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Meta fails every send: the failures counted by both replicas add up (the breaker opens after exactly the
/// threshold's worth of sends), and when the cool-down ends exactly one probe reaches Meta — held there by the
/// slow recipient while both replicas find the account's messages due.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_count_breaker_failures_together_and_send_one_probe() {
    let Some((admin, schema, url)) = fresh_schema().await else {
        return;
    };
    let sandbox = Sandbox::start(SandboxConfig {
        slow_delay: Duration::from_millis(1500),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let threshold = THRESHOLD.to_string();
    let args = [
        "--lease-secs",
        "20",
        "--breaker-threshold",
        threshold.as_str(),
        "--breaker-cooldown-secs",
        "3",
        // A claim takes two messages of a number at 5/s, so at half-open both replicas hold messages of the
        // account (at the default rate the first to claim takes them all, and the other could not probe anyway).
        "--send-rate",
        "5",
    ];
    let mut a = Replica::spawn_with("a", &url, &sandbox, dir.path(), &args).await;
    let mut b = Replica::spawn_with("b", &url, &sandbox, dir.path(), &args).await;
    a.wait_ready(&http).await;
    b.wait_ready(&http).await;
    let key = sandbox_account(&http, &a, &format!("breaker-{schema}@example.com")).await;
    sandbox.set_outage(Some(500));
    let slow = whatsapi_sandbox::magic::SLOW;
    let attempts = || sandbox.requests_for(slow).len();

    // The sends go out 200 ms apart and are all in flight together (1.5 s each): their failures are recorded
    // concurrently, the last 2.5 s after the first send, and their retries (2 s ± 20 % after each failure) come
    // only after the breaker opened.
    let texts: Vec<String> = (0..THRESHOLD).map(|i| format!("failing-{i}")).collect();
    let (first, second) = texts.split_at(THRESHOLD / 2);
    queue(&http, &a, &key, None, slow, first).await;
    queue(&http, &b, &key, None, slow, second).await;
    wait_for_trips(&admin, &schema, 1, &a.log).await;
    assert_eq!(
        attempts(),
        THRESHOLD,
        "the breaker opened after exactly {THRESHOLD} failed sends: no failure was lost"
    );
    assert_eq!(breaker(&admin, &schema).await, (0, 1));

    // Half-open after 3 s: one replica claims the probe, which fails after 1.5 s and opens the breaker again
    // for 6 s. The other replica's claims skip the account meanwhile.
    wait_for_trips(&admin, &schema, 2, &a.log).await;
    let probes = attempts() - THRESHOLD;
    assert_eq!(probes, 1, "one probe across both replicas");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(attempts() - THRESHOLD, 1, "and none since, while open");
    println!("breaker: {THRESHOLD} failures opened it; {probes} probe reached Meta");

    drop((a, b));
    sandbox.shutdown().await;
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
}

/// Messages of the batch test: enough that outcomes queue up behind the one being recorded.
const BATCH_MESSAGES: usize = 100;

/// Issue 20: a replica is killed with SIGKILL while it records a batch of outcomes. The test holds a lock on the
/// timeline table (taken once every message is stored), so replica a's next batch of outcomes stops inside its
/// transaction, after its rows were locked and updated; a is killed there, the lock is let go, and replica b takes
/// over. Nothing of the killed batch is committed: its messages are still `processing`, are sent again by b once
/// their lease ends (they are the only ones sent twice), and end `sent` with one `sent` timeline entry each and
/// counters that match a recount.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_while_recording_a_batch_of_outcomes_loses_nothing() {
    let Some((admin, schema, replica_url)) = fresh_schema().await else {
        return;
    };

    let sandbox = Sandbox::start(SandboxConfig {
        slow_delay: Duration::from_millis(300),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let mut a = Replica::spawn("a", &replica_url, &sandbox, dir.path()).await;
    a.wait_ready(&http).await;
    let key = sandbox_account(&http, &a, &format!("batch-{schema}@example.com")).await;

    // Sends to the slow number take 300 ms at Meta: the lock is held before their outcomes come back.
    let mut acknowledged: HashSet<String> = HashSet::new();
    for chunk in (0..BATCH_MESSAGES).collect::<Vec<_>>().chunks(BULK) {
        let messages: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"to": whatsapi_sandbox::magic::SLOW, "message": format!("batch-{i}")}))
            .collect();
        let r = http
            .post(a.url("/messages/bulk"))
            .bearer_auth(&key)
            .json(&json!({ "messages": messages }))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        assert_eq!(status, 202, "{v}");
        acknowledged.extend(chunk.iter().map(|i| format!("batch-{i}")));
    }
    let holder = connect(&database_url()).await.unwrap();
    holder
        .batch_execute(&format!(
            "BEGIN; LOCK TABLE {schema}.timeline IN EXCLUSIVE MODE"
        ))
        .await
        .unwrap();

    // Replica a's batch of outcomes waits for the lock inside its transaction.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let waiting: i64 = admin
            .query_one(
                &format!(
                    "SELECT COUNT(*) FROM pg_locks WHERE relation = '{schema}.timeline'::regclass AND NOT granted"
                ),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if waiting > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no batch of outcomes reached the timeline; log of a:\n{}",
            std::fs::read_to_string(&a.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let more sends end and their outcomes queue behind the stuck batch.
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.child.start_kill().expect("SIGKILL replica a");
    a.child.wait().await.unwrap();
    let sent_at_kill = sandbox.sent().len();
    holder.batch_execute("COMMIT").await.unwrap();
    // The killed replica's transaction is rolled back as soon as its backend sees the connection gone; until then
    // its rows stay locked (claims skip them) and its changes invisible.
    let in_flight: HashSet<String> = admin
        .query(
            &format!("SELECT content FROM {schema}.messages WHERE status = 2"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .filter_map(|row| {
            let content: Value = serde_json::from_str(&row.get::<_, String>(0)).ok()?;
            content["body"].as_str().map(str::to_owned)
        })
        .collect();
    assert!(
        !in_flight.is_empty(),
        "the stuck batch's messages are still processing after the kill"
    );

    let mut b = Replica::spawn("b", &replica_url, &sandbox, dir.path()).await;
    b.wait_ready(&http).await;
    let deadline = Instant::now() + Duration::from_secs(45);
    let counts = loop {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for req in sandbox.sent() {
            if let Some(text) = body_text(&req) {
                *counts.entry(text).or_default() += 1;
            }
        }
        let sent_all = acknowledged.iter().all(|m| counts.contains_key(m));
        let recorded: i64 = admin
            .query_one(
                &format!("SELECT COUNT(*) FROM {schema}.messages WHERE status IN (4, 5, 6)"),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if sent_all && recorded == BATCH_MESSAGES as i64 {
            break counts;
        }
        assert!(
            Instant::now() < deadline,
            "not every acknowledged message was sent: {} of {BATCH_MESSAGES} reached Meta, {recorded} recorded \
             as sent; log of b:\n{}",
            counts.len(),
            std::fs::read_to_string(&b.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    assert!(
        counts.keys().all(|m| acknowledged.contains(m)),
        "only acknowledged messages reach Meta"
    );
    let twice: Vec<&String> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(m, n)| {
            assert_eq!(*n, 2, "{m} was sent {n} times");
            assert!(
                in_flight.contains(m),
                "{m} was sent twice but was not processing when replica a was killed"
            );
            m
        })
        .collect();
    assert!(
        !twice.is_empty(),
        "the outcomes of the killed batch were lost with it, so its messages were sent again"
    );
    // Nothing of the killed batch was committed halfway: one `sent` entry per message, counters as recounted.
    let doubled: i64 = admin
        .query_one(
            &format!(
                "SELECT COUNT(*) FROM (SELECT message FROM {schema}.timeline WHERE status = 4 \
                 GROUP BY message HAVING COUNT(*) <> 1) t"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(doubled, 0, "every message has exactly one `sent` entry");
    let recount: HashMap<i16, i64> = admin
        .query(
            &format!("SELECT status, COUNT(*) FROM {schema}.messages GROUP BY status"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let counters: HashMap<i16, i64> = admin
        .query(
            &format!(
                "SELECT status, SUM(n)::int8 FROM {schema}.status_counts GROUP BY status HAVING SUM(n) <> 0"
            ),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(counters, recount, "the status counters match a recount");
    println!(
        "batch kill: {BATCH_MESSAGES} acknowledged; {sent_at_kill} sends accepted by Meta before the SIGKILL; {} \
         messages processing at the kill; {} sent twice, {} sent exactly once",
        in_flight.len(),
        twice.len(),
        counts.len() - twice.len()
    );

    drop(b);
    sandbox.shutdown().await;
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
}

/// `method url` with the key and an optional JSON body: the status and the JSON answer.
async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http.request(method, url).bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

// Two business numbers of one account at different rates: together the replicas keep each number to its own rate,
// and the step-down after Meta's 130429 is shared (one replica's 130429 slows the number on the other, and it
// recovers on both).

const DEFAULT_PNID: &str = "1234567890";
const EXTRA_PNID: &str = "2223334444";
const DEFAULT_RATE: usize = 10;
const EXTRA_RATE: usize = 25;
const ON_DEFAULT: usize = 30;
const ON_EXTRA: usize = 50;

/// Each number's backlog is sent by both replicas at once: each number keeps to its own rate (not the server's
/// `--send-rate`, and not twice its rate), and a 130429 seen by one replica slows the number for both.
///
/// Arrival times at the sandbox move with the latency of each send, so a one-second window may hold a send or
/// two more than the rate at its edges: the check allows two (replicas pacing on their own would put twice the
/// rate in a second, and the backlog would take half the time). For the same reason the backlog's span may be two
/// gaps short of `(n - 1) / rate`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_numbers_keep_their_own_rates_across_two_replicas() {
    let Some((admin, schema, url)) = fresh_schema().await else {
        return;
    };
    let sandbox = Sandbox::start(SandboxConfig {
        phone_numbers: vec![
            SandboxNumber::default(),
            SandboxNumber {
                id: EXTRA_PNID.into(),
                display_phone_number: "+1 555-222-3334".into(),
                verified_name: "Acme Support".into(),
                access_token: "second-token".into(),
                throughput_level: "STANDARD".into(),
                on_business_app: false,
            },
        ],
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    // A 130429 steps a number down; it recovers one halving per 2 s. The test polls a number's rate: room for it
    // in the key's requests per minute.
    let extra = [
        "--lease-secs",
        "30",
        "--send-rate",
        "80",
        "--pace-recovery-secs",
        "2",
        "--plan-rpm",
        "free=100000",
    ];
    let mut a = Replica::spawn_with("a", &url, &sandbox, dir.path(), &extra).await;
    let mut b = Replica::spawn_with("b", &url, &sandbox, dir.path(), &extra).await;
    a.wait_ready(&http).await;
    b.wait_ready(&http).await;

    let (code, v) = register(&http, &a, &format!("numbers-{schema}@example.com")).await;
    assert_eq!(code, 201, "{v}");
    let key = v["data"]["apiKey"].as_str().unwrap().to_owned();
    let (code, v) = call(
        &http,
        reqwest::Method::PUT,
        a.url("/auth/me/credentials"),
        &key,
        Some(
            json!({"whatsappAccessToken": "sandbox-token", "whatsappPhoneNumberId": DEFAULT_PNID}),
        ),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    // The second number has a token of its own; the sandbox verifies it.
    let (code, v) = call(
        &http,
        reqwest::Method::POST,
        b.url("/numbers"),
        &key,
        Some(json!({"whatsappPhoneNumberId": EXTRA_PNID, "whatsappAccessToken": "second-token"})),
    )
    .await;
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["data"]["throughputPerSecond"], 80, "STANDARD: {v}");
    assert_eq!(v["data"]["ownAccessToken"], true, "{v}");
    // Rates set through one replica hold on both.
    let (code, v) = call(
        &http,
        reqwest::Method::PATCH,
        a.url(&format!("/numbers/{DEFAULT_PNID}")),
        &key,
        Some(json!({"throughputPerSecond": DEFAULT_RATE})),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    let (code, v) = call(
        &http,
        reqwest::Method::PATCH,
        b.url(&format!("/numbers/{EXTRA_PNID}")),
        &key,
        Some(json!({"throughputPerSecond": EXTRA_RATE})),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    let (_, v) = call(&http, reqwest::Method::GET, a.url("/numbers"), &key, None).await;
    let rates: Vec<u64> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["throughputPerSecond"].as_u64().unwrap())
        .collect();
    assert_eq!(rates, [DEFAULT_RATE as u64, EXTRA_RATE as u64], "{v}");

    let on_default: Vec<String> = (0..ON_DEFAULT).map(|i| format!("default-{i}")).collect();
    let on_extra: Vec<String> = (0..ON_EXTRA).map(|i| format!("extra-{i}")).collect();
    let (d1, d2) = on_default.split_at(ON_DEFAULT / 2);
    let (e1, e2) = on_extra.split_at(ON_EXTRA / 2);
    queue(&http, &a, &key, None, "14155550100", d1).await;
    queue(&http, &b, &key, Some(EXTRA_PNID), "14155550100", e1).await;
    queue(&http, &b, &key, Some(DEFAULT_PNID), "14155550100", d2).await;
    queue(&http, &a, &key, Some(EXTRA_PNID), "14155550100", e2).await;

    let deadline = Instant::now() + Duration::from_secs(60);
    let (default_sends, extra_sends) = loop {
        let sent = sandbox.sent();
        let of = |pnid: &str| -> Vec<_> {
            sent.iter()
                .filter(|r| r.phone_number_id == pnid)
                .cloned()
                .collect()
        };
        let (d, e) = (of(DEFAULT_PNID), of(EXTRA_PNID));
        if d.len() >= ON_DEFAULT && e.len() >= ON_EXTRA {
            break (d, e);
        }
        assert!(
            Instant::now() < deadline,
            "only {} + {} sends reached Meta; log of a:\n{}",
            d.len(),
            e.len(),
            std::fs::read_to_string(&a.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Each number sent exactly its own messages, once.
    let texts = |sends: &[whatsapi_sandbox::RecordedRequest]| -> Vec<String> {
        let mut t: Vec<String> = sends
            .iter()
            .filter_map(|r| r.body["text"]["body"].as_str().map(str::to_owned))
            .collect();
        t.sort();
        t
    };
    let mut want_default = on_default.clone();
    want_default.sort();
    let mut want_extra = on_extra.clone();
    want_extra.sort();
    assert_eq!(texts(&default_sends), want_default);
    assert_eq!(texts(&extra_sends), want_extra);
    for (sends, rate, name) in [
        (&default_sends, DEFAULT_RATE, "default"),
        (&extra_sends, EXTRA_RATE, "extra"),
    ] {
        let times: Vec<_> = sends.iter().map(|r| r.received_at).collect();
        let busiest = busiest_window(&times, chrono::Duration::seconds(1));
        let span = *times.iter().max().unwrap() - *times.iter().min().unwrap();
        println!(
            "{name} number: {} sends at {rate}/s over two replicas took {} ms; busiest second held {busiest}",
            sends.len(),
            span.num_milliseconds()
        );
        assert!(
            busiest <= rate + 2,
            "{busiest} sends of the {name} number within one second at {rate}/s"
        );
        let least = chrono::Duration::milliseconds((sends.len() as i64 - 3) * 1000 / rate as i64);
        assert!(
            span >= least,
            "{} sends of the {name} number took {} ms: faster than {rate}/s",
            sends.len(),
            span.num_milliseconds()
        );
    }

    // 130429 on the extra number through replica a: replica b sees the number stepped down, and both see it
    // recover (one halving back per 2 s quiet period).
    let (code, v) = call(&http, reqwest::Method::POST, a.url("/send-message"), &key,
        Some(json!({"from": EXTRA_PNID, "to": whatsapi_sandbox::magic::THROUGHPUT_LIMIT, "message": "burst"}))).await;
    assert_eq!(code, 202, "{v}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut lowest = EXTRA_RATE as u64;
    loop {
        let (_, v) = call(
            &http,
            reqwest::Method::GET,
            b.url(&format!("/numbers/{EXTRA_PNID}")),
            &key,
            None,
        )
        .await;
        let now = v["data"]["currentThroughputPerSecond"].as_u64().unwrap();
        lowest = lowest.min(now);
        if lowest < EXTRA_RATE as u64 && now == EXTRA_RATE as u64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never stepped down and back (lowest {lowest}): {v}\n{}",
            std::fs::read_to_string(&a.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        lowest <= (EXTRA_RATE / 2) as u64,
        "halved at least once: {lowest}"
    );
    let (_, v) = call(
        &http,
        reqwest::Method::GET,
        a.url(&format!("/numbers/{DEFAULT_PNID}")),
        &key,
        None,
    )
    .await;
    assert_eq!(
        v["data"]["currentThroughputPerSecond"], DEFAULT_RATE,
        "the other number was not slowed: {v}"
    );

    drop((a, b));
    sandbox.shutdown().await;
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
}
