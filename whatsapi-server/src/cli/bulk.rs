//! `whatsapi bulk FILE.csv`: one message per row, sent in chunks through `POST /messages/bulk`.
//!
//! Every row has a key: the campaign (a random id kept in the journal, standing for this file), the row's line
//! and the message built from it. A journal next to the file (`FILE.csv.bulk-journal`) records, before each
//! request, the row keys of the chunk about to be sent ("pending"), and after the answer the rows the server
//! accepted. A rerun skips accepted rows, whatever the chunk size or plan, so no row is sent twice.
//!
//! A chunk's Idempotency-Key is derived from its row keys. When an answer was lost (crash, network, Ctrl-C while
//! a request was in flight), the journal still names that chunk as pending: the next run first sends exactly
//! that chunk again with the same key, so the server replays its first answer if it had accepted it (the server
//! keeps idempotency answers 24 h, before checking the plan's cap) or takes it now if it had not. Only a pending
//! chunk older than the server's idempotency retention cannot be settled that way: the run stops and names its
//! lines (`--resend-unconfirmed` sends them anyway). Rows the server (or the file) refuses go to a report file
//! with their reasons and are tried again by a rerun.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::client::{Client, ClientArgs, Interrupt, Interrupted, describe_error};
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
    /// Send from this business number (its phoneNumberId, see `GET /numbers`); default the account's default number.
    #[arg(long, value_name = "PHONE_NUMBER_ID")]
    pub from: Option<String>,
    /// Each message expires unsent after this many seconds (a campaign counts them from each message's planned
    /// send time); default the account's default validity.
    #[arg(long, value_name = "SECONDS")]
    pub validity: Option<u64>,
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
    /// Journal of the rows already accepted (default: FILE with `.bulk-journal` appended). Delete it to send the
    /// file again as a new campaign.
    #[arg(long)]
    pub journal: Option<PathBuf>,
    /// Send again the rows of a chunk whose answer was lost more than 24 h ago (the server may or may not have
    /// queued them; see the journal).
    #[arg(long)]
    pub resend_unconfirmed: bool,
    /// Send the file as one campaign (`--campaign NAME` and its options) instead of in chunks.
    #[command(flatten)]
    pub campaign: super::campaign::CampaignArgs,
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
    /// Messages accepted by an earlier run (journaled, or replayed by the server).
    pub already_queued: usize,
    /// Rows refused (by the file check or the server).
    pub refused: Vec<Refused>,
    /// Batch ids of every chunk, in order.
    pub batches: Vec<String>,
    /// Chunks left for a later run (`--max-chunks`, or Ctrl-C).
    pub chunks_left: usize,
    /// Rows left for a later run.
    pub rows_left: usize,
    /// Stopped by Ctrl-C.
    pub interrupted: bool,
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
    if let Some(f) = &args.from {
        msg["from"] = json!(f);
    }
    if let Some(v) = args.validity {
        msg["validitySeconds"] = json!(v);
    }
    if args.dry_run {
        msg["dry_run"] = json!(true);
    }
    Ok(msg)
}

