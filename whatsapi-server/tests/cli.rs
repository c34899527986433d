//! The command-line client against a real server on loopback.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{Options, TestServer};
use serde_json::Value;
use whatsapi_core::encryption::EncryptionKey;
use whatsapi_core::testing::Script;
use whatsapi_core::transport::SendError;
use whatsapi_saas::PlanLimits;
use whatsapi_server::cli::ClientArgs;
use whatsapi_server::cli::bulk::{BulkArgs, run};

fn bulk_args(s: &TestServer, key: &str, file: std::path::PathBuf) -> BulkArgs {
    BulkArgs {
        client: ClientArgs {
            api_url: s.base.clone(),
            api_key: key.to_owned(),
        },
        report: Some(file.with_extension("report.csv")),
        file,
        to_column: "phone".into(),
        template: Some("order_ready".into()),
        language: "en_US".into(),
        params: vec!["name".into(), "order".into()],
        text: None,
        message_column: None,
        chunk_size: None,
        max_chunks: None,
        from: None,
        validity: None,
        dry_run: true,
        wait: false,
        wait_timeout: 30,
        quiet: true,
        journal: None,
        resend_unconfirmed: false,
        campaign: Default::default(),
    }
}

fn write_csv(dir: &std::path::Path) -> std::path::PathBuf {
    let mut csv = String::from("phone,name,order\n");
    for i in 0..23 {
        csv.push_str(&format!(
            "1415555{:04},Customer {i},#{}\n",
            1000 + i,
            5000 + i
        ));
    }
    csv.push_str("+14155550001,Plus Sign,#1\n"); // line 25: refused by the server
    csv.push_str("14155550002,Short Row\n"); // line 26: no 'order' column value
    let path = dir.join("customers.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

#[tokio::test]
async fn bulk_chunks_resumes_without_duplicates_and_reports_refused_rows() {
    let mut options = Options::default();
    options.plans.free = PlanLimits {
        requests_per_minute: 100_000,
        bulk_cap: 10,
        ..whatsapi_saas::Plan::Free.default_limits()
    };
    let s = TestServer::start_with(options).await;
    let key = s.register("cli@example.com").await;
    let file = write_csv(s.dir.path());

    // First run stops after one chunk, as an interruption would.
    let mut args = bulk_args(&s, &key, file.clone());
    args.max_chunks = Some(1);
    let first = run(&args).await.unwrap();
    assert_eq!(first.rows, 25);
    assert_eq!(first.queued, 10);
    assert_eq!(
        first.chunks_left, 2,
        "24 sendable rows in chunks of the plan's cap of 10"
    );

    // The rerun replays the first chunk (nothing sent twice) and sends the rest, following delivery.
    args.max_chunks = None;
    args.wait = true;
    let second = run(&args).await.unwrap();
    assert_eq!(second.already_queued, 10);
    assert_eq!(second.queued, 13, "23 valid rows in all");
    assert_eq!(second.batches.len(), 3);
    assert_eq!(
        second.by_status.get("delivered"),
        Some(&23),
        "{:?}",
        second.by_status
    );

    let (_, list) = s.get(&key, "/messages?limit=200").await;
    assert_eq!(
        list["pagination"]["total"], 23,
        "every valid row exactly once"
    );
    let first_msg = &list["data"].as_array().unwrap().last().unwrap()["template"];
    assert_eq!(first_msg["name"], "order_ready");
    assert_eq!(
        first_msg["components"][0]["parameters"][0]["text"],
        "Customer 0"
    );

    let lines: Vec<usize> = second.refused.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![25, 26]);
    assert!(
        second.refused[0].reason.contains("to:"),
        "{:?}",
        second.refused[0]
    );
    assert!(
        second.refused[1].reason.contains("order"),
        "{:?}",
        second.refused[1]
    );
    let report = std::fs::read_to_string(file.with_extension("report.csv")).unwrap();
    assert!(
        report.starts_with("line,to,reason\n25,+14155550001,"),
        "{report}"
    );
    s.stop().await;
}

#[tokio::test]
async fn send_and_status_commands() {
    let s = TestServer::start().await;
    let key = s.register("cli-send@example.com").await;
    let bin = env!("CARGO_BIN_EXE_whatsapi");
    let base = s.base.clone();
    let key2 = key.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(bin)
            .args([
                "send",
                "--to",
                "14155552671",
                "--template",
                "hello_world",
                "--dry-run",
                "--wait",
            ])
            .args(["--api-url", &base])
            .env("WHATSAPI_KEY", &key2)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = stdout.split_whitespace().next().unwrap().to_owned();
    assert!(stdout.contains("status    delivered"), "{stdout}");
    let (code, v): (u16, Value) = s.get(&key, &format!("/messages/{id}")).await;
    assert_eq!(code, 200);
    assert_eq!(v["data"]["template"]["name"], "hello_world");

    let base = s.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(bin)
            .args(["status", &id, "--api-url", &base, "--api-key", &key])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        stdout.contains("timeline") && stdout.contains("queued") && stdout.contains("delivered"),
        "{stdout}"
    );
    s.stop().await;
}

