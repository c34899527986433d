//! Runs each embedding example end to end (`cargo test` builds them beside this test) and checks what it printed,
//! so an example that stops working fails CI instead of a reader.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn example(name: &str) -> PathBuf {
    // target/debug/deps/run_examples-… → target/debug/examples/<name>
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().join("examples");
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is not built; run `cargo test -p whatsapi-examples`, which builds the examples",
        path.display()
    );
    path
}

fn run(name: &str) -> String {
    let started = Instant::now();
    let out = Command::new(example(name))
        .env_remove("WHATSAPP_ACCESS_TOKEN")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} exited with {}:\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{name} took {:?}",
        started.elapsed()
    );
    stdout
}

#[test]
fn sqlite_graph_sends_through_the_graph_transport() {
    let out = run("sqlite_graph");
    assert_eq!(out.matches(" is sent (wamid wamid.").count(), 2, "{out}");
    assert!(out.contains("engine stopped"), "{out}");
}

#[test]
fn custom_transport_sees_each_send_and_its_refusal() {
    let out = run("custom_transport");
    assert!(out.contains("POST /1234567890/messages {"), "{out}");
    assert!(out.contains("\"to\":\"14155552671\""), "{out}");
    assert!(out.contains(" is sent (wamid wamid.printed.1)"), "{out}");
    assert!(out.contains(" is failed "), "{out}");
    assert!(out.contains("(retryable: false)"), "{out}");
}

#[test]
fn meta_webhook_ingest_moves_the_message_to_read() {
    let out = run("meta_webhook_ingest");
    assert!(out.contains("handshake answered 1158201444"), "{out}");
    assert!(out.contains("inbound: 1"), "{out}");
    assert!(out.contains(" is read (wamid "), "{out}");
    for status in ["sent", "delivered", "read"] {
        assert!(
            out.contains(&format!("\n  {status:<10} ")),
            "{status} missing:\n{out}"
        );
    }
}

#[test]
fn in_process_delivers_both_messages() {
    let out = run("in_process");
    assert_eq!(out.matches(" is delivered ").count(), 2, "{out}");
}
