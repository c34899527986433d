//! A catalogue of bad inputs against a real server: each case asserts the exact status, a stable part of the error
//! and the failing `details[].field`. SQL-looking strings are stored and echoed verbatim where the field's format
//! allows them and refused where it does not; nothing answers 5xx and the tables keep working afterwards.
//! (tests/api.rs covers the basic error shapes: trailing comma, empty body, 413 on a big metadata, 101 bulk items.)

mod common;

use common::TestServer;
use serde_json::{Value, json};

const SQL: &str = "'; DROP TABLE messages; --";

/// What a request must answer: status, a piece of `error`, and the `details[].field` list (empty: no details).
#[derive(Clone, Copy)]
struct Expect<'a> {
    status: u16,
    error: &'a str,
    fields: &'a [&'a str],
}

fn check(case: &str, status: u16, v: &Value, want: Expect<'_>) {
    assert_eq!(status, want.status, "{case}: {v}");
    assert_eq!(v["success"], false, "{case}: {v}");
    let error = v["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(want.error),
        "{case}: error {error:?} lacks {:?}",
        want.error
    );
    let fields: Vec<&str> = v["details"]
        .as_array()
        .map(|d| d.iter().map(|e| e["field"].as_str().unwrap()).collect())
        .unwrap_or_default();
    assert_eq!(fields, want.fields, "{case}: {v}");
}

async fn raw_post(
    s: &TestServer,
    key: &str,
    path: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let r = s
        .client
        .post(s.url(path))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn nested(depth: usize, open: &str, close: &str, inner: &str) -> String {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
}

#[tokio::test]
async fn malformed_bodies_are_400_or_413_with_the_reason() {
    let s = TestServer::start().await;
    let key = s.account_with_credentials("bodies@example.com").await;
    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "truncated JSON",
            br#"{"to": "#.to_vec(),
            Expect {
                status: 400,
                error: "Malformed JSON body: the JSON ends too early at line 1, column 7",
                fields: &[],
            },
        ),
        (
            "not JSON at all",
            b"to=14155552671&message=hi".to_vec(),
            Expect {
                status: 400,
                error: "Malformed JSON body: invalid JSON syntax at line 1, column 2",
                fields: &[],
            },
        ),
        (
            "array body",
            b"[1, 2]".to_vec(),
            Expect {
                status: 400,
                error: "must be a JSON object, got an array",
                fields: &["body"],
            },
        ),
        (
            "string body",
            br#""hi""#.to_vec(),
            Expect {
                status: 400,
                error: "must be a JSON object, got a string",
                fields: &["body"],
            },
        ),
        (
            "null body",
            b"null".to_vec(),
            Expect {
                status: 400,
                error: "must be a JSON object, got null",
                fields: &["body"],
            },
        ),
        (
            "10,000 nested arrays",
            nested(10_000, "[", "]", "").into_bytes(),
            Expect {
                status: 400,
                error: "recursion limit exceeded",
                fields: &[],
            },
        ),
        (
            "10,000 nested arrays as the message",
            format!(
                r#"{{"to":"14155552671","message":{}}}"#,
                nested(10_000, "[", "]", "")
            )
            .into_bytes(),
            Expect {
                status: 400,
                error: "recursion limit exceeded",
                fields: &[],
            },
        ),
        (
            "10,000 nested objects in metadata",
            format!(
                r#"{{"to":"14155552671","message":"hi","metadata":{}}}"#,
                nested(10_000, r#"{"a":"#, "}", "1")
            )
            .into_bytes(),
            Expect {
                status: 400,
                error: "recursion limit exceeded",
                fields: &[],
            },
        ),
        (
            "invalid UTF-8 in a string",
            b"{\"to\":\"14155552671\",\"message\":\"\xff\xfe\"}".to_vec(),
            Expect {
                status: 400,
                error: "invalid unicode code point",
                fields: &[],
            },
        ),
        (
            "lone surrogate escape",
            br#"{"to":"14155552671","message":"\ud800"}"#.to_vec(),
            Expect {
                status: 400,
                error: "Malformed JSON body",
                fields: &[],
            },
        ),
        (
            "number out of range",
            br#"{"to":"14155552671","message":"hi","metadata":{"n":1e400}}"#.to_vec(),
            Expect {
                status: 400,
                error: "number out of range",
                fields: &[],
            },
        ),
        (
            "1 MiB body over the 256 KiB limit, not even JSON",
            vec![b'x'; 1024 * 1024],
            Expect {
                status: 413,
                error: "Request body is too large",
                fields: &[],
            },
        ),
    ];
    for (case, body, want) in cases {
        let (code, v) = raw_post(&s, &key, "/send-message", body.clone()).await;
        check(case, code, &v, want);
        // The bulk endpoint parses bodies the same way; it never answers 5xx to them either.
        let (code, v) = raw_post(&s, &key, "/messages/bulk", body).await;
        assert!(matches!(code, 400 | 413), "bulk {case}: {code} {v}");
    }
    let (_, v) = s.get(&key, "/messages").await;
    assert_eq!(v["pagination"]["total"], 0, "nothing was queued: {v}");
    s.stop().await;
}

