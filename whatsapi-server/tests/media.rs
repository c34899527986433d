//! Media upload and metadata, and mark-as-read with the typing indicator: through the real Graph client against
//! the sandbox (what Meta receives is checked), and through the fake transport where the test must watch bytes
//! arrive while the client is still sending.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{Options, TestServer};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use whatsapi_sandbox::SandboxConfig;

/// A valid 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// A minimal one-page PDF.
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";

async fn sandboxed() -> (TestServer, String) {
    let s = TestServer::start_with(Options {
        sandbox: Some(SandboxConfig::default()),
        ..Default::default()
    })
    .await;
    let key = s.sandbox_account("media@example.com", "1234567890").await;
    (s, key)
}

async fn upload(s: &TestServer, key: &str, form: Form) -> (u16, Value) {
    let r = s
        .client
        .post(s.url("/media"))
        .bearer_auth(key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn file(bytes: &'static [u8], name: &str, mime: &str) -> Part {
    Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str(mime)
        .unwrap()
}

#[tokio::test]
async fn a_png_and_a_pdf_reach_the_sandbox_and_their_metadata_and_bytes_come_back() {
    let (s, key) = sandboxed().await;
    let (status, v) = upload(
        &s,
        &key,
        Form::new().part("file", file(PNG, "dot.png", "image/png")),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["success"], true);
    assert_eq!(v["data"]["mimeType"], "image/png");
    assert_eq!(v["data"]["size"], PNG.len());
    let id = v["data"]["id"].as_str().unwrap().to_owned();

    let (status, m) = s.get(&key, &format!("/media/{id}")).await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["data"]["id"], id);
    assert_eq!(m["data"]["mimeType"], "image/png");
    assert_eq!(m["data"]["fileSize"], PNG.len());
    let sha = m["data"]["sha256"].as_str().unwrap();
    assert_eq!(
        sha,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(PNG))
    );
    // The URL serves the bytes with the Meta token, and only with it.
    let url = m["data"]["url"].as_str().unwrap();
    let got = s
        .client
        .get(url)
        .bearer_auth("sandbox-token")
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), PNG);
    assert_eq!(s.client.get(url).send().await.unwrap().status(), 401);

    // A document by kind, with a client that labels it generically.
    let form = Form::new()
        .text("type", "document")
        .part("file", file(PDF, "invoice.pdf", "application/octet-stream"));
    let (status, v) = upload(&s, &key, form).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["data"]["mimeType"], "application/pdf");
    let (_, m) = s
        .get(
            &key,
            &format!("/media/{}", v["data"]["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(m["data"]["mimeType"], "application/pdf");

    let (status, v) = s.get(&key, "/media/99999999999").await;
    assert_eq!((status, &v["success"]), (404, &json!(false)), "{v}");
    s.stop().await;
}

#[tokio::test]
async fn a_type_that_disagrees_with_the_bytes_is_refused_with_details() {
    let (s, key) = sandboxed().await;
    for (form, field) in [
        (
            Form::new().part("file", file(PNG, "a.jpg", "image/jpeg")),
            "file",
        ),
        (
            Form::new()
                .text("type", "video")
                .part("file", file(PNG, "a.png", "image/png")),
            "type",
        ),
        (
            Form::new()
                .text("type", "application/pdf")
                .part("file", file(PNG, "a.png", "image/png")),
            "type",
        ),
        (
            Form::new().part(
                "file",
                file(b"\0\x01\x02\x03", "a.bin", "application/octet-stream"),
            ),
            "file",
        ),
        (Form::new().text("caption", "hi"), "caption"),
        (Form::new().text("type", "image"), "file"),
    ] {
        let (status, v) = upload(&s, &key, form).await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["success"], false);
        assert_eq!(v["details"][0]["field"], field, "{v}");
    }
    // Not multipart at all.
    let (status, v) = s.post(&key, "/media", json!({"file": "x"})).await;
    assert_eq!(
        (status, v["details"][0]["field"].as_str()),
        (400, Some("body")),
        "{v}"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_file_over_its_kinds_limit_is_413_and_over_every_limit_is_413_before_reading() {
    let (s, key) = sandboxed().await;
    // 4 MB is within the image limit, and within the sandbox's own body limit (above its default 2 MB).
    let mut fits = PNG.to_vec();
    fits.resize(4 * 1024 * 1024, 0);
    let form = Form::new().part(
        "file",
        Part::bytes(fits)
            .file_name("fits.png")
            .mime_str("image/png")
            .unwrap(),
    );
    let (status, v) = upload(&s, &key, form).await;
    assert_eq!(
        (status, &v["data"]["size"]),
        (201, &json!(4 * 1024 * 1024)),
        "{v}"
    );
    // A PNG signature followed by 6 MB: over the image limit of 5 MB.
    let mut big = PNG.to_vec();
    big.resize(6 * 1024 * 1024, 0);
    let form = Form::new().part(
        "file",
        Part::bytes(big)
            .file_name("big.png")
            .mime_str("image/png")
            .unwrap(),
    );
    let (status, v) = upload(&s, &key, form).await;
    assert_eq!(status, 413, "{v}");
    assert_eq!(v["success"], false);
    assert!(v["error"].as_str().unwrap().contains("5242880"), "{v}");
    // A declared length above the largest limit is refused before the body is read.
    let r = s
        .client
        .post(s.url("/media"))
        .bearer_auth(&key)
        .header("content-type", "multipart/form-data; boundary=x")
        .header(
            "content-length",
            (whatsapi_server::routes::media::MAX_UPLOAD_BODY + 1).to_string(),
        )
        .body(reqwest::Body::wrap_stream(futures_util::stream::pending::<
            Result<Bytes, std::io::Error>,
        >()))
        .send();
    let r = tokio::time::timeout(Duration::from_secs(10), r)
        .await
        .expect("answered without the body")
        .unwrap();
    assert_eq!(r.status(), 413);
    s.stop().await;
}

#[tokio::test]
async fn mark_as_read_with_and_without_typing_indicator_reaches_the_sandbox_exactly() {
    let (s, key) = sandboxed().await;
    let sandbox = s.sandbox.as_ref().unwrap();
    let wamid = sandbox.inbound("14155552671", "Hi there").await.unwrap();

    let r = s
        .client
        .post(s.url(&format!("/inbound/{wamid}/read")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v,
        json!({"success": true, "data": {"id": wamid, "read": true, "typingIndicator": false}})
    );
    let (status, v) = s
        .post(
            &key,
            &format!("/inbound/{wamid}/read"),
            json!({"typingIndicator": true}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["typingIndicator"], true);

    let reads = sandbox.reads();
    assert_eq!(reads.len(), 2);
    assert_eq!(
        reads[0].body,
        json!({"messaging_product": "whatsapp", "status": "read", "message_id": wamid})
    );
    assert_eq!(
        reads[1].body,
        json!({"messaging_product": "whatsapp", "status": "read", "message_id": wamid,
               "typing_indicator": {"type": "text"}})
    );
    assert!(
        reads
            .iter()
            .all(|r| r.http_status == 200 && r.phone_number_id == "1234567890")
    );
    // No message went out: a read receipt is not a send.
    assert!(sandbox.sent().is_empty());

    // A wamid the number never received: Meta's refusal, with its code.
    let (status, v) = s
        .post(&key, "/inbound/wamid.HBgLNOTDELIVERED/read", json!({}))
        .await;
    assert_eq!(status, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("#100"), "{v}");
    assert_eq!(sandbox.reads().last().unwrap().error_code, Some(100));
    // Neither a wamid nor an inbound id, an inbound id this account does not have, and a bad body: ours, before
    // Meta is asked.
    let (status, v) = s.post(&key, "/inbound/not-a-wamid/read", json!({})).await;
    assert_eq!(
        (status, v["details"][0]["field"].as_str()),
        (400, Some("id")),
        "{v}"
    );
    let (status, v) = s
        .post(
            &key,
            "/inbound/9dd15ee1-3d3c-44e1-9dd2-8ec6547e7e20/read",
            json!({}),
        )
        .await;
    assert_eq!(status, 404, "{v}");
    let (status, v) = s
        .post(
            &key,
            &format!("/inbound/{wamid}/read"),
            json!({"typingIndicator": "yes", "x": 1}),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["details"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(sandbox.reads().len(), 3);
    s.stop().await;
}

/// A 20 MB document sent in 64 KB chunks. After the first 10 MB the client waits until the transport has received
/// at least 5 MB: a server that buffered the body before calling the transport would never get there (the client
/// does not finish until it does), so the upload would time out. This proves bytes flow to the transport while the
/// client is still sending; it does not measure the server's memory.
#[tokio::test]
async fn a_large_upload_reaches_the_transport_while_the_client_is_still_sending() {
    let s = TestServer::start().await;
    let key = s.account_with_credentials("stream@example.com").await;
    const CHUNK: usize = 64 * 1024;
    const TOTAL: usize = 20 * 1024 * 1024;
    let transport = s.transport.clone();
    let body = async_stream(transport.clone(), CHUNK, TOTAL);
    let part = Part::stream(reqwest::Body::wrap_stream(body))
        .file_name("big.pdf")
        .mime_str("application/pdf")
        .unwrap();
    let form = Form::new().text("type", "document").part("file", part);
    let (status, v) = tokio::time::timeout(Duration::from_secs(60), upload(&s, &key, form))
        .await
        .expect("the upload was not streamed to the transport");
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["data"]["size"], TOTAL);
    let up = &s.transport.uploads()[0];
    assert_eq!(
        (up.size, up.mime.as_str(), up.filename.as_str()),
        (TOTAL as u64, "application/pdf", "big.pdf")
    );
    // Chunks, not one buffer: the largest is the sniffed head or a network read, far below the file.
    assert!(
        up.largest_chunk < 1024 * 1024,
        "largest chunk {}",
        up.largest_chunk
    );
    s.stop().await;
}

/// The body of the streaming test: `%PDF-` and filler, pausing halfway until the transport has seen 5 MB.
fn async_stream(
    transport: whatsapi_core::testing::FakeTransport,
    chunk: usize,
    total: usize,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures_util::stream::unfold(0usize, move |sent| {
        let transport = transport.clone();
        async move {
            if sent >= total {
                return None;
            }
            if sent == total / 2 {
                while transport.upload_progress() < 5 * 1024 * 1024 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            let mut buf = vec![b' '; chunk];
            if sent == 0 {
                buf[..9].copy_from_slice(b"%PDF-1.7\n");
            }
            Some((Ok(Bytes::from(buf)), sent + chunk))
        }
    })
}

/// Two accounts on one sandbox token, each with its own number: neither reads the other's media nor marks the
/// other's inbound messages read.
#[tokio::test]
async fn another_accounts_media_and_inbound_messages_are_out_of_reach() {
    let s = TestServer::start_with(Options {
        sandbox: Some(SandboxConfig {
            open_numbers: true,
            ..Default::default()
        }),
        ..Default::default()
    })
    .await;
    let a = s.sandbox_account("a@example.com", "1234567890").await;
    let b = s.sandbox_account("b@example.com", "1234567891").await;
    let (status, v) = upload(
        &s,
        &a,
        Form::new().part("file", file(PNG, "dot.png", "image/png")),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let path = format!("/media/{}", v["data"]["id"].as_str().unwrap());
    assert_eq!(s.get(&a, &path).await.0, 200);
    let (status, v) = s.get(&b, &path).await;
    assert_eq!(status, 404, "{v}");
    let wamid = s
        .sandbox
        .as_ref()
        .unwrap()
        .inbound_to("1234567890", "14155552671", "hi")
        .await
        .unwrap();
    let (status, v) = s
        .post(&b, &format!("/inbound/{wamid}/read"), json!({}))
        .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        s.post(&a, &format!("/inbound/{wamid}/read"), json!({}))
            .await
            .0,
        200
    );
    s.stop().await;
}

/// `type` may come after `file` (the file is then spooled until the form ends): it is still checked against the
/// bytes, and parts after the file are still checked.
#[tokio::test]
async fn type_after_file_is_honoured_and_checked() {
    let (s, key) = sandboxed().await;
    let form = Form::new()
        .part("file", file(PNG, "dot.png", "image/png"))
        .text("type", "image");
    let (status, v) = upload(&s, &key, form).await;
    assert_eq!(
        (status, &v["data"]["mimeType"]),
        (201, &json!("image/png")),
        "{v}"
    );
    let form = Form::new()
        .part("file", file(PDF, "a.pdf", "application/octet-stream"))
        .text("messaging_product", "whatsapp")
        .text("type", "application/pdf");
    let (status, v) = upload(&s, &key, form).await;
    assert_eq!(
        (status, &v["data"]["mimeType"]),
        (201, &json!("application/pdf")),
        "{v}"
    );
    for (form, field) in [
        // The declared type arrives last and disagrees with the bytes.
        (
            Form::new()
                .part("file", file(PNG, "a.png", "image/png"))
                .text("type", "video"),
            "type",
        ),
        (
            Form::new()
                .part("file", file(PNG, "a.png", "image/png"))
                .text("type", "application/pdf"),
            "type",
        ),
        (
            Form::new()
                .part("file", file(PNG, "a.png", "image/png"))
                .text("caption", "hi"),
            "caption",
        ),
        (
            Form::new()
                .part("file", file(PNG, "a.png", "image/png"))
                .part("file", file(PNG, "b.png", "image/png")),
            "file",
        ),
    ] {
        let (status, v) = upload(&s, &key, form).await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["details"][0]["field"], field, "{v}");
    }
    s.stop().await;
}

/// With `file` first a large file reaches the transport whole and in chunks (read back from the spool), not as one
/// buffer.
#[tokio::test]
async fn a_large_file_before_its_type_reaches_the_transport_in_chunks() {
    let s = TestServer::start().await;
    let key = s.account_with_credentials("spool@example.com").await;
    const TOTAL: usize = 12 * 1024 * 1024;
    let mut pdf = vec![b' '; TOTAL];
    pdf[..9].copy_from_slice(b"%PDF-1.7\n");
    let form = Form::new()
        .part(
            "file",
            Part::bytes(pdf)
                .file_name("big.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        )
        .text("type", "document");
    let (status, v) = upload(&s, &key, form).await;
    assert_eq!((status, &v["data"]["size"]), (201, &json!(TOTAL)), "{v}");
    let up = &s.transport.uploads()[0];
    assert_eq!(
        (up.size, up.mime.as_str()),
        (TOTAL as u64, "application/pdf")
    );
    assert!(
        up.largest_chunk <= 128 * 1024,
        "largest chunk {}",
        up.largest_chunk
    );
    s.stop().await;
}

/// `POST /media` answers by status, from the server's metrics.
async fn media_answers(s: &TestServer, status: u16) -> u64 {
    let body = s
        .client
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = format!(
        "whatsapi_http_requests_total{{route=\"/media\",method=\"POST\",status=\"{status}\"}}"
    );
    body.lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Sends the head of a multipart upload that announces 3 MB (a PNG with `type` before or after the file), then
/// half a megabyte of the file, and closes the connection.
async fn send_half_and_close(s: &TestServer, key: &str, type_first: bool) {
    use tokio::io::AsyncWriteExt;
    let boundary = "XhalfX";
    let type_part =
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\nimage\r\n");
    let mut head = String::new();
    if type_first {
        head.push_str(&type_part);
    }
    head.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.png\"\r\n\
         Content-Type: image/png\r\n\r\n"
    ));
    let addr = s.base.trim_start_matches("http://").to_owned();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let request = format!(
        "POST /media HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n{head}",
        3 * 1024 * 1024
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    tcp.write_all(PNG).await.unwrap();
    tcp.write_all(&vec![0u8; 512 * 1024]).await.unwrap();
    tcp.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(tcp);
}

/// A client that disconnects mid-upload is answered (and counted) as its own error, a 400, not as a failure of
/// Meta's: with `type` first (the file streaming to the sandbox when the client goes) and with `file` first (the
/// file being spooled).
#[tokio::test]
async fn a_client_that_disconnects_mid_upload_is_a_400_not_a_bad_gateway() {
    let (s, key) = sandboxed().await;
    for (n, type_first) in [(1, true), (2, false)] {
        send_half_and_close(&s, &key, type_first).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while media_answers(&s, 400).await < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no 400 for the cut-off upload (type first: {type_first}); 502s: {}",
                media_answers(&s, 502).await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert_eq!(media_answers(&s, 502).await, 0);
    // The server is unharmed: the next upload goes through.
    let (status, v) = upload(
        &s,
        &key,
        Form::new().part("file", file(PNG, "dot.png", "image/png")),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    s.stop().await;
}