const BIN: &str = env!("CARGO_BIN_EXE_whatsapi");

/// Runs the binary with `args` against `base` as `key`; returns its output.
async fn whatsapi(base: &str, key: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("WHATSAPI_URL", base)
        .env("WHATSAPI_KEY", key)
        .env_remove("WHATSAPI_LISTEN");
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn free_plan(rpm: u32, bulk_cap: usize) -> Options {
    let mut options = Options::default();
    options.plans.free = PlanLimits {
        requests_per_minute: rpm,
        bulk_cap,
        ..whatsapi_saas::Plan::Free.default_limits()
    };
    options
}

/// Every recipient the server holds for this key, with how many messages each got.
async fn recipients(s: &TestServer, key: &str) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    let mut page = 1;
    loop {
        let (code, list) = s
            .get(key, &format!("/messages?limit=200&page={page}"))
            .await;
        assert_eq!(code, 200, "{list}");
        for m in list["data"].as_array().unwrap() {
            *out.entry(m["to"].as_str().unwrap().to_owned()).or_default() += 1;
        }
        if page >= list["pagination"]["totalPages"].as_u64().unwrap_or(1) {
            return out;
        }
        page += 1;
    }
}

/// A 20-row file: 19 valid rows and one the server refuses (line 12).
fn twenty_rows(dir: &std::path::Path) -> std::path::PathBuf {
    let mut csv = String::from("phone,name\n");
    for i in 0..20 {
        if i == 10 {
            csv.push_str("+14155550000,Bad\n");
        } else {
            csv.push_str(&format!("1415556{:04},Customer {i}\n", i));
        }
    }
    let path = dir.join("campaign.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

#[tokio::test]
async fn bulk_reruns_with_any_chunk_size_and_a_plan_change_send_each_row_once() {
    let db_key = EncryptionKey::generate();
    let mut options = free_plan(100_000, 10);
    options.encryption_key = Some(db_key.clone());
    let a = TestServer::start_with(options).await;
    let key = a.register("rechunk@example.com").await;
    let file = twenty_rows(a.dir.path());
    let file_s = file.to_str().unwrap().to_owned();
    let bulk = |extra: &[&str]| {
        let mut v: Vec<String> = [
            "bulk",
            &file_s,
            "--to-column",
            "phone",
            "--text",
            "Hi {name}",
            "--dry-run",
            "--quiet",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |base: String, args: Vec<String>| {
        let key = key.clone();
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            whatsapi(&base, &key, &refs).await
        }
    };

    // Chunks of 10, stopped after one chunk: rows 2..11 queued.
    let out = run(
        a.base.clone(),
        bulk(&["--chunk-size", "10", "--max-chunks", "1"]),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("20 rows: 10 queued now"),
        "{}",
        text(&out)
    );
    // Chunks of 5, one chunk: the next five rows (line 12 is refused by the server).
    let out = run(
        a.base.clone(),
        bulk(&["--chunk-size", "5", "--max-chunks", "1"]),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("4 queued now, 10 queued by an earlier run"),
        "{}",
        text(&out)
    );
    assert_eq!(recipients(&a, &key).await.len(), 14);

    // A crash after the server accepted a chunk but before its answer was journaled: the journal ends with that
    // chunk pending. The rerun (another chunk size) settles it by replay and sends nothing twice.
    let out = run(
        a.base.clone(),
        bulk(&["--chunk-size", "6", "--max-chunks", "1"]),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let journal_path = format!("{file_s}.bulk-journal");
    let journal = std::fs::read_to_string(&journal_path).unwrap();
    let lines: Vec<&str> = journal.lines().collect();
    assert!(lines.last().unwrap().contains("\"answered\""), "{journal}");
    std::fs::write(&journal_path, lines[..lines.len() - 1].join("\n") + "\n").unwrap();
    assert_eq!(recipients(&a, &key).await.len(), 19);

    // The plan changes (the operator lowers the bulk cap to 4): the default chunk size follows it, and the
    // pending chunk of 6, bigger than the new cap, is still replayed rather than sent again.
    let mut options = free_plan(100_000, 4);
    options.database = Some(a.db_path.clone());
    options.encryption_key = Some(db_key);
    let b = TestServer::start_with(options).await;
    let out = run(b.base.clone(), bulk(&[])).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("20 rows: 0 queued now, 19 queued by an earlier run, 1 refused"),
        "{}",
        text(&out)
    );
    // And once more with yet another chunk size: nothing left to send.
    let out = run(b.base.clone(), bulk(&["--chunk-size", "2"])).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("0 queued now, 19 queued by an earlier run"),
        "{}",
        text(&out)
    );

    let sent = recipients(&b, &key).await;
    assert_eq!(sent.len(), 19, "{sent:?}");
    assert!(sent.values().all(|n| *n == 1), "a row sent twice: {sent:?}");
    assert!(!sent.contains_key("+14155550000"));
    b.stop().await;
    a.stop().await;
}

fn permanent_failure() -> Script {
    Script::Fail(SendError::meta(400, 131026, "Message undeliverable"))
}

#[tokio::test]
async fn send_wait_and_bulk_wait_exit_non_zero_when_a_message_fails() {
    let s = TestServer::start().await;
    let key = s.account_with_credentials("cli-fail@example.com").await;
    s.transport.default_for("14155550001", permanent_failure());

    let out = whatsapi(
        &s.base,
        &key,
        &["send", "--to", "14155550001", "--text", "hi", "--wait"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("status    failed"), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("failed"),
        "{}",
        text(&out)
    );

    let file = s.dir.path().join("fail.csv");
    std::fs::write(&file, "phone\n14155550001\n14155550002\n").unwrap();
    s.transport.default_for("14155550002", permanent_failure());
    let out = whatsapi(
        &s.base,
        &key,
        &[
            "bulk",
            file.to_str().unwrap(),
            "--to-column",
            "phone",
            "--template",
            "hello_world",
            "--wait",
            "--wait-timeout",
            "30",
            "--quiet",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("delivery: failed: 2"),
        "{}",
        text(&out)
    );
    s.stop().await;
}

/// `GET /messages` requests counted by the server's metrics.
async fn list_requests(s: &TestServer) -> u64 {
    metric(
        s,
        "whatsapi_http_requests_total{route=\"/messages\",method=\"GET\"",
    )
    .await
}

/// Bulk requests the server accepted (202), by its metrics.
async fn accepted_chunks(s: &TestServer) -> u64 {
    metric(
        s,
        "whatsapi_http_requests_total{route=\"/messages/bulk\",method=\"POST\",status=\"202\"}",
    )
    .await
}

/// The sum of the metric lines starting with `prefix`.
async fn metric(s: &TestServer, prefix: &str) -> u64 {
    let body = s
        .client
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    body.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test]
async fn bulk_wait_polls_with_one_list_request_per_round() {
    let s = TestServer::start_with(free_plan(100_000, 2)).await;
    let key = s.account_with_credentials("cli-poll@example.com").await;
    // Every send takes 4 s, then fails: the messages stay open for a few rounds.
    s.transport.default_all(Script::Delay(
        Duration::from_secs(4),
        Box::new(permanent_failure()),
    ));
    let file = s.dir.path().join("poll.csv");
    let mut csv = String::from("phone\n");
    for i in 0..10 {
        csv.push_str(&format!("1415557{i:04}\n"));
    }
    std::fs::write(&file, csv).unwrap();
    let before = list_requests(&s).await;
    let started = std::time::Instant::now();
    let out = whatsapi(
        &s.base,
        &key,
        &[
            "bulk",
            file.to_str().unwrap(),
            "--to-column",
            "phone",
            "--template",
            "hello_world",
            "--wait",
            "--quiet",
        ],
    )
    .await;
    let took = started.elapsed().as_secs();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("delivery: failed: 10"),
        "{}",
        text(&out)
    );
    // Five batches. One request per 2-second round while messages are open, plus one last look at each batch;
    // one request per batch per round would be five per round.
    let requests = list_requests(&s).await - before;
    assert!(
        requests <= took / 2 + 1 + 5,
        "{requests} list requests in {took} s"
    );
    s.stop().await;
}

/// A file of `n` rows, one recipient each.
fn rows(dir: &std::path::Path, name: &str, n: usize) -> std::path::PathBuf {
    let mut csv = String::from("phone\n");
    for i in 0..n {
        csv.push_str(&format!("1415558{i:04}\n"));
    }
    let path = dir.join(name);
    std::fs::write(&path, csv).unwrap();
    path
}

#[tokio::test]
async fn the_progress_bar_counts_down_a_rate_limit_pause() {
    // Four requests a minute: /auth/me and three chunks, then a pause until the minute ends.
    let s = TestServer::start_with(free_plan(4, 1)).await;
    let key = s.register("cli-bar@example.com").await;
    let file = rows(s.dir.path(), "bar.csv", 30);
    let command = format!(
        "{BIN} bulk {} --to-column phone --template hello_world --dry-run",
        file.display()
    );
    // A terminal (script(1) gives one), so the bar is drawn.
    let mut child = Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .env("WHATSAPI_URL", &s.base)
        .env("WHATSAPI_KEY", &key)
        .env("TERM", "xterm")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = std::io::Read::read_to_end(&mut { stdout }, &mut all);
        String::from_utf8_lossy(&all).to_string()
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    let _ = child.kill();
    let _ = child.wait();
    let screen = reader.join().unwrap();
    let mut shown: Vec<u64> = screen
        .match_indices("waiting ")
        .filter_map(|(i, _)| {
            let rest = &screen[i + "waiting ".len()..];
            let (n, _) = rest.split_once(" s (rate limit)")?;
            n.parse().ok()
        })
        .collect();
    shown.dedup();
    assert!(
        shown.len() >= 3,
        "the countdown should refresh every second: {shown:?}\n{screen}"
    );
    assert!(
        shown.windows(2).filter(|w| w[1] + 1 == w[0]).count() >= 2,
        "{shown:?}"
    );
    s.stop().await;
}

#[tokio::test]
async fn an_interrupted_bulk_shows_what_the_server_accepted_and_the_rerun_sends_the_rest() {
    let s = TestServer::start_with(free_plan(4, 1)).await;
    let key = s.register("cli-int@example.com").await;
    let file = rows(s.dir.path(), "int.csv", 8);
    let child = Command::new(BIN)
        .args([
            "bulk",
            file.to_str().unwrap(),
            "--to-column",
            "phone",
            "--template",
            "hello_world",
            "--dry-run",
        ])
        .env("WHATSAPI_URL", &s.base)
        .env("WHATSAPI_KEY", &key)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Three chunks go through, then the rate limit pauses the run: Ctrl-C there. (The key's own budget is spent,
    // so the server's metrics count what it accepted.)
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while accepted_chunks(&s).await < 3 {
        assert!(std::time::Instant::now() < deadline, "nothing sent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    let accepted = accepted_chunks(&s).await as usize;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "8 rows: {accepted} queued now, 0 queued by an earlier run, 0 refused; {} rows left (interrupted)",
            8 - accepted
        )),
        "{}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("waiting"),
        "{}",
        text(&out)
    );
    s.stop().await;
}

#[test]
fn top_level_help_leads_with_the_client_commands() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    let at = |w: &str| {
        help.find(&format!("\n  {w} "))
            .unwrap_or_else(|| panic!("{w} missing:\n{help}"))
    };
    assert!(at("send") < at("bulk") && at("bulk") < at("status") && at("status") < at("serve"));
    assert!(
        !help.contains("--listen"),
        "server flags belong to serve --help:\n{help}"
    );
    assert!(help.contains("serve --help"), "{help}");
    let out = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("--listen"));
    // The old spelling still means serve.
    let out = Command::new(BIN)
        .args(["--sandbox", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("--plan-rpm"));
}

#[tokio::test]
async fn server_logs_have_no_colour_codes_when_not_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["--sandbox", "--listen", "127.0.0.1:0", "--database"])
        .arg(dir.path().join("w.db"))
        .env_remove("WHATSAPI_LOG_FORMAT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = child.kill();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(logs.contains("INFO"), "{logs}");
    assert!(!logs.contains('\u{1b}'), "{logs:?}");
}

/// Runs `whatsapi send --to 14155552671 --dry-run --wait` with `extra`; the output and whether it succeeded.
async fn send_with(s: &TestServer, key: &str, extra: &[&'static str]) -> (bool, String) {
    let bin = env!("CARGO_BIN_EXE_whatsapi");
    let (base, key, extra) = (s.base.clone(), key.to_owned(), extra.to_vec());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(bin)
            .args(["send", "--to", "14155552671", "--dry-run", "--wait"])
            .args(extra)
            .args(["--api-url", &base])
            .env("WHATSAPI_KEY", &key)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// What `send_with` printed and the message the server stored for it.
async fn sent_message(s: &TestServer, key: &str, extra: &[&'static str]) -> (String, Value) {
    let (ok, out) = send_with(s, key, extra).await;
    assert!(ok, "{out}");
    let id = out.split_whitespace().next().unwrap().to_owned();
    let (code, v): (u16, Value) = s.get(key, &format!("/messages/{id}")).await;
    assert_eq!(code, 200);
    (out, v["data"].clone())
}

/// `send` builds media and reply-button messages from flags; the server stores what they mean.
#[tokio::test]
async fn send_media_and_buttons_from_flags() {
    let s = TestServer::start().await;
    let key = s.register("cli-media@example.com").await;
    let image = [
        "--image",
        "https://example.com/menu.jpg",
        "--caption",
        "Today's menu",
    ];
    let (out, m) = sent_message(&s, &key, &image).await;
    assert!(
        out.contains("type      image") && out.contains("caption   Today's menu"),
        "{out}"
    );
    assert_eq!(m["type"], "image");
    assert_eq!(m["media"]["link"], "https://example.com/menu.jpg");

    let document = [
        "--document",
        "4490709327384033",
        "--filename",
        "invoice.pdf",
    ];
    let (_, m) = sent_message(&s, &key, &document).await;
    assert_eq!(m["media"]["id"], "4490709327384033");
    assert_eq!(m["media"]["filename"], "invoice.pdf");

    let buttons = ["--text", "Confirm your booking?", "--buttons", "Yes, No"];
    let (out, m) = sent_message(&s, &key, &buttons).await;
    assert!(out.contains("buttons   Yes, No"), "{out}");
    assert_eq!(m["type"], "interactive");
    assert_eq!(
        m["interactive"]["options"],
        serde_json::json!(["Yes", "No"])
    );

    // A flag combination that means nothing is refused by the CLI itself.
    let nonsense = [
        "--template",
        "hello_world",
        "--image",
        "https://example.com/a.jpg",
    ];
    assert!(!send_with(&s, &key, &nonsense).await.0);
    s.stop().await;
}

/// `send --contacts FILE|-` sends the cards a JSON file holds (an array, or one object), and `--contact
/// "Name,Phone"` builds one card per flag; what the server stores is what the flags meant.
#[tokio::test]
async fn send_contacts_from_a_file_stdin_and_quick_flags() {
    let s = TestServer::start().await;
    let key = s.register("cli-contacts@example.com").await;
    let quick = [
        "--contact",
        "Ada Lovelace,+14155552671",
        "--contact",
        "Babbage, Charles , +447700900123",
    ];
    let (out, m) = sent_message(&s, &key, &quick).await;
    assert_eq!(m["type"], "contacts", "{m}");
    assert_eq!(
        m["contactNames"],
        serde_json::json!(["Ada Lovelace", "Babbage, Charles"])
    );
    assert!(
        out.contains("contacts  Ada Lovelace, Babbage, Charles"),
        "{out}"
    );
    let sent = m["content"].to_string();
    assert!(
        sent.contains("+14155552671") && sent.contains("+447700900123"),
        "{sent}"
    );

    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one.json");
    std::fs::write(
        &one,
        r#"{"name": {"formatted_name": "Grace Hopper", "first_name": "Grace"},
            "phones": [{"phone": "+12025550100", "type": "WORK"}],
            "emails": [{"email": "grace@example.com"}]}"#,
    )
    .unwrap();
    let path: &'static str = Box::leak(one.to_str().unwrap().to_owned().into_boxed_str());
    let (_, m) = sent_message(&s, &key, &["--contacts", path]).await;
    assert_eq!(m["contactNames"], serde_json::json!(["Grace Hopper"]));
    assert!(
        m["content"].to_string().contains("grace@example.com"),
        "{m}"
    );

    // An array on standard input.
    let bin = env!("CARGO_BIN_EXE_whatsapi");
    let (base, k) = (s.base.clone(), key.clone());
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let mut child = Command::new(bin)
            .args(["send", "--to", "14155552671", "--dry-run", "--contacts", "-"])
            .args(["--api-url", &base])
            .env("WHATSAPI_KEY", &k)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(br#"[{"name": {"formatted_name": "Alan Turing"}}, {"name": {"formatted_name": "Joan Clarke"}}]"#)
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let id = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let (_, v) = s.get(&key, &format!("/messages/{id}")).await;
    assert_eq!(
        v["data"]["contactNames"],
        serde_json::json!(["Alan Turing", "Joan Clarke"])
    );

    // Refused: a quick card without a phone, a file that is not JSON, a card the server refuses (no
    // formatted_name), contacts with a template, and a missing file.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "not json").unwrap();
    let bad: &'static str = Box::leak(bad.to_str().unwrap().to_owned().into_boxed_str());
    let nameless = dir.path().join("nameless.json");
    std::fs::write(&nameless, r#"[{"phones": [{"phone": "+12025550100"}]}]"#).unwrap();
    let nameless: &'static str = Box::leak(nameless.to_str().unwrap().to_owned().into_boxed_str());
    for (args, says) in [
        (vec!["--contact", "Ada Lovelace"], "Name,+15551234567"),
        (vec!["--contacts", bad], "JSON array"),
        (vec!["--contacts", nameless], "formatted_name"),
        (
            vec!["--contact", "Ada,+1415", "--template", "hello_world"],
            "cannot be used with",
        ),
        (vec!["--contacts", "/nonexistent/cards.json"], "cannot open"),
    ] {
        let (ok, out) = send_with(&s, &key, &args).await;
        assert!(!ok && out.contains(says), "{args:?}: {out}");
    }
    s.stop().await;
}

/// `send --recipient` names a user behind a username; `--reply-to` quotes a message.
#[tokio::test]
async fn send_to_a_username_as_a_reply() {
    let s = TestServer::start().await;
    let key = s.register("cli-bsuid@example.com").await;
    let flags = [
        "--recipient",
        "US.13491208655302741918",
        "--reply-to",
        "wamid.HBgLMTQxNTU1NTI2NzEVAgASGBQzQUZC",
        "--text",
        "On its way",
    ];
    let (out, m) = sent_message(&s, &key, &flags).await;
    assert_eq!(m["recipientUserId"], "US.13491208655302741918", "{m}");
    assert_eq!(m["to"], "14155552671", "{m}");
    assert_eq!(
        m["context"]["messageId"], "wamid.HBgLMTQxNTU1NTI2NzEVAgASGBQzQUZC",
        "{m}"
    );
    assert!(
        out.contains("user id   US.13491208655302741918")
            && out.contains("reply to  wamid.HBgLMTQxNTU1NTI2NzEVAgASGBQzQUZC"),
        "{out}"
    );
    let (ok, out) = send_with(&s, &key, &["--recipient", "14155552671", "--text", "x"]).await;
    assert!(!ok && out.contains("recipient"), "{out}");
}

#[tokio::test]
async fn bulk_with_campaign_creates_one_campaign_and_follows_it_to_the_end() {
    let s = TestServer::start().await;
    let key = s.register("cli-campaign@example.com").await;
    let mut csv = String::from("phone,name,order,timeZone\n");
    for i in 0..6 {
        csv.push_str(&format!(
            "1415555{:04},Customer {i},#{},Europe/London\n",
            2000 + i,
            7000 + i
        ));
    }
    let file = s.dir.path().join("campaign.csv");
    std::fs::write(&file, csv).unwrap();
    let mut args = bulk_args(&s, &key, file);
    args.campaign.campaign = Some("CLI campaign".into());
    args.campaign.rate = Some(20);
    args.campaign.time_zone_column = "timeZone".into();
    args.wait = true;
    let report = whatsapi_server::cli::campaign::run(&args, "CLI campaign")
        .await
        .unwrap();
    assert_eq!(report.recipients, 6, "{report:?}");
    assert_eq!(report.state, "completed", "{report:?}");
    let (code, v) = s.get(&key, &format!("/campaigns/{}", report.id)).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["name"], "CLI campaign", "{v}");
    assert_eq!(v["data"]["ratePerSecond"], 20, "{v}");
    assert_eq!(v["data"]["settled"], 6, "{v}");
    // Each row's parameters reached its message.
    let (_, list) = s
        .get(&key, &format!("/messages?batchId={}", report.id))
        .await;
    let id = list["data"][0]["id"].as_str().unwrap();
    let (_, m) = s.get(&key, &format!("/messages/{id}")).await;
    let text = m["data"].to_string();
    assert!(text.contains("Customer") && text.contains("#70"), "{text}");
}
