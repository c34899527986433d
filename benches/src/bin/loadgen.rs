//! A standalone load generator: sends one request shape to a URL, closed-loop or open-loop, bounded in count and
//! time, and prints throughput and latency percentiles as a table and as JSON.
//!
//! ```text
//! cargo run --release -p whatsapi-benches --bin loadgen -- \
//!     --url http://127.0.0.1:8080/send-message --header "Authorization: Bearer sk_live_…" \
//!     --body '{"to":"14155552671","message":"hi"}' --expect 202 --concurrency 64 --requests 20000 --duration 10
//! ```

use std::time::Duration;

use clap::Parser;
use whatsapi_benches::load::{self, LoadReport, LoadSpec, request_fn};

#[derive(Parser, Debug)]
#[command(about = "HTTP load generator for whatsapi (loopback benchmarks)")]
struct Args {
    /// Target URL.
    #[arg(long)]
    url: String,
    /// HTTP method.
    #[arg(long, default_value = "POST")]
    method: String,
    /// Request body (sent as application/json).
    #[arg(long)]
    body: Option<String>,
    /// Extra header, `Name: value` (repeatable).
    #[arg(long)]
    header: Vec<String>,
    /// Expected status code.
    #[arg(long, default_value_t = 200)]
    expect: u16,
    /// Closed loop: workers. Open loop: most requests in flight.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Most requests.
    #[arg(long, default_value_t = 10_000)]
    requests: u64,
    /// Longest run in seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Open loop at this many requests per second (closed loop when absent).
    #[arg(long)]
    rate: Option<f64>,
    /// Print only the JSON report.
    #[arg(long)]
    json: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let method: reqwest::Method = args.method.parse()?;
    let mut headers = reqwest::header::HeaderMap::new();
    for h in &args.header {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("header {h:?} is not `Name: value`"))?;
        headers.insert(
            reqwest::header::HeaderName::from_bytes(name.trim().as_bytes())?,
            value.trim().parse()?,
        );
    }
    if args.body.is_some() && !headers.contains_key(reqwest::header::CONTENT_TYPE) {
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            "application/json".parse().expect("valid constant"),
        );
    }
    let spec = match args.rate {
        Some(rate) => LoadSpec::open(
            rate,
            args.concurrency,
            args.requests,
            Duration::from_secs_f64(args.duration),
        ),
        None => LoadSpec::closed(
            args.concurrency,
            args.requests,
            Duration::from_secs_f64(args.duration),
        ),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(async {
        let client = whatsapi_benches::scenarios::client(args.concurrency * 2);
        let body = args.body.clone().unwrap_or_default();
        let expect = args.expect;
        let url = args.url.clone();
        let f = request_fn(move |_| {
            let req = client
                .request(method.clone(), &url)
                .headers(headers.clone())
                .body(body.clone());
            async move {
                let resp = req.send().await.map_err(|e| e.to_string())?;
                let status = resp.status().as_u16();
                let text = resp.bytes().await.map_err(|e| e.to_string())?;
                if status == expect {
                    Ok(())
                } else {
                    Err(format!("{status}: {}", String::from_utf8_lossy(&text)))
                }
            }
        });
        load::run(spec, f).await
    });
    if !args.json {
        println!("{}", LoadReport::header());
        println!("{}", report.row(&args.url));
        if let Some(e) = &report.first_error {
            println!("first error: {e}");
        }
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({"spec": spec, "report": report}))?
    );
    Ok(())
}
