//! `whatsapi bulk FILE.csv --campaign NAME`: the file becomes one campaign (`POST /campaigns`): the server plans
//! every row (start, rate, each recipient's send window) and sends them; this prints its id and follows its
//! progress. Unlike the chunked bulk send, a campaign is created whole or not at all, so there is no journal:
//! a rerun creates another campaign.

use std::time::Duration;

use anyhow::{Context as _, bail};
use reqwest::Method;
use serde_json::{Value, json};

use super::bulk::BulkArgs;
use super::client::Client;

/// The options of `--campaign`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CampaignArgs {
    /// Create one campaign of the whole file under this name instead of sending it in chunks.
    #[arg(long)]
    pub campaign: Option<String>,
    /// Daily send window in each recipient's local time, HH:MM-HH:MM (e.g. 09:00-20:00).
    #[arg(long, requires = "campaign")]
    pub send_window: Option<String>,
    /// At most this many messages per second.
    #[arg(long, requires = "campaign")]
    pub rate: Option<u32>,
    /// First send time (RFC 3339); default now.
    #[arg(long, requires = "campaign")]
    pub start_at: Option<String>,
    /// Column with each recipient's IANA time zone (rows without one use their number's country).
    #[arg(long, default_value = "timeZone", requires = "campaign")]
    pub time_zone_column: String,
}

/// What `--campaign` did.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignReport {
    /// The campaign's id.
    pub id: String,
    /// Recipients the server took.
    pub recipients: u64,
    /// Its state when the command ended.
    pub state: String,
    /// Its messages by status when the command ended.
    pub counts: Value,
}

/// The body of `POST /campaigns` for the file.
fn campaign_body(args: &BulkArgs, name: &str) -> anyhow::Result<Value> {
    let c = &args.campaign;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let headers = reader.headers()?.clone();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let to = column(&args.to_column)
        .with_context(|| format!("the file has no '{}' column", args.to_column))?;
    let zone = column(&c.time_zone_column);
    let params = args
        .params
        .iter()
        .map(|p| column(p).with_context(|| format!("the file has no '{p}' column")))
        .collect::<anyhow::Result<Vec<usize>>>()?;
    let mut recipients = Vec::new();
    for (n, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("line {}", n + 2))?;
        let mut row = json!({"to": record.get(to).unwrap_or_default()});
        if let Some(z) = zone.and_then(|z| record.get(z)).filter(|z| !z.is_empty()) {
            row["timeZone"] = json!(z);
        }
        if !params.is_empty() {
            let texts: Vec<&str> = params
                .iter()
                .map(|i| record.get(*i).unwrap_or_default())
                .collect();
            row["params"] = json!(texts);
        }
        recipients.push(row);
    }
    let mut body = json!({"name": name, "recipients": recipients});
    if let Some(t) = &args.template {
        body["template"] = json!({"name": t, "language": args.language});
    } else if let Some(text) = &args.text {
        if text.contains('{') {
            bail!(
                "a campaign sends one text to every row: --text cannot use {{column}} placeholders (use a template)"
            );
        }
        body["message"] = json!(text);
    } else {
        bail!("a campaign needs --template or --text");
    }
    if let Some(w) = &c.send_window {
        let (from, to) = w
            .split_once('-')
            .with_context(|| format!("--send-window must be HH:MM-HH:MM, got {w}"))?;
        body["sendWindow"] = json!({"from": from, "to": to});
    }
    if let Some(r) = c.rate {
        body["ratePerSecond"] = json!(r);
    }
    if let Some(s) = &c.start_at {
        body["startAt"] = json!(s);
    }
    if let Some(f) = &args.from {
        body["from"] = json!(f);
    }
    if let Some(v) = args.validity {
        body["validitySeconds"] = json!(v);
    }
    if args.dry_run {
        body["dry_run"] = json!(true);
    }
    Ok(body)
}

/// Creates the campaign and, with `--wait`, follows it until it completes (or `--wait-timeout`).
pub async fn run(args: &BulkArgs, name: &str) -> anyhow::Result<CampaignReport> {
    let client = Client::new(&args.client)?;
    let body = campaign_body(args, name)?;
    let created = client
        .ok(Method::POST, "/campaigns", Some(&body), None)
        .await?;
    let data = &created.body["data"];
    let id = data["id"]
        .as_str()
        .context("the server answered no campaign id")?
        .to_owned();
    let recipients = data["recipients"].as_u64().unwrap_or(0);
    if !args.quiet {
        println!(
            "campaign {id}: {recipients} recipients, {}",
            data["state"].as_str().unwrap_or("?")
        );
    }
    let mut last = data.clone();
    if args.wait {
        let bar = super::bulk::progress_bar(args.quiet, recipients, "campaign");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(args.wait_timeout);
        loop {
            let answer = client
                .ok(Method::GET, &format!("/campaigns/{id}"), None, None)
                .await?;
            last = answer.body["data"].clone();
            bar.set_position(last["settled"].as_u64().unwrap_or(0));
            bar.set_message(last["state"].as_str().unwrap_or("?").to_owned());
            let state = last["state"].as_str().unwrap_or_default();
            if matches!(state, "completed" | "cancelled") || tokio::time::Instant::now() >= deadline
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        bar.finish_and_clear();
    }
    Ok(CampaignReport {
        id,
        recipients,
        state: last["state"].as_str().unwrap_or_default().to_owned(),
        counts: last["counts"].clone(),
    })
}

/// Runs `--campaign` and prints its outcome; fails when `--wait` saw messages fail or it did not complete.
pub async fn print(args: &BulkArgs, name: &str) -> anyhow::Result<()> {
    let report = run(args, name).await?;
    println!("campaign {} {}: {}", report.id, report.state, report.counts);
    if args.wait {
        if report.counts["failed"].as_u64().unwrap_or(0) > 0 {
            bail!("{} messages failed", report.counts["failed"]);
        }
        if report.state != "completed" {
            bail!(
                "the campaign did not complete within {} s",
                args.wait_timeout
            );
        }
    }
    Ok(())
}
