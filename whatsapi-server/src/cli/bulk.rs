//! `whatsapi bulk FILE.csv`: one message per row, sent in chunks through `POST /messages/bulk`.
//!
//! Each chunk carries an idempotency key derived from the file's bytes, the options and the chunk's position, so
//! running the same command again after an interruption replays the chunks already accepted and sends only the
//! rest. Rows the server (or the file) refuses go to a report file with their reasons.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::client::{Client, ClientArgs, describe_error};
use super::{FINAL, template_json};

/// `whatsapi bulk`.
#[derive(Debug, Clone, clap::Args)]
pub struct BulkArgs {
    /// Server and key.
    #[command(flatten)]
    pub client: ClientArgs,
    /// CSV file with a header row; one message per row.
    pub file: PathBuf,
    /// Column with the recipient (E.164 digits).
    #[arg(long, default_value = "to")]
    pub to_column: String,
    /// Template to send to every row.
    #[arg(long, conflicts_with_all = ["text", "message_column"])]
    pub template: Option<String>,
    /// Template language code.
    #[arg(long, default_value = "en_US")]
    pub language: String,
    /// Columns that fill the template's body parameters, in order, comma-separated (e.g. name,order).
    #[arg(long, value_delimiter = ',')]
    pub params: Vec<String>,
    /// Text for every row; `{column}` is replaced by the row's value.
    #[arg(long, conflicts_with = "message_column")]
    pub text: Option<String>,
    /// Column holding each row's text.
    #[arg(long)]
    pub message_column: Option<String>,
    /// Rows per request (default: the plan's bulk limit from /auth/me).
    #[arg(long)]
    pub chunk_size: Option<usize>,
    /// Stop after this many chunks (the rest is sent by running the same command again).
    #[arg(long)]
    pub max_chunks: Option<usize>,
    /// Simulate: do not call Meta.
    #[arg(long)]
    pub dry_run: bool,
    /// Where refused rows are written (default: FILE with `.failures.csv`).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Follow delivery until every message is delivered, read or failed, then print a summary.
    #[arg(long)]
    pub wait: bool,
    /// Longest time to follow delivery, in seconds.
    #[arg(long, default_value_t = 600)]
    pub wait_timeout: u64,
    /// Hide progress bars (for logs and tests).
    #[arg(long)]
    pub quiet: bool,
}

/// A row that could not be sent, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Line in the file (the header is line 1).
    pub line: usize,
    /// The recipient as written.
    pub to: String,
    /// Why.
    pub reason: String,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BulkReport {
    /// Rows in the file.
    pub rows: usize,
    /// Messages the server accepted in this run.
    pub queued: usize,
    /// Messages accepted by an earlier run (replayed chunks).
    pub already_queued: usize,
    /// Rows refused (by the file check or the server).
    pub refused: Vec<Refused>,
    /// Batch ids of every chunk, in order.
    pub batches: Vec<String>,
    /// Chunks left for a later run (`--max-chunks`).
    pub chunks_left: usize,
    /// Final statuses after `--wait`.
    pub by_status: BTreeMap<String, usize>,
}

/// Builds the message of one row, or says why it cannot.
fn row_message(
    args: &BulkArgs,
    headers: &csv::StringRecord,
    row: &csv::StringRecord,
) -> Result<Value, String> {
    let col = |name: &str| -> Result<String, String> {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .and_then(|i| row.get(i))
            .map(|v| v.trim().to_owned())
            .ok_or_else(|| format!("no column '{name}'"))
    };
    let to = col(&args.to_column)?;
    if to.is_empty() {
        return Err(format!("empty '{}'", args.to_column));
    }
    let mut msg = json!({"to": to});
    if let Some(name) = &args.template {
        let params = args
            .params
            .iter()
            .map(|p| col(p))
            .collect::<Result<Vec<_>, _>>()?;
        msg["template"] = template_json(name, &args.language, &params);
    } else if let Some(c) = &args.message_column {
        msg["message"] = json!(col(c)?);
    } else if let Some(text) = &args.text {
        let mut out = text.clone();
        for (i, h) in headers.iter().enumerate() {
            out = out.replace(
                &format!("{{{}}}", h.trim()),
                row.get(i).unwrap_or_default().trim(),
            );
        }
        msg["message"] = json!(out);
    }
    if args.dry_run {
        msg["dry_run"] = json!(true);
    }
    Ok(msg)
}