#[tokio::test]
async fn bad_fields_name_the_field_and_the_accepted_form() {
    let s = TestServer::start().await;
    let key = s.account_with_credentials("fields@example.com").await;
    let cases: Vec<(&str, Value, Expect)> = vec![
        (
            "wrong types everywhere",
            json!({"to": 14155552671u64, "message": 5, "sendAt": true, "metadata": "x", "dry_run": "yes"}),
            Expect {
                status: 400,
                error: "Validation failed for 5 fields",
                fields: &["to", "message", "sendAt", "metadata", "dry_run"],
            },
        ),
        (
            "+ in the number",
            json!({"to": "+14155552671", "message": "hi"}),
            Expect {
                status: 400,
                error: "without '+', spaces or punctuation: send 14155552671",
                fields: &["to"],
            },
        ),
        (
            "spaces in the number",
            json!({"to": "1 415 555 2671", "message": "hi"}),
            Expect {
                status: 400,
                error: "send 14155552671",
                fields: &["to"],
            },
        ),
        (
            "formatted number",
            json!({"to": "+1 (415) 555-2671", "message": "hi"}),
            Expect {
                status: 400,
                error: "send 14155552671",
                fields: &["to"],
            },
        ),
        (
            "leading zero",
            json!({"to": "014155552671", "message": "hi"}),
            Expect {
                status: 400,
                error: "not 0",
                fields: &["to"],
            },
        ),
        (
            "16 digits",
            json!({"to": "1415555267100000", "message": "hi"}),
            Expect {
                status: 400,
                error: "8 to 15 digits",
                fields: &["to"],
            },
        ),
        (
            "4097-character text",
            json!({"to": "14155552671", "message": "x".repeat(4097)}),
            Expect {
                status: 400,
                error: "must be at most 4096 characters, got 4097",
                fields: &["message"],
            },
        ),
        (
            "blank text",
            json!({"to": "14155552671", "message": " \n "}),
            Expect {
                status: 400,
                error: "must not be empty or blank",
                fields: &["message"],
            },
        ),
        (
            "text and template",
            json!({"to": "14155552671", "message": "hi", "template": {"name": "x", "language": "en"}}),
            Expect {
                status: 400,
                error: "not both",
                fields: &["message"],
            },
        ),
        (
            "sendAt in the past",
            json!({"to": "14155552671", "message": "hi", "sendAt": "2000-01-01T00:00:00Z"}),
            Expect {
                status: 400,
                error: "must be in the future",
                fields: &["sendAt"],
            },
        ),
        (
            "sendAt far in the future",
            json!({"to": "14155552671", "message": "hi", "sendAt": "2999-01-01T00:00:00Z"}),
            Expect {
                status: 400,
                error: "must be at most 35 days ahead",
                fields: &["sendAt"],
            },
        ),
        (
            "sendAt out of chrono's range",
            json!({"to": "14155552671", "message": "hi", "sendAt": "+275760-09-13T00:00:00Z"}),
            Expect {
                status: 400,
                error: "ISO 8601",
                fields: &["sendAt"],
            },
        ),
        (
            "sendAt not a date",
            json!({"to": "14155552671", "message": "hi", "sendAt": "tomorrow"}),
            Expect {
                status: 400,
                error: "ISO 8601",
                fields: &["sendAt"],
            },
        ),
        (
            "metadata over 16 KiB",
            json!({"to": "14155552671", "message": "hi", "metadata": {"blob": "x".repeat(17 * 1024)}}),
            Expect {
                status: 400,
                error: "",
                fields: &["metadata"],
            },
        ),
        (
            "unknown field",
            json!({"to": "14155552671", "message": "hi", "priority": "high"}),
            Expect {
                status: 400,
                error: "unknown field",
                fields: &["priority"],
            },
        ),
        (
            "SQL in the number",
            json!({"to": SQL, "message": "hi"}),
            Expect {
                status: 400,
                error: "digits only",
                fields: &["to"],
            },
        ),
        (
            "SQL as the template name",
            json!({"to": "14155552671", "template": {"name": SQL, "language": "en_US"}}),
            Expect {
                status: 400,
                error: "lowercase letters, digits and underscores",
                fields: &["template.name"],
            },
        ),
        (
            "SQL as the template language",
            json!({"to": "14155552671", "template": {"name": "order_ready", "language": SQL}}),
            Expect {
                status: 400,
                error: "language code",
                fields: &["template.language"],
            },
        ),
    ];
    for (case, body, want) in cases {
        let (code, v) = s.post(&key, "/send-message", body).await;
        check(case, code, &v, want);
    }

    // Bulk: over the cap, empty, wrong shape, and per-item paths when every item is bad.
    let bulk_cases: Vec<(&str, Value, Expect)> = vec![
        (
            "bulk over the cap",
            json!({"messages": vec![json!({"to": "14155552671", "message": "hi"}); 101]}),
            Expect {
                status: 400,
                error: "at most 100 messages per bulk request on this plan, got 101",
                fields: &["messages"],
            },
        ),
        (
            "bulk empty",
            json!({"messages": []}),
            Expect {
                status: 400,
                error: "must contain at least one message",
                fields: &["messages"],
            },
        ),
        (
            "bulk not an array",
            json!({"messages": SQL}),
            Expect {
                status: 400,
                error: "must be an array, got a string",
                fields: &["messages"],
            },
        ),
        (
            "bulk body is an array",
            json!([]),
            Expect {
                status: 400,
                error: "with a messages array",
                fields: &["body"],
            },
        ),
        (
            "bulk items all bad",
            json!({"messages": [1, {"to": "1"}]}),
            Expect {
                status: 400,
                error: "Validation failed for 3 fields",
                fields: &["messages[0].body", "messages[1].to", "messages[1].message"],
            },
        ),
    ];
    for (case, body, want) in bulk_cases {
        let (code, v) = s.post(&key, "/messages/bulk", body).await;
        check(case, code, &v, want);
    }
    let (_, v) = s.get(&key, "/messages").await;
    assert_eq!(v["pagination"]["total"], 0, "nothing was queued: {v}");

    // The boundary itself is accepted: 4096 two-byte characters.
    let (code, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": "14155552671", "message": "é".repeat(4096)}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    s.stop().await;
}

#[tokio::test]
async fn bad_query_parameters_are_400_with_the_parameter() {
    let s = TestServer::start().await;
    let key = s.account_with_credentials("query@example.com").await;
    let range = "must be a whole number from 1 to 200";
    let pages = "must be a whole number from 1 to 1000000";
    let cases: &[(&str, Expect)] = &[
        (
            "status=bogus",
            Expect {
                status: 400,
                error: "unknown status 'bogus'",
                fields: &["status"],
            },
        ),
        (
            "status=SENT",
            Expect {
                status: 400,
                error: "unknown status 'SENT'",
                fields: &["status"],
            },
        ),
        (
            "limit=0",
            Expect {
                status: 400,
                error: range,
                fields: &["limit"],
            },
        ),
        (
            "limit=100000",
            Expect {
                status: 400,
                error: range,
                fields: &["limit"],
            },
        ),
        (
            "limit=abc",
            Expect {
                status: 400,
                error: range,
                fields: &["limit"],
            },
        ),
        (
            "limit=1.5",
            Expect {
                status: 400,
                error: range,
                fields: &["limit"],
            },
        ),
        (
            "page=-1",
            Expect {
                status: 400,
                error: pages,
                fields: &["page"],
            },
        ),
        (
            "page=0",
            Expect {
                status: 400,
                error: pages,
                fields: &["page"],
            },
        ),
        (
            "page=99999999999999999999",
            Expect {
                status: 400,
                error: pages,
                fields: &["page"],
            },
        ),
        (
            "batchId=nope",
            Expect {
                status: 400,
                error: "batchId returned by POST /messages/bulk",
                fields: &["batchId"],
            },
        ),
        (
            "status=x&limit=0&page=0&batchId=y",
            Expect {
                status: 400,
                error: "Validation failed for 4 fields",
                fields: &["status", "batchId", "limit", "page"],
            },
        ),
        // SQL in every query parameter: refused by format, echoed in the message as given.
        (
            "status=%27%3B%20DROP%20TABLE%20messages%3B%20--",
            Expect {
                status: 400,
                error: "unknown status ''; DROP TABLE messages; --'",
                fields: &["status"],
            },
        ),
        (
            "batchId=%27%3B%20DROP%20TABLE%20messages%3B%20--",
            Expect {
                status: 400,
                error: "batchId",
                fields: &["batchId"],
            },
        ),
        (
            "limit=%27%3B%20DROP%20TABLE%20messages%3B%20--",
            Expect {
                status: 400,
                error: range,
                fields: &["limit"],
            },
        ),
        (
            "page=1%20OR%201%3D1",
            Expect {
                status: 400,
                error: pages,
                fields: &["page"],
            },
        ),
    ];
    for (query, want) in cases {
        let (code, v) = s.get(&key, &format!("/messages?{query}")).await;
        check(query, code, &v, *want);
    }
    // Message ids that are not UUIDs (SQL included) are simply not found.
    for id in [
        "not-a-uuid",
        "1%20OR%201%3D1",
        "%27%3B%20DROP%20TABLE%20messages%3B%20--",
    ] {
        let (code, v) = s.get(&key, &format!("/messages/{id}")).await;
        check(
            id,
            code,
            &v,
            Expect {
                status: 404,
                error: "Message not found.",
                fields: &[],
            },
        );
        let (code, v) = s
            .post(&key, &format!("/messages/{id}/retry"), json!({}))
            .await;
        check(
            id,
            code,
            &v,
            Expect {
                status: 404,
                error: "Message not found.",
                fields: &[],
            },
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn bad_idempotency_keys_and_api_keys() {
    let s = TestServer::start().await;
    let key = s.account_with_credentials("keys@example.com").await;
    let send = |idem: reqwest::header::HeaderValue| {
        s.client
            .post(s.url("/send-message"))
            .bearer_auth(&key)
            .header("idempotency-key", idem)
            .json(&json!({"to": "14155552671", "message": "hi"}))
            .send()
    };
    let long = "a".repeat(256);
    let bad: Vec<(&str, reqwest::header::HeaderValue)> = vec![
        ("empty", reqwest::header::HeaderValue::from_static("")),
        (
            "256 characters",
            reqwest::header::HeaderValue::from_str(&long).unwrap(),
        ),
        (
            "a space",
            reqwest::header::HeaderValue::from_static("has space"),
        ),
        (
            "a tab",
            reqwest::header::HeaderValue::from_static("tab\tkey"),
        ),
        (
            "non-ASCII (UTF-8 bytes)",
            reqwest::header::HeaderValue::from_bytes("ключ".as_bytes()).unwrap(),
        ),
        (
            "obs-text byte",
            reqwest::header::HeaderValue::from_bytes(b"k\xff").unwrap(),
        ),
    ];
    for (case, value) in bad {
        let r = send(value).await.unwrap();
        let code = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        check(
            case,
            code,
            &v,
            Expect {
                status: 400,
                error: "Invalid Idempotency-Key header: use 1 to 255 visible ASCII characters",
                fields: &[],
            },
        );
    }
    let (_, v) = s.get(&key, "/messages").await;
    assert_eq!(
        v["pagination"]["total"], 0,
        "no bad key queued anything: {v}"
    );
    // The boundary is accepted, and SQL-looking keys are just keys (replayed, not executed).
    for ok in ["a".repeat(255), "';DROP_TABLE_messages;--".to_owned()] {
        for attempt in 0..2 {
            let r = send(reqwest::header::HeaderValue::from_str(&ok).unwrap())
                .await
                .unwrap();
            assert_eq!(r.status(), 202, "{ok}");
            assert_eq!(
                r.headers().contains_key("idempotency-replayed"),
                attempt == 1,
                "{ok}"
            );
        }
    }
    let (_, v) = s.get(&key, "/messages").await;
    assert_eq!(v["pagination"]["total"], 2, "{v}");

    // API keys: every malformed form is a 401 that names the expected form.
    let invalid =
        "Invalid API key. Expected Authorization: Bearer sk_live_ followed by 48 hex characters";
    let malformed = "Malformed Authorization header";
    let auth_cases: Vec<(String, &str)> = vec![
        ("Bearer sk_live_".to_owned(), invalid),
        ("Bearer sk_test_abc".to_owned(), invalid),
        (format!("Bearer sk_live_{}", "zz".repeat(24)), invalid),
        (format!("Bearer sk_live_{}", "ab".repeat(25)), invalid),
        (format!("Bearer sk_live_{}", "AB".repeat(24)), invalid),
        (format!("Bearer {SQL}"), invalid),
        (
            format!("Bearer sk_live_{}' OR '1'='1", "ab".repeat(20)),
            invalid,
        ),
        ("Token abc".to_owned(), malformed),
    ];
    for (header, want) in auth_cases {
        let r = s
            .client
            .get(s.url("/auth/me"))
            .header("authorization", &header)
            .send()
            .await
            .unwrap();
        let code = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        check(
            &header,
            code,
            &v,
            Expect {
                status: 401,
                error: want,
                fields: &[],
            },
        );
    }
    let r = s
        .client
        .get(s.url("/auth/me"))
        .header(
            "authorization",
            reqwest::header::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
        )
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    check(
        "non-UTF-8 header",
        code,
        &r.json().await.unwrap(),
        Expect {
            status: 401,
            error: malformed,
            fields: &[],
        },
    );
    s.stop().await;
}

#[tokio::test]
async fn sql_looking_strings_are_stored_verbatim_or_refused_and_the_tables_still_work() {
    let s = TestServer::start().await;

    // Registration: a name is free text (stored verbatim); an email's format forbids spaces, but allows quotes.
    let r = s
        .client
        .post(s.url("/auth/register"))
        .json(&json!({"name": SQL, "email": "sql-name@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    let key = v["data"]["apiKey"].as_str().unwrap().to_owned();
    let (code, me) = s.get(&key, "/auth/me").await;
    assert_eq!(code, 200);
    assert_eq!(me["data"]["name"], SQL);

    let (code, v) = s
        .post(
            "",
            "/auth/register",
            json!({"name": "n", "email": format!("{SQL}@example.com")}),
        )
        .await;
    check(
        "SQL email with spaces",
        code,
        &v,
        Expect {
            status: 400,
            error: "must be an email address",
            fields: &["email"],
        },
    );
    let quoted = "o'brien';--@example.com";
    let (code, v) = s
        .post("", "/auth/register", json!({"name": "n", "email": quoted}))
        .await;
    assert_eq!(code, 201, "{v}");
    let (_, me) = s
        .get(v["data"]["apiKey"].as_str().unwrap(), "/auth/me")
        .await;
    assert_eq!(me["data"]["email"], quoted);
    // The same address again is still a duplicate (the quote did not break the uniqueness check).
    let (code, v) = s
        .post("", "/auth/register", json!({"name": "n", "email": quoted}))
        .await;
    check(
        "duplicate quoted email",
        code,
        &v,
        Expect {
            status: 409,
            error: "",
            fields: &[],
        },
    );

    // Credentials and webhook: refused by format, never executed.
    let r = s
        .client
        .put(s.url("/auth/me/credentials"))
        .bearer_auth(&key)
        .json(&json!({"whatsappAccessToken": SQL, "whatsappPhoneNumberId": SQL}))
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    check(
        "SQL phone number id",
        code,
        &r.json().await.unwrap(),
        Expect {
            status: 400,
            error: "Validation failed for 2 fields",
            fields: &["whatsappAccessToken", "whatsappPhoneNumberId"],
        },
    );
    let put_credentials = |token: &'static str| {
        s.client
            .put(s.url("/auth/me/credentials"))
            .bearer_auth(&key)
            .json(&json!({"whatsappAccessToken": token, "whatsappPhoneNumberId": common::PHONE_NUMBER_ID}))
            .send()
    };
    let r = put_credentials(SQL).await.unwrap();
    let code = r.status().as_u16();
    check(
        "SQL access token",
        code,
        &r.json().await.unwrap(),
        Expect {
            status: 400,
            error: "without spaces",
            fields: &["whatsappAccessToken"],
        },
    );
    // A token travels in an Authorization header: anything but visible ASCII could never be sent.
    for token in ["EAAé\u{301}token", "EAA\u{0}token", "EAA\u{7f}token"] {
        let r = put_credentials(token).await.unwrap();
        let code = r.status().as_u16();
        check(
            "non-ASCII access token",
            code,
            &r.json().await.unwrap(),
            Expect {
                status: 400,
                error: "visible ASCII",
                fields: &["whatsappAccessToken"],
            },
        );
    }
    let r = put_credentials("';DROP_TABLE_messages;--").await.unwrap();
    let code = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        code, 200,
        "a token without spaces is opaque: stored as given: {v}"
    );
    for url in [SQL.to_owned(), format!("http://127.0.0.1:9/{SQL}")] {
        let r = s
            .client
            .put(s.url("/auth/me/webhook"))
            .bearer_auth(&key)
            .json(&json!({ "url": url }))
            .send()
            .await
            .unwrap();
        let code = r.status().as_u16();
        check(
            &url,
            code,
            &r.json().await.unwrap(),
            Expect {
                status: 400,
                error: "must not contain spaces",
                fields: &["url"],
            },
        );
    }

    // Message text, metadata keys and values, and a NUL: stored and echoed verbatim.
    let metadata = json!({SQL: SQL, "nested": {"q": "1' OR '1'='1", "nul": "a\u{0}b"}});
    let text = format!("{SQL}\u{0}\"\\ ' --");
    let (code, v) = s
        .post(
            &key,
            "/send-message",
            json!({"to": "14155552671", "message": text, "metadata": metadata}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    let (code, v) = s.get(&key, &format!("/messages/{id}")).await;
    assert_eq!(code, 200);
    assert_eq!(v["data"]["body"], text.as_str());
    assert_eq!(v["data"]["metadata"], metadata);
    let (code, v) = s
        .post(
            &key,
            "/messages/bulk",
            json!({"messages": [{"to": "14155552671", "message": SQL, "metadata": {"k": SQL}}]}),
        )
        .await;
    assert_eq!(code, 202, "{v}");
    assert_eq!(v["data"]["queued"], 1);

    // The tables still work: listing, filtering, analytics, and a new account.
    let (code, v) = s.get(&key, "/messages?limit=200").await;
    assert_eq!(code, 200);
    assert_eq!(v["pagination"]["total"], 2, "{v}");
    let (code, v) = s.get(&key, "/analytics/summary").await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["data"]["total"], 2);
    let other = s.account_with_credentials("after@example.com").await;
    let (code, _) = s
        .post(
            &other,
            "/send-message",
            json!({"to": "14155552671", "message": "still here"}),
        )
        .await;
    assert_eq!(code, 202);
    let (_, v) = s.get(&other, "/messages").await;
    assert_eq!(v["pagination"]["total"], 1);
    s.stop().await;
}

#[tokio::test]
async fn unknown_query_parameters_on_lists_are_400_naming_them() {
    let s = TestServer::start().await;
    let key = s
        .account_with_credentials("unknown-query@example.com")
        .await;
    let cases: &[(&str, Expect)] = &[
        (
            "/messages?to=14155552671",
            Expect {
                status: 400,
                error: "to: unknown query parameter; expected status, batchId, limit, page",
                fields: &["to"],
            },
        ),
        (
            "/messages?since=2024-01-01&status=sent&to=1",
            Expect {
                status: 400,
                error: "Validation failed for 2 fields",
                fields: &["since", "to"],
            },
        ),
        (
            "/messages?to=1&status=bogus",
            Expect {
                status: 400,
                error: "Validation failed for 2 fields",
                fields: &["to", "status"],
            },
        ),
        (
            "/analytics/summary?since=yesterday",
            Expect {
                status: 400,
                error: "since: unknown query parameter; this endpoint takes no query parameters",
                fields: &["since"],
            },
        ),
        (
            "/analytics/timeseries?days=7&hours=3",
            Expect {
                status: 400,
                error: "hours: unknown query parameter; expected days, bucket",
                fields: &["hours"],
            },
        ),
        (
            "/auth/me/webhook/deliveries?limit=5&status=failed",
            Expect {
                status: 400,
                error: "status: unknown query parameter; expected limit",
                fields: &["status"],
            },
        ),
        (
            "/auth/me/webhook/deliveries?limit=0&page=2",
            Expect {
                status: 400,
                error: "Validation failed for 2 fields",
                fields: &["page", "limit"],
            },
        ),
    ];
    for (path, want) in cases {
        let (code, v) = s.get(&key, path).await;
        check(path, code, &v, *want);
    }
    // The known parameters still work.
    for path in [
        "/messages?status=sent&limit=5&page=1",
        "/analytics/summary",
        "/analytics/timeseries?days=2&bucket=hour",
        "/auth/me/webhook/deliveries?limit=5",
    ] {
        let (code, v) = s.get(&key, path).await;
        assert_eq!(code, 200, "{path}: {v}");
    }
    s.stop().await;
}
