//! Runs every load scenario of BENCHMARKS.md `--runs` times (each with its baseline in the same run), prints a
//! table per run and the medians, and writes everything as JSON.
//!
//! `cargo run --release -p whatsapi-benches --bin bench-all -- --runs 3`

use std::path::PathBuf;

use clap::Parser;
use serde::Serialize;
use serde_json::{Value, json};
use whatsapi_benches::load::LoadReport;
use whatsapi_benches::scenarios::{self, Env, Sizes};

#[derive(Parser, Debug)]
#[command(about = "whatsapi load scenarios with their baselines")]
struct Args {
    /// Runs of every scenario (the summary gives medians).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Small sizes for a smoke run.
    #[arg(long)]
    quick: bool,
    /// Only these scenarios (comma-separated: accept, sandbox, fake, e2e, producers).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Where to write the JSON results.
    #[arg(long, default_value = "target/bench/results.json")]
    json: PathBuf,
    /// Override: engine concurrency of the dispatch via the sandbox (and workers of its baseline).
    #[arg(long)]
    dispatch_concurrency: Option<usize>,
    /// Override: engine concurrency of the dispatch via the fake transport.
    #[arg(long)]
    fake_concurrency: Option<usize>,
    /// Override: engine dispatch_batch.
    #[arg(long)]
    dispatch_batch: Option<usize>,
    /// Override: messages through the fake transport.
    #[arg(long)]
    fake_messages: Option<u64>,
    /// Override: closed-loop workers of the accept scenario.
    #[arg(long)]
    accept_concurrency: Option<usize>,
    /// Override: longest accept measurement in seconds.
    #[arg(long)]
    accept_seconds: Option<f64>,
    /// Override: messages through the sandbox.
    #[arg(long)]
    sandbox_messages: Option<u64>,
    /// Override: open-loop rate of the end-to-end scenario.
    #[arg(long)]
    e2e_rate: Option<f64>,
}