/// A progress bar of `len` steps (hidden when `quiet`).
pub(crate) fn progress_bar(quiet: bool, len: u64, what: &str) -> ProgressBar {
    bar(quiet, len, what)
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

/// Runs `whatsapi bulk` and prints a summary; fails when `--wait` saw a message fail.
pub async fn bulk(args: BulkArgs) -> anyhow::Result<()> {
    if let Some(name) = args.campaign.campaign.clone() {
        return super::campaign::print(&args, &name).await;
    }
    let interrupt = Arc::new(Interrupt::default());
    interrupt.on_ctrl_c();
    let report = run_with(&args, interrupt).await?;
    println!(
        "{} rows: {} queued now, {} queued by an earlier run, {} refused{}",
        report.rows,
        report.queued,
        report.already_queued,
        report.refused.len(),
        if report.rows_left > 0 {
            format!(
                "; {} rows left{}: run the same command again to send them",
                report.rows_left,
                if report.interrupted {
                    " (interrupted)"
                } else {
                    ""
                }
            )
        } else {
            String::new()
        }
    );
    if !report.refused.is_empty() {
        println!("refused rows written to {}", report_path(&args).display());
    }
    if args.wait && !report.interrupted {
        let summary: Vec<String> = report
            .by_status
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        println!("delivery: {}", summary.join(", "));
        let failed = report.by_status.get("failed").copied().unwrap_or(0);
        if failed > 0 {
            bail!("{failed} messages failed");
        }
        let open: usize = report
            .by_status
            .iter()
            .filter(|(s, _)| !FINAL.contains(&s.as_str()))
            .map(|(_, n)| n)
            .sum();
        if open > 0 {
            bail!(
                "{open} messages were not delivered, read or failed within {} s",
                args.wait_timeout
            );
        }
    }
    if report.interrupted {
        std::process::exit(130);
    }
    Ok(())
}

fn report_path(args: &BulkArgs) -> PathBuf {
    args.report
        .clone()
        .unwrap_or_else(|| args.file.with_extension("failures.csv"))
}

fn journal_path(args: &BulkArgs) -> PathBuf {
    args.journal.clone().unwrap_or_else(|| {
        let mut name = args.file.clone().into_os_string();
        name.push(".bulk-journal");
        PathBuf::from(name)
    })
}

/// One line of the journal (JSON lines, appended and flushed to disk one by one).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
enum Entry {
    /// First line: the campaign's id, part of every row key.
    #[serde(rename_all = "camelCase")]
    Campaign { id: String, file: String },
    /// A chunk about to be sent: its Idempotency-Key and its row keys, in order.
    #[serde(rename_all = "camelCase")]
    Pending {
        key: String,
        rows: Vec<String>,
        lines: Vec<usize>,
        at: DateTime<Utc>,
    },
    /// The server's answer to a pending chunk: the rows it accepted (the others were refused, so not sent).
    #[serde(rename_all = "camelCase")]
    Answered {
        key: String,
        batch_id: Option<String>,
        accepted: Vec<String>,
    },
}

/// A chunk sent without a recorded answer: its key, row keys, lines and when.
type PendingChunk = (String, Vec<String>, Vec<usize>, DateTime<Utc>);

/// What the journal knows.
struct Journal {
    path: PathBuf,
    file: std::fs::File,
    campaign: String,
    /// Row key → batch id.
    accepted: HashMap<String, String>,
    /// Chunks sent without a recorded answer, in order.
    pending: Vec<PendingChunk>,
}

impl Journal {
    fn open(path: &Path, data_file: &Path) -> anyhow::Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let mut campaign = None;
        let mut accepted = HashMap::new();
        let mut pending: Vec<PendingChunk> = Vec::new();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let entry: Entry = match serde_json::from_str(line) {
                Ok(e) => e,
                // A last line cut short by a crash was never acted upon.
                Err(_) if i + 1 == lines.len() => break,
                Err(e) => bail!("{} line {}: {e}", path.display(), i + 1),
            };
            match entry {
                Entry::Campaign { id, .. } => campaign = Some(id),
                Entry::Pending {
                    key,
                    rows,
                    lines,
                    at,
                } => pending.push((key, rows, lines, at)),
                Entry::Answered {
                    key,
                    batch_id,
                    accepted: rows,
                } => {
                    pending.retain(|(k, ..)| *k != key);
                    for r in rows {
                        accepted.insert(r, batch_id.clone().unwrap_or_default());
                    }
                }
            }
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening the journal {}", path.display()))?;
        if !text.is_empty() && !text.ends_with('\n') {
            file.write_all(b"\n")?;
        }
        let mut journal = Self {
            path: path.to_owned(),
            file,
            campaign: String::new(),
            accepted,
            pending,
        };
        match campaign {
            Some(id) => journal.campaign = id,
            None => {
                let id = uuid::Uuid::now_v7().simple().to_string();
                journal.append(&Entry::Campaign {
                    id: id.clone(),
                    file: data_file.display().to_string(),
                })?;
                journal.campaign = id;
            }
        }
        Ok(journal)
    }

    fn append(&mut self, entry: &Entry) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(entry)?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
            .with_context(|| format!("writing the journal {}", self.path.display()))
    }
}

