//! `whatsapi-sandbox`: runs the emulator of Meta's WhatsApp Cloud API until Ctrl-C.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use whatsapi_sandbox::magic::Behaviour;
use whatsapi_sandbox::{Sandbox, SandboxConfig, SandboxNumber, StatusDelays};

/// An emulator of Meta's WhatsApp Cloud API (Graph send + verify, magic recipients, signed status webhooks).
#[derive(Debug, Parser)]
#[command(name = "whatsapi-sandbox", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "SANDBOX_LISTEN", default_value = "127.0.0.1:9090")]
    listen: SocketAddr,
    /// Where status and inbound webhooks are posted (none if absent).
    #[arg(long, env = "SANDBOX_CALLBACK_URL")]
    callback_url: Option<String>,
    /// Secret of the `X-Hub-Signature-256` HMAC.
    #[arg(long, env = "SANDBOX_APP_SECRET", default_value = "sandbox-app-secret")]
    app_secret: String,
    /// The bearer token accepted for the phone number.
    #[arg(long, env = "SANDBOX_ACCESS_TOKEN", default_value = "sandbox-token")]
    access_token: String,
    /// The phone number id served.
    #[arg(long, env = "SANDBOX_PHONE_NUMBER_ID", default_value = "1234567890")]
    phone_number_id: String,
    /// The number as displayed.
    #[arg(long, default_value = "+1 555-000-1234")]
    display_phone_number: String,
    /// The business name.
    #[arg(long, default_value = "Whatsapi Sandbox")]
    verified_name: String,
    /// Milliseconds from acceptance to `sent`.
    #[arg(long, default_value_t = 50)]
    sent_delay_ms: u64,
    /// Milliseconds from `sent` to `delivered`.
    #[arg(long, default_value_t = 100)]
    delivered_delay_ms: u64,
    /// Milliseconds from `delivered` to `read`.
    #[arg(long, default_value_t = 300)]
    read_delay_ms: u64,
    /// Sends to 15550000005 that fail with 131000 before one succeeds.
    #[arg(long, default_value_t = 3)]
    meta_down_failures: u32,
    /// Milliseconds before 15550000009 is answered.
    #[arg(long, default_value_t = 2000)]
    slow_delay_ms: u64,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "whatsapi_sandbox=info".into()),
        )
        .init();
    let args = Args::parse();
    let config = SandboxConfig {
        listen: args.listen,
        phone_numbers: vec![SandboxNumber {
            id: args.phone_number_id,
            display_phone_number: args.display_phone_number,
            verified_name: args.verified_name,
            access_token: args.access_token,
            throughput_level: "STANDARD".into(),
            on_business_app: false,
        }],
        app_secret: args.app_secret,
        callback_url: args.callback_url,
        delays: StatusDelays {
            sent: Duration::from_millis(args.sent_delay_ms),
            delivered: Duration::from_millis(args.delivered_delay_ms),
            read: Duration::from_millis(args.read_delay_ms),
        },
        meta_down_failures: args.meta_down_failures,
        slow_delay: Duration::from_millis(args.slow_delay_ms),
        service_window: true,
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::start(config).await?;
    let base = sandbox.base_url();
    let number = &sandbox.config().phone_numbers[0];
    println!("whatsapi-sandbox: Meta WhatsApp Cloud API emulator on {base}");
    println!(
        "  POST {base}/{{version}}/{}/messages   (Authorization: Bearer <access token>)",
        number.id
    );
    println!(
        "  GET  {base}/{{version}}/{}/message_templates   (the template store, paged with limit/after)",
        sandbox.config().waba_id
    );
    println!(
        "  GET  {base}/{{version}}/{}?fields=verified_name,display_phone_number,quality_rating",
        number.id
    );
    match sandbox.callback_url() {
        Some(url) => {
            println!("  status webhooks -> {url} (X-Hub-Signature-256 with the app secret)")
        }
        None => println!("  no --callback-url: status webhooks are not posted"),
    }
    println!("  magic recipients:");
    for b in Behaviour::MAGIC {
        println!(
            "    {}  {}",
            b.number().unwrap_or_default(),
            b.description()
        );
    }
    println!("    any other    {}", Behaviour::Normal.description());
    tokio::signal::ctrl_c().await?;
    println!("shutting down");
    sandbox.shutdown().await;
    Ok(())
}
