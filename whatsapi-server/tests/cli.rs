//! The command-line client against a real server on loopback.

mod common;

use std::process::Command;

use common::{Options, TestServer};
use serde_json::Value;
use whatsapi_core::account::PlanLimits;
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
        dry_run: true,
        wait: false,
        wait_timeout: 30,
        quiet: true,
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