/// A row that can be sent: its line, recipient, message and key.
#[derive(Debug, Clone)]
struct Item {
    line: usize,
    to: String,
    message: Value,
    key: String,
}

fn hash_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    hex::encode(&h.finalize()[..16])
}

/// Sends the file; returns what happened.
pub async fn run(args: &BulkArgs) -> anyhow::Result<BulkReport> {
    run_with(args, Arc::default()).await
}

/// What one chunk's answer did.
enum Outcome {
    /// Answered: `accepted` rows were queued (by this request, or by an earlier one when `replayed`).
    Answered { accepted: usize, replayed: bool },
    /// Bigger than the plan's cap now, and never taken: its rows go back to be chunked again.
    TooBig,
}

/// Sends the file, stopping cleanly on `interrupt`; returns what happened.
pub async fn run_with(args: &BulkArgs, interrupt: Arc<Interrupt>) -> anyhow::Result<BulkReport> {
    if args.template.is_none() && args.text.is_none() && args.message_column.is_none() {
        bail!("say what to send: --template NAME, --text \"...\" or --message-column COLUMN");
    }
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let mut journal = Journal::open(&journal_path(args), &args.file)?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(bytes.as_slice());
    let headers = reader.headers().context("reading the header row")?.clone();
    let mut report = BulkReport::default();
    let mut items: Vec<Item> = Vec::new();
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
                    Ok(message) => {
                        let key = hash_hex(&[
                            journal.campaign.as_bytes(),
                            line.to_string().as_bytes(),
                            message.to_string().as_bytes(),
                        ]);
                        items.push(Item {
                            line,
                            to,
                            message,
                            key,
                        });
                    }
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
    let by_key: HashMap<&str, &Item> = items.iter().map(|i| (i.key.as_str(), i)).collect();

    let mut client = Client::new(&args.client)?;
    client.interrupt = Arc::clone(&interrupt);
    client.show_waits = !args.quiet;
    let me = client.ok(Method::GET, "/auth/me", None, None).await?;
    let cap = me.body["data"]["bulkLimit"].as_u64().unwrap_or(100).max(1) as usize;
    let chunk_size = args.chunk_size.unwrap_or(cap).clamp(1, cap);

    // Chunks whose answer was lost go first, exactly as they were sent, so the server can replay them.
    let mut chunks: Vec<Vec<&Item>> = Vec::new();
    let retention = chrono::Duration::hours(23);
    for (key, rows, lines, at) in &journal.pending {
        let chunk: Option<Vec<&Item>> = rows
            .iter()
            .map(|r| by_key.get(r.as_str()).copied())
            .collect();
        let Some(chunk) = chunk else {
            bail!(
                "the journal {} names a chunk (lines {lines:?}) sent at {at} without an answer, but the file changed \
                 since: restore the file, or check GET /messages and delete the journal",
                journal.path.display()
            );
        };
        if Utc::now() - *at > retention && !args.resend_unconfirmed {
            bail!(
                "a chunk (lines {lines:?}) was sent at {at} and its answer was lost; the server no longer keeps \
                 that answer, so whether it was queued is unknown: check GET /messages, then run again with \
                 --resend-unconfirmed to send those rows (or remove them from the file)"
            );
        }
        let _ = key;
        chunks.push(chunk);
    }
    let resend_unconfirmed = args.resend_unconfirmed;
    let in_pending: HashSet<&str> = journal
        .pending
        .iter()
        .flat_map(|(_, rows, ..)| rows.iter().map(String::as_str))
        .collect();
    let pending_chunks = chunks.len();
    let mut rest: Vec<&Item> = Vec::new();
    for item in &items {
        if journal.accepted.contains_key(&item.key) {
            report.already_queued += 1;
            if let Some(b) = journal.accepted.get(&item.key).filter(|b| !b.is_empty()) {
                if !report.batches.contains(b) {
                    report.batches.push(b.clone());
                }
            }
        } else if !in_pending.contains(item.key.as_str()) {
            rest.push(item);
        }
    }
    chunks.extend(rest.chunks(chunk_size).map(<[&Item]>::to_vec));

    let send_bar = bar(
        args.quiet,
        (items.len() - report.already_queued) as u64,
        "sending ",
    );
    client.bar = Some(send_bar.clone());
    let mut index = 0;
    let mut sent_chunks = 0;
    while index < chunks.len() {
        let chunk = chunks[index].clone();
        let counted = index >= pending_chunks;
        if counted && args.max_chunks.is_some_and(|max| sent_chunks >= max) || interrupt.raised() {
            report.chunks_left = chunks.len() - index;
            report.rows_left = chunks[index..].iter().map(Vec::len).sum();
            report.interrupted = interrupt.raised();
            break;
        }
        let outcome = match send_chunk(
            &client,
            &mut journal,
            &mut report,
            &chunk,
            cap,
            index < pending_chunks && !resend_unconfirmed,
        )
        .await
        {
            Ok(o) => o,
            Err(e) if e.is::<Interrupted>() => {
                report.chunks_left = chunks.len() - index;
                report.rows_left = chunks[index..].iter().map(Vec::len).sum();
                report.interrupted = true;
                break;
            }
            Err(e) => {
                return Err(e.context(format!("chunk {} of {}", index + 1, chunks.len())));
            }
        };
        match outcome {
            Outcome::Answered { accepted, replayed } => {
                if replayed {
                    report.already_queued += accepted;
                } else {
                    report.queued += accepted;
                }
            }
            Outcome::TooBig => {
                // Never queued: send its rows again in chunks the plan allows, right after.
                let again: Vec<Vec<&Item>> =
                    chunk.chunks(chunk_size).map(<[&Item]>::to_vec).collect();
                chunks.splice(index + 1..index + 1, again);
            }
        }
        if counted {
            sent_chunks += 1;
        }
        send_bar.inc(chunk.len() as u64);
        send_bar.set_message(format!(
            "{} queued, {} refused",
            report.queued + report.already_queued,
            report.refused.len()
        ));
        index += 1;
    }
    send_bar.finish();

    report.refused.sort_by_key(|r| r.line);
    write_report(&report_path(args), &report.refused)?;

    if args.wait && !report.batches.is_empty() && !report.interrupted {
        report.by_status = follow(&client, args, &report.batches).await?;
    }
    Ok(report)
}

