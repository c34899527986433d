//! Accounts done right: key rotation seen by every replica, operator deactivation, the encryption key file and
//! key rotation of secrets at rest.

mod common;

use std::process::Command;

use common::{Options, PHONE_NUMBER_ID, TestServer};
use serde_json::{Value, json};
use whatsapi_core::encryption::{EncryptingStore, EncryptionKey, KeyRing};
use whatsapi_core::store::{Store, TenantStore};
use whatsapi_saas::CustomerStore;
use whatsapi_server::config::StoreArgs;

fn store_args(db: &std::path::Path) -> StoreArgs {
    StoreArgs {
        database: db.to_owned(),
        database_url: None,
        database_pool: 4,
        encryption_key: None,
        encryption_key_file: None,
        previous_encryption_key_files: Vec::new(),
    }
}

/// Runs the `whatsapi` binary with a clean environment of its own settings.
fn whatsapi(args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_whatsapi"));
    for (k, _) in std::env::vars() {
        if k.starts_with("WHATSAPI_") || k.starts_with("STRIPE_") || k == "DATABASE_URL" {
            cmd.env_remove(k);
        }
    }
    cmd.args(args).output().unwrap()
}

#[tokio::test]
async fn a_rotated_key_fails_at_once_on_every_replica() {
    let key = EncryptionKey::generate();
    let a = TestServer::start_with(Options {
        encryption_key: Some(key.clone()),
        ..Options::default()
    })
    .await;
    let b = TestServer::start_with(Options {
        database: Some(a.db_path.clone()),
        encryption_key: Some(key),
        ..Options::default()
    })
    .await;
    let old = a.register("replicas@example.com").await;
    // Both replicas know the key (B has served it once, so any cache would hold it now).
    assert_eq!(b.get(&old, "/auth/me").await.0, 200);
    assert_eq!(a.get(&old, "/auth/me").await.0, 200);

    let (code, v) = a.post(&old, "/auth/me/rotate-key", Value::Null).await;
    assert_eq!(code, 200, "{v}");
    let new = v["data"]["apiKey"].as_str().unwrap().to_owned();
    let (code, v) = b.get(&old, "/auth/me").await;
    assert_eq!(
        code, 401,
        "the other replica refuses the old key on the very next request: {v}"
    );
    assert_eq!(v["success"], false);
    assert_eq!(a.get(&old, "/auth/me").await.0, 401);
    assert_eq!(b.get(&new, "/auth/me").await.0, 200);
    // Rotating with the old key again is refused; the new key rotates.
    assert_eq!(
        b.post(&old, "/auth/me/rotate-key", Value::Null).await.0,
        401
    );
    assert_eq!(
        b.post(&new, "/auth/me/rotate-key", Value::Null).await.0,
        200
    );
    assert_eq!(a.get(&new, "/auth/me").await.0, 401);
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn deactivated_accounts_get_403_and_their_queued_messages_wait() {
    let s = TestServer::start().await;
    let db = s.db_path.to_str().unwrap().to_owned();
    let held = s.account_with_credentials("held@example.com").await;
    let other = s.register("other@example.com").await;
    s.client
        .put(s.url("/auth/me/credentials"))
        .bearer_auth(&other)
        .json(&json!({"whatsappAccessToken": "EAAother", "whatsappPhoneNumberId": "99887766"}))
        .send()
        .await
        .unwrap();

    let at = |secs: i64| {
        (chrono::Utc::now() + chrono::Duration::seconds(secs))
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string()
    };
    let (code, v) = s
        .post(
            &held,
            "/send-message",
            json!({"to": "14155550101", "message": "held back", "sendAt": at(1)}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    let held_id = v["data"]["id"].as_str().unwrap().to_owned();

    let out = whatsapi(&[
        "account",
        "deactivate",
        "--email",
        "HELD@example.com",
        "--database",
        &db,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("deactivated"));

    let (code, v) = s.get(&held, "/auth/me").await;
    assert_eq!(code, 403, "{v}");
    assert!(v["error"].as_str().unwrap().contains("deactivated"));
    let (code, _) = s
        .post(
            &held,
            "/send-message",
            json!({"to": "14155550101", "message": "more"}),
        )
        .await;
    assert_eq!(code, 403);

    // A message of another account that becomes due after the held one: once it is sent, the dispatcher has passed
    // the held message's due time (claims go oldest due first) and must have skipped it.
    let (code, v) = s
        .post(
            &other,
            "/send-message",
            json!({"to": "14155550202", "message": "goes out", "sendAt": at(2)}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    let other_id = v["data"]["id"].as_str().unwrap().to_owned();
    s.wait_status(&other, &other_id, &["sent"]).await;
    let sent_to: Vec<String> = s
        .transport
        .sent()
        .iter()
        .map(|r| r.message.to.to_string())
        .collect();
    assert!(
        !sent_to.iter().any(|to| to == "14155550101"),
        "a deactivated account's message was sent: {sent_to:?}"
    );
    let raw = s
        .store
        .get_message(
            s.sqlite
                .customer_by_email("held@example.com")
                .await
                .unwrap()
                .unwrap()
                .id,
            held_id.parse().unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(raw.status, whatsapi_core::Status::Scheduled);

    let out = whatsapi(&[
        "account",
        "reactivate",
        "--email",
        "held@example.com",
        "--database",
        &db,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(s.get(&held, "/auth/me").await.0, 200);
    s.wait_status(&held, &held_id, &["sent"]).await;

    let out = whatsapi(&[
        "account",
        "deactivate",
        "--email",
        "nobody@example.com",
        "--database",
        &db,
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no account with the email"));
    s.stop().await;
}

#[cfg(unix)]
#[test]
fn the_key_file_is_created_0600_beside_the_database_and_loose_files_are_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("whatsapi.db");
    let args = store_args(&db);
    assert_eq!(args.key_file(), dir.path().join("whatsapi.db.key"));
    let first = whatsapi_server::ops::key_ring(&args).unwrap();
    let mode = std::fs::metadata(dir.path().join("whatsapi.db.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let again = whatsapi_server::ops::key_ring(&args).unwrap();
    assert_eq!(
        again.primary().id(),
        first.primary().id(),
        "the file is reused"
    );

    std::fs::set_permissions(
        dir.path().join("whatsapi.db.key"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    let err = format!("{:#}", whatsapi_server::ops::key_ring(&args).unwrap_err());
    assert!(err.contains("chmod 600"), "{err}");

    // The server refuses to start on it, saying why.
    let out = whatsapi(&[
        "serve",
        "--database",
        db.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("whatsapi.db.key") && stderr.contains("chmod 600"),
        "{stderr}"
    );

    // A key in the environment wins over the file and must be 32 bytes of base64.
    let bad = StoreArgs {
        encryption_key: Some("dG9vIHNob3J0".into()),
        ..store_args(&db)
    };
    let err = format!("{:#}", whatsapi_server::ops::key_ring(&bad).unwrap_err());
    assert!(
        err.contains("WHATSAPI_ENCRYPTION_KEY") && err.contains("32"),
        "{err}"
    );
    let good = EncryptionKey::generate();
    let from_env = StoreArgs {
        encryption_key: Some(good.to_base64()),
        ..store_args(&db)
    };
    assert_eq!(
        whatsapi_server::ops::key_ring(&from_env)
            .unwrap()
            .primary()
            .id(),
        good.id()
    );
}

#[tokio::test]
async fn rotate_key_command_re_encrypts_every_account() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("whatsapi.db");
    let old_file = dir.path().join("whatsapi.db.key");
    let old = EncryptionKey::create_file(&old_file).unwrap();
    let s = TestServer::start_with(Options {
        database: Some(db.clone()),
        encryption_key: Some(old.clone()),
        ..Options::default()
    })
    .await;
    let mut keys = Vec::new();
    for i in 0..3 {
        let key = s
            .account_with_credentials(&format!("rot{i}@example.com"))
            .await;
        let r = s
            .client
            .put(s.url("/auth/me/webhook"))
            .bearer_auth(&key)
            .json(&json!({"url": "http://127.0.0.1:9/hook"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        keys.push(key);
    }
    s.stop().await;

    let new_file = dir.path().join("new.key");
    let out = whatsapi(&[
        "encryption",
        "rotate-key",
        "--database",
        db.to_str().unwrap(),
        "--new-key-file",
        new_file.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("re-encrypted 3 of 3 accounts"), "{stdout}");

    let new = EncryptionKey::read_file(&new_file).unwrap();
    let sqlite = std::sync::Arc::new(whatsapi_store_sqlite::SqliteStore::open(&db).unwrap());
    let raw: std::sync::Arc<dyn Store> = sqlite.clone();
    let with_new = EncryptingStore::new(raw.clone(), KeyRing::new(new.clone()));
    let with_old = EncryptingStore::new(raw.clone(), KeyRing::new(old));
    for account in raw.list_accounts(None, 100).await.unwrap() {
        let c = account.credentials.as_ref().unwrap();
        assert!(
            c.access_token.starts_with(&format!("enc:v1:{}:", new.id())),
            "sealed under the new key: {}",
            c.access_token
        );
        let open = with_new.account(account.id).await.unwrap().unwrap();
        assert_eq!(open.credentials.unwrap().access_token, "EAAtest");
        assert!(open.webhook.unwrap().secret.starts_with("whsec_"));
        assert!(
            with_old.account(account.id).await.is_err(),
            "the old key no longer opens it"
        );
    }
    let routed = raw
        .account_by_phone_number_id(PHONE_NUMBER_ID)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        sqlite.customer(routed.id).await.unwrap().map(|c| c.email),
        Some("rot0@example.com".into())
    );
    drop((with_new, with_old, raw, sqlite));

    // A server on the new key serves the accounts.
    let s = TestServer::start_with(Options {
        database: Some(db.clone()),
        encryption_key: Some(new),
        ..Options::default()
    })
    .await;
    let (code, v) = s.get(&keys[1], "/auth/me").await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["byocConfigured"], true);
    s.stop().await;
}

/// A phone number id belongs to one account: a second account gets 409 saying how the first frees it, and can
/// save it once the first removed its credentials.
#[tokio::test]
async fn a_taken_phone_number_id_is_refused_until_freed() {
    let s = TestServer::start().await;
    let first = s.register("first-owner@example.com").await;
    let second = s.register("second-owner@example.com").await;
    let save = |key: &str| {
        s.client
            .put(s.url("/auth/me/credentials"))
            .bearer_auth(key)
            .json(&json!({"whatsappAccessToken": "EAAtest", "whatsappPhoneNumberId": "5550001234"}))
            .send()
    };
    assert_eq!(save(&first).await.unwrap().status(), 200);
    let refused = save(&second).await.unwrap();
    assert_eq!(refused.status(), 409);
    let body: Value = refused.json().await.unwrap();
    let error = body["error"].as_str().unwrap();
    assert_eq!(body["success"], false);
    assert!(
        error.contains("5550001234 is already connected to another account"),
        "{error}"
    );
    assert!(error.contains("DELETE /auth/me/credentials"), "{error}");
    let freed = s
        .client
        .delete(s.url("/auth/me/credentials"))
        .bearer_auth(&first)
        .send()
        .await
        .unwrap();
    assert_eq!(freed.status(), 200);
    assert_eq!(save(&second).await.unwrap().status(), 200);
    s.stop().await;
}
