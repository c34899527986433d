//! Starting the real binary: configuration mistakes get one clear line and a non-zero exit, without a backtrace
//! and without leaving files behind; the accepted database URLs; the sandbox stays on loopback unless told.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_whatsapi");

/// The binary in `dir` (its working directory), with a backtrace requested and no database URL inherited.
fn whatsapi(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env("RUST_BACKTRACE", "1")
        .env("WHATSAPI_LOG", "warn")
        .env_remove("DATABASE_URL")
        .env_remove("WHATSAPI_ENCRYPTION_KEY");
    cmd
}

fn run(dir: &Path, args: &[&str]) -> Output {
    whatsapi(dir, args).stdin(Stdio::null()).output().unwrap()
}

/// Asserts a refused start: non-zero, exactly one line on stderr that starts with "error:" and mentions every
/// `needle`, no backtrace or panic; answers the line.
fn assert_refused(out: &Output, needles: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "should fail: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line on stderr, got: {stderr}");
    let line = lines[0];
    assert!(line.starts_with("error: "), "{line}");
    for n in needles {
        assert!(line.contains(n), "'{n}' missing from: {line}");
    }
    for bad in ["backtrace", "panicked", "Caused by", "   0: "] {
        assert!(!stderr.contains(bad), "{stderr}");
    }
    line.to_owned()
}

/// Names of the entries of `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET /healthz answered 200 within 20 s, while `child` runs.
fn wait_healthy(child: &mut Child, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(e) = child.stderr.as_mut() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("whatsapi exited ({status}): {err}");
        }
        if let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut answer = String::new();
            let _ = c.read_to_string(&mut answer);
            if answer.starts_with("HTTP/1.1 200") {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("whatsapi never became healthy on port {port}");
}

fn start(dir: &Path, args: &[&str], port: u16) -> Child {
    let mut child = whatsapi(dir, args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_healthy(&mut child, port);
    child
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_wrong_flag_value_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--listen", "nonsense"]);
    assert_refused(&out, &["--listen", "nonsense"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let out = run(dir.path(), &["--header-read-timeout", "0s"]);
    assert_refused(&out, &["--header-read-timeout"]);
    let out = run(dir.path(), &["--trusted-proxy", "10.0.0.0/33"]);
    assert_refused(&out, &["--trusted-proxy"]);
    assert_eq!(entries(dir.path()), Vec::<String>::new(), "nothing created");
}

#[test]
fn a_port_in_use_is_one_line_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let out = run(
        dir.path(),
        &["--listen", &address, "--database", "data/whatsapi.db"],
    );
    assert_refused(&out, &[&address, "already in use"]);
    assert_eq!(
        entries(dir.path()),
        Vec::<String>::new(),
        "no database, no key file"
    );
}

#[test]
fn an_unwritable_database_path_is_one_line_and_creates_no_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a-file"), "x").unwrap();
    let out = run(
        dir.path(),
        &[
            "--listen",
            "127.0.0.1:0",
            "--database",
            "a-file/whatsapi.db",
            "--encryption-key-file",
            "keys/whatsapi.key",
        ],
    );
    let line = assert_refused(&out, &["a-file/whatsapi.db", "cannot create the folder"]);
    assert_eq!(
        line.matches("os error").count(),
        1,
        "each cause once: {line}"
    );
    assert_eq!(entries(dir.path()), ["a-file"], "no key file");
}

#[test]
fn a_bad_database_url_is_one_line_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for (url, needles) in [
        (
            "mysql://u:p@db/whatsapi",
            &["--database-url", "mysql", "postgres://"][..],
        ),
        ("sqlite::memory:", &["--database-url", "sqlite:PATH"][..]),
        // Refused at once: nothing listens on port 1.
        (
            "postgres://postgres@127.0.0.1:1/test",
            &["connecting to PostgreSQL"][..],
        ),
    ] {
        let out = run(
            dir.path(),
            &["--listen", "127.0.0.1:0", "--database-url", url],
        );
        assert_refused(&out, needles);
        assert_eq!(
            entries(dir.path()),
            Vec::<String>::new(),
            "{url}: no key file"
        );
    }
}

#[test]
fn sqlite_database_urls_name_the_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    for (url, file) in [
        ("sqlite:one/whatsapi.db", "one/whatsapi.db"),
        ("sqlite://two/whatsapi.db", "two/whatsapi.db"),
    ] {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let child = start(
            dir.path(),
            &["--listen", &listen, "--database-url", url],
            port,
        );
        stop(child);
        assert!(dir.path().join(file).exists(), "{url}");
        assert!(
            dir.path().join(format!("{file}.key")).exists(),
            "{url}: the key file sits next to it"
        );
    }
}

#[test]
fn the_sandbox_stays_on_loopback_unless_told() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &["--sandbox", "--listen", "0.0.0.0:0", "--database", "w.db"],
    );
    assert_refused(&out, &["--sandbox", "0.0.0.0:0", "--sandbox-public"]);
    assert_eq!(entries(dir.path()), Vec::<String>::new());
    let port = free_port();
    let listen = format!("0.0.0.0:{port}");
    let child = start(
        dir.path(),
        &[
            "--sandbox",
            "--sandbox-public",
            "--listen",
            &listen,
            "--database",
            "w.db",
        ],
        port,
    );
    stop(child);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    stop(start(
        dir.path(),
        &["--sandbox", "--listen", &listen, "--database", "w.db"],
        port,
    ));
}

#[test]
fn help_says_what_the_sandbox_relaxes() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["serve", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "Sandbox mode relaxes",
        "public",
        "--sandbox-public",
        "--webhook-allow-private",
        "--trusted-proxy",
        "--header-read-timeout",
    ] {
        assert!(help.contains(needle), "--help lacks '{needle}'");
    }
}