/// Sends one chunk under the Idempotency-Key of its rows, journaling it before and its answer after.
async fn send_chunk(
    client: &Client,
    journal: &mut Journal,
    report: &mut BulkReport,
    chunk: &[&Item],
    cap: usize,
    was_pending: bool,
) -> anyhow::Result<Outcome> {
    let row_keys: Vec<String> = chunk.iter().map(|i| i.key.clone()).collect();
    let joined = row_keys.join(",");
    let key = format!(
        "bulk-{}",
        hash_hex(&[journal.campaign.as_bytes(), joined.as_bytes()])
    );
    if !was_pending {
        journal.append(&Entry::Pending {
            key: key.clone(),
            rows: row_keys.clone(),
            lines: chunk.iter().map(|i| i.line).collect(),
            at: Utc::now(),
        })?;
    }
    let body = json!({"messages": chunk.iter().map(|i| i.message.clone()).collect::<Vec<_>>()});
    let mut answer = client
        .call(Method::POST, "/messages/bulk", Some(&body), Some(&key))
        .await?;
    // The same chunk still being processed (a lost answer, retried at once): wait for it to settle.
    for _ in 0..30 {
        if answer.status != StatusCode::CONFLICT {
            break;
        }
        if !client.interrupt.sleep(Duration::from_secs(1)).await {
            return Err(Interrupted.into());
        }
        answer = client
            .call(Method::POST, "/messages/bulk", Some(&body), Some(&key))
            .await?;
    }
    if answer.status == StatusCode::ACCEPTED {
        let data = &answer.body["data"];
        let mut refused_at: HashSet<usize> = HashSet::new();
        for e in data["errors"].as_array().into_iter().flatten() {
            let Some((i, item)) = e["index"]
                .as_u64()
                .and_then(|i| chunk.get(i as usize).map(|item| (i as usize, item)))
            else {
                continue;
            };
            refused_at.insert(i);
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
                line: item.line,
                to: item.to.clone(),
                reason: reason.join("; "),
            });
        }
        let batch_id = data["batchId"].as_str().map(str::to_owned);
        let accepted: Vec<String> = chunk
            .iter()
            .enumerate()
            .filter(|(i, _)| !refused_at.contains(i))
            .map(|(_, item)| item.key.clone())
            .collect();
        journal.append(&Entry::Answered {
            key,
            batch_id: batch_id.clone(),
            accepted: accepted.clone(),
        })?;
        for r in &accepted {
            journal
                .accepted
                .insert(r.clone(), batch_id.clone().unwrap_or_default());
        }
        if let Some(b) = batch_id {
            if !report.batches.contains(&b) {
                report.batches.push(b);
            }
        }
        return Ok(Outcome::Answered {
            accepted: data["queued"].as_u64().unwrap_or(accepted.len() as u64) as usize,
            replayed: answer.replayed,
        });
    }
    if answer.status == StatusCode::BAD_REQUEST {
        // Nothing of a 400 is kept by the server: the chunk was not queued.
        journal.append(&Entry::Answered {
            key,
            batch_id: None,
            accepted: Vec::new(),
        })?;
        if chunk.len() > cap {
            return Ok(Outcome::TooBig);
        }
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
        for (i, item) in chunk.iter().enumerate() {
            let reason = per_row.remove(&i).map(|r| r.join("; ")).unwrap_or_else(|| {
                if general.is_empty() {
                    describe_error(&answer)
                } else {
                    general.join("; ")
                }
            });
            report.refused.push(Refused {
                line: item.line,
                to: item.to.clone(),
                reason,
            });
        }
        return Ok(Outcome::Answered {
            accepted: 0,
            replayed: false,
        });
    }
    bail!("{}", describe_error(&answer))
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

