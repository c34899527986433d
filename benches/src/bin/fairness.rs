//! One tenant's backlog against another tenant's sends (issue 15, item 11), on a real server over loopback:
//! tenant A has `--backlog` queued messages on its business number (paced at `--rate`/s), tenant B, on a number
//! of its own, then sends `--sends` messages through `POST /send-message`, one every `--gap-ms`; printed are B's
//! times from the 202 to `sent` (p50, p99, max) and A's backlog left at the end. `--backlog 0` is the idle server.
//!
//! `cargo run --release -p whatsapi-benches --bin fairness -- --backlog 5000`

use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};
use whatsapi_benches::scenarios::{self, Gateway, Meta, Start};
use whatsapi_core::{EngineConfig, MessageId, Status};
use whatsapi_sandbox::{Sandbox, SandboxConfig, StatusDelays};

#[derive(Parser, Debug)]
#[command(about = "time-to-sent of one tenant's sends while another tenant has a backlog")]
struct Args {
    /// Messages queued for tenant A before B sends.
    #[arg(long, default_value_t = 5000)]
    backlog: u64,
    /// Sends of tenant B.
    #[arg(long, default_value_t = 20)]
    sends: usize,
    /// Pause between two sends of B, in milliseconds.
    #[arg(long, default_value_t = 100)]
    gap_ms: u64,
    /// Sends per second per business number (the engine's pacing).
    #[arg(long, default_value_t = 80)]
    rate: u32,
    /// How long one send of B may take to reach `sent` before it counts as never sent, in seconds.
    #[arg(long, default_value_t = 30)]
    timeout_s: u64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let env = scenarios::Env::new(2)?;
    env.server.block_on(async {
        let sandbox = Sandbox::start(SandboxConfig {
            app_secret: scenarios::APP_SECRET.into(),
            delays: StatusDelays::IMMEDIATE,
            open_numbers: true,
            ..SandboxConfig::default()
        })
        .await?;
        let gateway = Gateway::start(
            Meta::Graph(sandbox.base_url()),
            EngineConfig {
                pace_per_second: args.rate,
                ..EngineConfig::default()
            },
            Start::ServeOn,
        )
        .await?;
        let b = gateway.product.register("Tenant B", "b@example.com").await?;
        gateway
            .api
            .set_credentials(
                b.account.account.id,
                whatsapi_core::MetaCredentials {
                    access_token: scenarios::ACCESS_TOKEN.into(),
                    phone_number_id: "1234567891".into(),
                    app_secret: None,
                    verify_token: None,
                    verify_token_hash: None,
                    waba_id: None,
                    throughput_per_second: None,
                },
            )
            .await?;
        let b_key = b.api_key.expose().to_owned();
        gateway.preload(args.backlog).await?;
        // Let A's campaign get going (the engine notices rows written behind its back at its next poll).
        tokio::time::sleep(Duration::from_millis(1500)).await;

        let client = scenarios::client(8);
        let url = format!("{}/send-message", gateway.base);
        let mut pending: Vec<(MessageId, Instant)> = Vec::new();
        let mut waits: Vec<f64> = Vec::new();
        let mut never = 0usize;
        for i in 0..args.sends {
            let resp: Value = client
                .post(&url)
                .bearer_auth(&b_key)
                .json(&json!({"to": format!("1415666{i:04}"), "message": "hello from B"}))
                .send()
                .await?
                .json()
                .await?;
            let id: MessageId = serde_json::from_value(resp["data"]["id"].clone())
                .map_err(|e| anyhow::anyhow!("no message id in {resp}: {e}"))?;
            let asked = Instant::now();
            pending.push((id, asked));
            let next = asked + Duration::from_millis(args.gap_ms);
            while Instant::now() < next || (i + 1 == args.sends && !pending.is_empty()) {
                let mut still = Vec::new();
                for (id, asked) in pending.drain(..) {
                    let m = gateway.api.get_message(b.account.account.id, id).await?;
                    if m.status == Status::Sent || m.sent_at.is_some() {
                        waits.push(asked.elapsed().as_secs_f64());
                    } else if asked.elapsed() > Duration::from_secs(args.timeout_s) {
                        never += 1;
                    } else {
                        still.push((id, asked));
                    }
                }
                pending = still;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        let queued = gateway.count(Status::Queued).await?;
        waits.sort_by(f64::total_cmp);
        println!(
            "backlog {} at {}/s: B's {} sends: sent {}, not sent after {} s: {}; time to sent p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; A still queued: {}",
            args.backlog,
            args.rate,
            args.sends,
            waits.len(),
            args.timeout_s,
            never,
            percentile(&waits, 50.0) * 1000.0,
            percentile(&waits, 99.0) * 1000.0,
            waits.last().copied().unwrap_or(f64::NAN) * 1000.0,
            queued
        );
        gateway.stop().await;
        sandbox.shutdown().await;
        anyhow::Ok(())
    })
}
