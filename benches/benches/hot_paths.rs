//! Micro-benches of the pure functions on the hot paths: send body parsing (whatsapi-api), the idempotency
//! fingerprint of a typed request, the status state machine, Meta webhook parsing and both signatures.
//!
//! `cargo bench -p whatsapi-benches --bench hot_paths`. Figures: BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use whatsapi_api::parse_send;
use whatsapi_core::Status;
use whatsapi_core::meta;
use whatsapi_core::send::SendRules;
use whatsapi_core::status::{Event, MetaStatus, transition};
use whatsapi_core::webhook_http;

fn text_body() -> Value {
    json!({"to": "14155552671", "message": "Your order #1234 has shipped and will arrive on Tuesday."})
}

fn template_body() -> Value {
    json!({
        "to": "+1 (415) 555-2671",
        "template": {"name": "order_shipped", "language": "en_US",
                     "components": [{"type": "body", "parameters": [{"type": "text", "text": "Sarah"},
                                                                    {"type": "text", "text": "#1234"}]}]},
        "metadata": {"orderId": "1234", "customer": "c_789"},
    })
}

/// A signed-looking Meta webhook with `n` statuses, as the sandbox and Meta send them.
fn webhook(n: usize) -> Vec<u8> {
    let statuses: Vec<Value> = (0..n)
        .map(|i| json!({"id": format!("wamid.HBgLMTQxNTU1NTI2NzEVAgARGBI{i:016}"), "status": "delivered",
                        "timestamp": "1711620004", "recipient_id": "14155552671",
                        "biz_opaque_callback_data": "0198a0f4-0000-7000-8000-000000000000",
                        "conversation": {"id": "c1", "origin": {"type": "service"}},
                        "pricing": {"billable": true, "pricing_model": "CBP", "category": "service"}}))
        .collect();
    serde_json::to_vec(
        &json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398",
        "changes": [{"field": "messages", "value": {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001234", "phone_number_id": "1234567890"},
            "statuses": statuses}}]}]}),
    )
    .expect("JSON serializes")
}

fn bench(c: &mut Criterion) {
    let now = Utc::now();
    let rules = SendRules::default();

    let mut g = c.benchmark_group("send");
    let text = text_body();
    let template = template_body();
    g.bench_function("parse_send/text", |b| {
        b.iter(|| parse_send(black_box(&text), now, &rules))
    });
    g.bench_function("parse_send/template", |b| {
        b.iter(|| parse_send(black_box(&template), now, &rules))
    });
    g.bench_function("parse_send/invalid", |b| {
        let bad = json!({"to": "0123", "message": "", "extra": 1});
        b.iter(|| parse_send(black_box(&bad), now, &rules))
    });
    g.finish();

    let mut g = c.benchmark_group("idempotency");
    let text = parse_send(&text, now, &rules).expect("a valid text");
    let template = parse_send(&template, now, &rules).expect("a valid template");
    g.bench_function("fingerprint/text", |b| {
        b.iter(|| black_box(&text).fingerprint())
    });
    g.bench_function("fingerprint/template", |b| {
        b.iter(|| black_box(&template).fingerprint())
    });
    g.finish();

    let mut g = c.benchmark_group("status");
    let moves = [
        (Status::Queued, Event::Claim),
        (Status::Processing, Event::Accepted),
        (Status::Sent, Event::Meta(MetaStatus::Delivered)),
        (Status::Read, Event::Meta(MetaStatus::Delivered)),
        (Status::Failed, Event::ManualRetry),
    ];
    g.throughput(Throughput::Elements(moves.len() as u64));
    g.bench_function("transition/5_moves", |b| {
        b.iter(|| {
            for (s, e) in moves {
                black_box(transition(black_box(s), black_box(e)));
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("meta_webhook");
    for n in [1usize, 100] {
        let raw = webhook(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("parse_webhook/{n}_statuses"), |b| {
            b.iter(|| meta::parse_webhook(black_box(&raw)))
        });
        let header = meta::sign(b"app-secret", &raw);
        g.throughput(Throughput::Bytes(raw.len() as u64));
        g.bench_function(format!("verify_signature/{n}_statuses"), |b| {
            b.iter(|| meta::verify_signature(b"app-secret", black_box(&raw), &header))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("customer_webhook");
    let event = serde_json::to_vec(&json!({"event": "message.status_updated", "timestamp": "2026-01-01T00:00:00.000Z",
        "data": {"messageId": "0198a0f4-0000-7000-8000-000000000000", "status": "delivered", "to": "14155552671",
                 "deliveredAt": "2026-01-01T00:00:00.000Z", "readAt": null, "failedAt": null,
                 "errorMessage": null, "metadata": {"orderId": "1234"}}}))
    .expect("JSON serializes");
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    g.bench_function("sign", |b| {
        b.iter(|| {
            webhook_http::sign(
                secret,
                "evt_0198a0f4000070008000000000000000",
                1_767_225_600,
                black_box(&event),
            )
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = bench
}
criterion_main!(benches);