/// Follows the batches until every message is final or the timeout passes; returns the count per status.
///
/// Each round is one list request: one page of one batch whose messages are not all final yet, taken in turn.
async fn follow(
    client: &Client,
    args: &BulkArgs,
    batches: &[String],
) -> anyhow::Result<BTreeMap<String, usize>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.wait_timeout);
    let wait_bar = bar(args.quiet, 0, "delivery");
    let mut client = client.clone();
    client.bar = Some(wait_bar.clone());
    // (batch, page) → the statuses last seen on it.
    let mut seen: BTreeMap<(usize, u64), Vec<String>> = BTreeMap::new();
    let mut todo: std::collections::VecDeque<(usize, u64)> =
        (0..batches.len()).map(|b| (b, 1)).collect();
    while let Some((b, page)) = todo.pop_front() {
        let a = client
            .ok(
                Method::GET,
                &format!("/messages?batchId={}&limit=200&page={page}", batches[b]),
                None,
                None,
            )
            .await?;
        let statuses: Vec<String> = a.body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| m["status"].as_str().unwrap_or("?").to_owned())
            .collect();
        if page == 1 {
            let pages = a.body["pagination"]["totalPages"].as_u64().unwrap_or(1);
            todo.extend((2..=pages).map(|p| (b, p)));
        }
        let open = statuses.iter().any(|s| !FINAL.contains(&s.as_str()));
        seen.insert((b, page), statuses);
        if open {
            todo.push_back((b, page));
        }
        let total: usize = seen.values().map(Vec::len).sum();
        let done = seen
            .values()
            .flatten()
            .filter(|s| FINAL.contains(&s.as_str()))
            .count();
        wait_bar.set_length(total as u64);
        wait_bar.set_position(done as u64);
        if todo.is_empty() || tokio::time::Instant::now() >= deadline {
            break;
        }
        if open && !client.interrupt.sleep(Duration::from_secs(2)).await {
            break;
        }
    }
    wait_bar.finish();
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for s in seen.into_values().flatten() {
        *by_status.entry(s).or_default() += 1;
    }
    Ok(by_status)
}