fn bar(quiet: bool, len: u64, what: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(len);
    b.set_style(
        ProgressStyle::with_template(&format!(
            "{what} [{{bar:40}}] {{pos}}/{{len}} {{msg}} ({{eta}})"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    b
}

/// Runs `whatsapi bulk` and prints a summary.
pub async fn bulk(args: BulkArgs) -> anyhow::Result<()> {
    let report = run(&args).await?;
    println!(
        "{} rows: {} queued now, {} queued by an earlier run, {} refused{}",
        report.rows,
        report.queued,
        report.already_queued,
        report.refused.len(),
        if report.chunks_left > 0 {
            format!(
                "; {} chunks left: run the same command again to send them",
                report.chunks_left
            )
        } else {
            String::new()
        }
    );
    if !report.refused.is_empty() {
        println!("refused rows written to {}", report_path(&args).display());
    }
    if args.wait {
        let summary: Vec<String> = report
            .by_status
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        println!("delivery: {}", summary.join(", "));
    }
    Ok(())
}

fn report_path(args: &BulkArgs) -> PathBuf {
    args.report
        .clone()
        .unwrap_or_else(|| args.file.with_extension("failures.csv"))
}

/// Sends the file; returns what happened.
pub async fn run(args: &BulkArgs) -> anyhow::Result<BulkReport> {
    if args.template.is_none() && args.text.is_none() && args.message_column.is_none() {
        bail!("say what to send: --template NAME, --text \"...\" or --message-column COLUMN");
    }
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(bytes.as_slice());
    let headers = reader.headers().context("reading the header row")?.clone();
    let mut report = BulkReport::default();
    // (line, to, message) of the rows that can be sent.
    let mut items: Vec<(usize, String, Value)> = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        report.rows += 1;
        match record {
            Ok(row) => {
                let to = headers
                    .iter()
                    .position(|h| h.trim() == args.to_column)
                    .and_then(|p| row.get(p))
                    .unwrap_or_default()
                    .to_owned();
                match row_message(args, &headers, &row) {
                    Ok(msg) => items.push((line, to, msg)),
                    Err(reason) => report.refused.push(Refused { line, to, reason }),
                }
            }
            Err(e) => report.refused.push(Refused {
                line,
                to: String::new(),
                reason: format!("unreadable row: {e}"),
            }),
        }
    }

    let client = Client::new(&args.client)?;
    let me = client.ok(Method::GET, "/auth/me", None, None).await?;
    let cap = me.body["data"]["bulkLimit"].as_u64().unwrap_or(100).max(1) as usize;
    let chunk_size = args.chunk_size.unwrap_or(cap).clamp(1, cap);

    // The run's identity: the same file and options give the same keys, so a rerun replays finished chunks.
    let mut h = Sha256::new();
    h.update(&bytes);
    h.update(
        format!(
            "{:?}|{}|{:?}|{:?}|{:?}|{}|{}|{}",
            args.template,
            args.language,
            args.params,
            args.text,
            args.message_column,
            args.to_column,
            args.dry_run,
            chunk_size
        )
        .as_bytes(),
    );
    let run_id = hex::encode(&h.finalize()[..12]);

    let chunks: Vec<&[(usize, String, Value)]> = items.chunks(chunk_size).collect();
    let send_bar = bar(args.quiet, items.len() as u64, "sending ");
    for (index, chunk) in chunks.iter().enumerate() {
        if args.max_chunks.is_some_and(|max| index >= max) {
            report.chunks_left = chunks.len() - index;
            break;
        }
        let body = json!({"messages": chunk.iter().map(|(_, _, m)| m.clone()).collect::<Vec<_>>()});
        let key = format!("bulk-{run_id}-{index}");
        let answer = client
            .call(Method::POST, "/messages/bulk", Some(&body), Some(&key))
            .await?;
        if answer.status == StatusCode::ACCEPTED {
            let data = &answer.body["data"];
            let queued = data["queued"].as_u64().unwrap_or(0) as usize;
            if answer.replayed {
                report.already_queued += queued;
            } else {
                report.queued += queued;
            }
            if let Some(batch) = data["batchId"].as_str() {
                report.batches.push(batch.to_owned());
            }
            for e in data["errors"].as_array().into_iter().flatten() {
                let Some((line, to, _)) = e["index"].as_u64().and_then(|i| chunk.get(i as usize))
                else {
                    continue;
                };
                let reason: Vec<String> = e["details"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|d| {
                        format!(
                            "{}: {}",
                            d["field"].as_str().unwrap_or("?"),
                            d["message"].as_str().unwrap_or("?")
                        )
                    })
                    .collect();
                report.refused.push(Refused {
                    line: *line,
                    to: to.clone(),
                    reason: reason.join("; "),
                });
            }
        } else if answer.status == StatusCode::BAD_REQUEST {
            // The whole chunk was refused (every row invalid): attribute the details to their rows.
            let mut per_row: BTreeMap<usize, Vec<String>> = BTreeMap::new();
            let mut general = Vec::new();
            for d in answer.body["details"].as_array().into_iter().flatten() {
                let field = d["field"].as_str().unwrap_or_default();
                let message = d["message"].as_str().unwrap_or_default();
                let index = field
                    .strip_prefix("messages[")
                    .and_then(|r| r.split_once(']'))
                    .and_then(|(i, rest)| {
                        i.parse::<usize>()
                            .ok()
                            .map(|i| (i, rest.trim_start_matches('.')))
                    });
                match index {
                    Some((i, f)) => per_row
                        .entry(i)
                        .or_default()
                        .push(format!("{f}: {message}")),
                    None => general.push(format!("{field}: {message}")),
                }
            }
            for (i, (line, to, _)) in chunk.iter().enumerate() {
                let reason = per_row.remove(&i).map(|r| r.join("; ")).unwrap_or_else(|| {
                    if general.is_empty() {
                        describe_error(&answer)
                    } else {
                        general.join("; ")
                    }
                });
                report.refused.push(Refused {
                    line: *line,
                    to: to.clone(),
                    reason,
                });
            }
        } else {
            bail!(
                "chunk {} of {}: {}",
                index + 1,
                chunks.len(),
                describe_error(&answer)
            );
        }
        send_bar.inc(chunk.len() as u64);
        send_bar.set_message(format!("chunk {}/{}", index + 1, chunks.len()));
    }
    send_bar.finish();

    report.refused.sort_by_key(|r| r.line);
    write_report(&report_path(args), &report.refused)?;

    if args.wait && !report.batches.is_empty() {
        report.by_status = follow(&client, args, &report.batches).await?;
    }
    Ok(report)
}

fn write_report(path: &PathBuf, refused: &[Refused]) -> anyhow::Result<()> {
    if refused.is_empty() {
        return Ok(());
    }
    let mut w =
        csv::Writer::from_path(path).with_context(|| format!("writing {}", path.display()))?;
    w.write_record(["line", "to", "reason"])?;
    for r in refused {
        w.write_record([r.line.to_string(), r.to.clone(), r.reason.clone()])?;
    }
    w.flush()?;
    Ok(())
}

/// Polls the batches until every message is final or the timeout passes; returns the count per status.
async fn follow(
    client: &Client,
    args: &BulkArgs,
    batches: &[String],
) -> anyhow::Result<BTreeMap<String, usize>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.wait_timeout);
    let wait_bar = bar(args.quiet, 0, "delivery");
    loop {
        let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
        let mut total = 0usize;
        for batch in batches {
            let mut page: u64 = 1;
            loop {
                let a = client
                    .ok(
                        Method::GET,
                        &format!("/messages?batchId={batch}&limit=200&page={page}"),
                        None,
                        None,
                    )
                    .await?;
                for m in a.body["data"].as_array().into_iter().flatten() {
                    *by_status
                        .entry(m["status"].as_str().unwrap_or("?").to_owned())
                        .or_default() += 1;
                    total += 1;
                }
                if page >= a.body["pagination"]["totalPages"].as_u64().unwrap_or(1) {
                    break;
                }
                page += 1;
            }
        }
        let done: usize = FINAL
            .iter()
            .map(|s| by_status.get(*s).copied().unwrap_or(0))
            .sum();
        wait_bar.set_length(total as u64);
        wait_bar.set_position(done as u64);
        if done >= total || tokio::time::Instant::now() >= deadline {
            wait_bar.finish();
            return Ok(by_status);
        }
        // Gentle on the per-key rate limit: each round costs one request per page of every batch.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
