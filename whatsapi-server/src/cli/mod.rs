//! Client subcommands of `whatsapi`: send one message, send a CSV file in bulk, show a message.

pub mod bulk;
pub mod client;

use std::time::Duration;

use anyhow::Context as _;
use reqwest::Method;
use serde_json::{Value, json};

pub use client::{Client, ClientArgs};

/// `whatsapi send`.
#[derive(Debug, Clone, clap::Args)]
pub struct SendArgs {
    /// Server and key.
    #[command(flatten)]
    pub client: ClientArgs,
    /// Recipient, E.164 digits only (14155552671).
    #[arg(long)]
    pub to: String,
    /// Free-form text (only within 24 hours of the recipient's last message).
    #[arg(long, conflicts_with = "template")]
    pub text: Option<String>,
    /// Approved template name.
    #[arg(long, required_unless_present = "text")]
    pub template: Option<String>,
    /// Template language code.
    #[arg(long, default_value = "en_US")]
    pub language: String,
    /// A body parameter of the template, in order ({{1}}, {{2}}, …); repeat the flag.
    #[arg(long = "param")]
    pub params: Vec<String>,
    /// Send later (ISO 8601 with a zone, e.g. 2026-05-01T09:00:00Z).
    #[arg(long)]
    pub send_at: Option<String>,
    /// Metadata as a JSON object, returned in webhooks.
    #[arg(long)]
    pub metadata: Option<String>,
    /// Simulate: do not call Meta.
    #[arg(long)]
    pub dry_run: bool,
    /// Idempotency key, so running the command twice sends once.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Follow the message until it is delivered, read or failed, then print it; the exit status is 1 when it
    /// failed (or was still on its way after 10 minutes).
    #[arg(long)]
    pub wait: bool,
}

/// `whatsapi status`.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// Server and key.
    #[command(flatten)]
    pub client: ClientArgs,
    /// Message id.
    pub id: String,
}

/// The statuses after which nothing more is expected.
pub const FINAL: [&str; 3] = ["delivered", "read", "failed"];

/// The template object of a send.
pub fn template_json(name: &str, language: &str, params: &[String]) -> Value {
    let mut t = json!({"name": name, "language": language});
    if !params.is_empty() {
        let parameters: Vec<Value> = params
            .iter()
            .map(|p| json!({"type": "text", "text": p}))
            .collect();
        t["components"] = json!([{"type": "body", "parameters": parameters}]);
    }
    t
}

/// Runs `whatsapi send`.
pub async fn send(args: SendArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.client)?;
    let mut body = json!({"to": args.to});
    match (&args.text, &args.template) {
        (Some(text), _) => body["message"] = json!(text),
        (None, Some(name)) => body["template"] = template_json(name, &args.language, &args.params),
        (None, None) => anyhow::bail!("give --text or --template"),
    }
    if let Some(at) = &args.send_at {
        body["sendAt"] = json!(at);
    }
    if let Some(m) = &args.metadata {
        body["metadata"] = serde_json::from_str(m).context("--metadata must be a JSON object")?;
    }
    if args.dry_run {
        body["dry_run"] = json!(true);
    }
    let answer = client
        .ok(
            Method::POST,
            "/send-message",
            Some(&body),
            args.idempotency_key.as_deref(),
        )
        .await?;
    let id = answer.body["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    println!(
        "{} {}{}",
        id,
        answer.body["data"]["status"].as_str().unwrap_or_default(),
        if answer.replayed {
            " (already sent with this idempotency key)"
        } else {
            ""
        }
    );
    if args.wait {
        let message = wait_for(&client, &id, Duration::from_secs(600)).await?;
        print_message(&message);
        match message["status"].as_str().unwrap_or_default() {
            "failed" => anyhow::bail!(
                "message {id} failed{}",
                message["errorMessage"]
                    .as_str()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ),
            s if !FINAL.contains(&s) => {
                anyhow::bail!("message {id} is still {s} after 10 minutes")
            }
            _ => {}
        }
    }
    Ok(())
}

async fn wait_for(client: &Client, id: &str, timeout: Duration) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let m = client
            .ok(Method::GET, &format!("/messages/{id}"), None, None)
            .await?
            .body["data"]
            .clone();
        let status = m["status"].as_str().unwrap_or_default();
        if FINAL.contains(&status) || tokio::time::Instant::now() >= deadline {
            return Ok(m);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn print_message(m: &Value) {
    let s = |k: &str| m[k].as_str().unwrap_or("-").to_owned();
    println!("id        {}", s("id"));
    println!("to        {}", s("to"));
    println!("status    {}", s("status"));
    if let Some(body) = m["body"].as_str() {
        println!("text      {body}");
    }
    if let Some(t) = m["template"]["name"].as_str() {
        println!("template  {t}");
    }
    if let Some(e) = m["errorMessage"].as_str() {
        println!("error     {e}");
    }
    println!("timeline");
    for e in m["timeline"].as_array().into_iter().flatten() {
        println!(
            "  {:<10} {}{}",
            e["status"].as_str().unwrap_or_default(),
            e["at"].as_str().unwrap_or_default(),
            e["detail"]
                .as_str()
                .map(|d| format!("  {d}"))
                .unwrap_or_default()
        );
    }
}

/// Runs `whatsapi status`.
pub async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.client)?;
    let m = client
        .ok(Method::GET, &format!("/messages/{}", args.id), None, None)
        .await?;
    print_message(&m.body["data"]);
    Ok(())
}