/// One scenario's figure in one run.
#[derive(Debug, Clone, Serialize)]
struct Row {
    scenario: &'static str,
    unit: &'static str,
    baseline: Option<f64>,
    figure: f64,
    ratio: Option<f64>,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn wants(args: &Args, name: &str) -> bool {
    args.only.is_empty() || args.only.iter().any(|o| o == name)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut sizes = if args.quick {
        Sizes::quick()
    } else {
        Sizes::standard()
    };
    if let Some(c) = args.dispatch_concurrency {
        sizes.dispatch_concurrency = c;
    }
    if let Some(c) = args.fake_concurrency {
        sizes.fake_concurrency = c;
    }
    if let Some(b) = args.dispatch_batch {
        sizes.dispatch_batch = b;
    }
    if let Some(n) = args.fake_messages {
        sizes.fake_messages = n;
    }
    if let Some(c) = args.accept_concurrency {
        sizes.accept_concurrency = c;
    }
    if let Some(s) = args.accept_seconds {
        sizes.accept_seconds = s;
    }
    if let Some(n) = args.sandbox_messages {
        sizes.sandbox_messages = n;
    }
    if let Some(r) = args.e2e_rate {
        sizes.e2e_rate = r;
    }
    let env = Env::new(2)?;
    let mut rows: Vec<Row> = Vec::new();
    let mut runs_json: Vec<Value> = Vec::new();
    println!(
        "whatsapi bench-all: {} run(s), nproc {}, load average at start {:.2}",
        args.runs,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        scenarios::loadavg()
    );
    for run in 1..=args.runs.max(1) {
        let load_before = scenarios::loadavg();
        println!("\n== run {run} (load average {load_before:.2}) ==");
        println!("{}", LoadReport::header());
        let mut run_json = json!({"run": run, "loadavg_start": load_before});
        if wants(&args, "accept") {
            let a = scenarios::accept(&env, &sizes)?;
            println!("{}", a.bare.row("accept: bare axum 202 (closed)"));
            println!("{}", a.server.row("accept: whatsapi (closed)"));
            println!(
                "{}",
                a.server_half_rate
                    .row("accept: whatsapi at half rate (open)")
            );
            for r in [&a.bare, &a.server, &a.server_half_rate] {
                if let Some(e) = &r.first_error {
                    println!("   first error: {e}");
                }
            }
            println!(
                "   ratio {:.3}; RSS idle {} KiB, under load {} KiB",
                a.ratio, a.rss_idle_kib, a.rss_load_kib
            );
            rows.push(Row {
                scenario: "accept",
                unit: "requests/s",
                baseline: Some(a.bare.throughput),
                figure: a.server.throughput,
                ratio: Some(a.ratio),
            });
            rows.push(Row {
                scenario: "accept p99 at half rate",
                unit: "ms",
                baseline: None,
                figure: a.server_half_rate.p99_ms,
                ratio: None,
            });
            // Only the first run starts from a fresh process; later runs inherit the heap of the earlier ones.
            if run == 1 {
                rows.push(Row {
                    scenario: "RSS idle (run 1)",
                    unit: "MiB",
                    baseline: None,
                    figure: a.rss_idle_kib as f64 / 1024.0,
                    ratio: None,
                });
                rows.push(Row {
                    scenario: "RSS under accept load (run 1)",
                    unit: "MiB",
                    baseline: None,
                    figure: a.rss_load_kib as f64 / 1024.0,
                    ratio: None,
                });
            }
            run_json["accept"] = serde_json::to_value(&a)?;
        }
        if wants(&args, "sandbox") {
            let d = scenarios::dispatch_sandbox(&env, &sizes)?;
            println!(
                "dispatch via sandbox: {} messages, reqwest loop {:.0}/s, engine {:.0}/s, ratio {:.3}",
                d.messages,
                d.baseline_per_s.unwrap_or(0.0),
                d.engine_per_s,
                d.ratio.unwrap_or(0.0)
            );
            rows.push(Row {
                scenario: "dispatch via sandbox",
                unit: "messages/s",
                baseline: d.baseline_per_s,
                figure: d.engine_per_s,
                ratio: d.ratio,
            });
            run_json["dispatch_sandbox"] = serde_json::to_value(&d)?;
        }
        if wants(&args, "fake") {
            let (d, i) = scenarios::dispatch_fake_and_ingest(&env, &sizes)?;
            println!(
                "dispatch via fake transport: {} messages, engine {:.0}/s",
                d.messages, d.engine_per_s
            );
            println!("{}", i.posts.row("ingest: 100 statuses per POST"));
            println!(
                "   {} statuses applied, {:.0} statuses/s",
                i.applied, i.statuses_per_s
            );
            rows.push(Row {
                scenario: "dispatch via fake transport",
                unit: "messages/s",
                baseline: None,
                figure: d.engine_per_s,
                ratio: None,
            });
            let accept = rows
                .iter()
                .rev()
                .find(|r| r.scenario == "accept")
                .map(|r| r.figure);
            rows.push(Row {
                scenario: "ingest (vs accept)",
                unit: "statuses/s",
                baseline: accept,
                figure: i.statuses_per_s,
                ratio: accept.map(|a| i.statuses_per_s / a),
            });
            run_json["dispatch_fake"] = serde_json::to_value(&d)?;
            run_json["ingest"] = serde_json::to_value(&i)?;
        }
        if wants(&args, "e2e") {
            let e = scenarios::end_to_end(&env, &sizes)?;
            println!("{}", e.sends.row("end to end: sends (open)"));
            println!(
                "   202 -> delivered webhook: {} of {} delivered, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; RSS {} KiB",
                e.delivered, e.sends.ok, e.p50_ms, e.p99_ms, e.max_ms, e.rss_load_kib
            );
            rows.push(Row {
                scenario: "end to end p50",
                unit: "ms",
                baseline: None,
                figure: e.p50_ms,
                ratio: None,
            });
            rows.push(Row {
                scenario: "end to end p99",
                unit: "ms",
                baseline: None,
                figure: e.p99_ms,
                ratio: None,
            });
            run_json["end_to_end"] = serde_json::to_value(&e)?;
        }
        if wants(&args, "producers") {
            let p = scenarios::producers(&env, &sizes)?;
            println!(
                "producers: {} calling send, {} messages, whatsapi {:.0}/s, BullMQ {}, ratio {} ({})",
                p.producers,
                p.messages,
                p.engine_per_s,
                p.bullmq_per_s.map_or("-".into(), |b| format!("{b:.0}/s")),
                p.ratio.map_or("-".into(), |r| format!("{r:.3}")),
                p.baseline_note
            );
            rows.push(Row {
                scenario: "producers + engine (vs BullMQ)",
                unit: "messages/s",
                baseline: p.bullmq_per_s,
                figure: p.engine_per_s,
                ratio: p.ratio,
            });
            run_json["producers"] = serde_json::to_value(&p)?;
        }
        run_json["loadavg_end"] = json!(scenarios::loadavg());
        runs_json.push(run_json);
    }

    // Medians over the runs, scenario by scenario, in first-seen order.
    let mut names: Vec<&'static str> = Vec::new();
    for r in &rows {
        if !names.contains(&r.scenario) {
            names.push(r.scenario);
        }
    }
    println!(
        "\n== medians over {} run(s) ==\n{:<30} {:>12} {:>14} {:>14} {:>8}",
        args.runs, "scenario", "unit", "baseline", "figure", "ratio"
    );
    let mut summary = Vec::new();
    for name in names {
        let of: Vec<&Row> = rows.iter().filter(|r| r.scenario == name).collect();
        let baseline = median(of.iter().filter_map(|r| r.baseline).collect());
        let figure = median(of.iter().map(|r| r.figure).collect()).unwrap_or(0.0);
        let ratio = median(of.iter().filter_map(|r| r.ratio).collect());
        let fmt = |v: Option<f64>, d: usize| v.map_or("-".to_owned(), |v| format!("{v:.d$}"));
        println!(
            "{:<30} {:>12} {:>14} {:>14} {:>8}",
            name,
            of[0].unit,
            fmt(baseline, 0),
            fmt(Some(figure), if of[0].unit == "ms" { 2 } else { 0 }),
            fmt(ratio, 3)
        );
        summary.push(json!({"scenario": name, "unit": of[0].unit, "baseline": baseline, "figure": figure, "ratio": ratio}));
    }
    let out = json!({"sizes": sizes, "runs": runs_json, "medians": summary});
    if let Some(dir) = args.json.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.json, serde_json::to_string_pretty(&out)?)?;
    println!("\nJSON: {}", args.json.display());
    Ok(())
}
