//! Stable-toolchain fuzzing: runs each target over its seeds and random mutations of them (xorshift), for a set
//! time and a set number of inputs, and saves any input that panics under `fuzz/artifacts/<target>/`.
//!
//! `cargo run --release --bin fuzz-stable -- [TARGET|all] [SECONDS] [SEED]`

use std::panic;
use std::time::{Duration, Instant};

/// Upper bound on inputs per target, whatever the time budget.
const MAX_INPUTS: u64 = 50_000_000;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Tokens that reach the parsers' interesting branches.
const DICT: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "null",
    "true",
    "false",
    "-1",
    "0",
    "1e400",
    "4096",
    "\"to\"",
    "\"message\"",
    "\"template\"",
    "\"sendAt\"",
    "\"metadata\"",
    "\"dry_run\"",
    "\"components\"",
    "\"parameters\"",
    "\"type\"",
    "\"text\"",
    "\"currency\"",
    "\"statuses\"",
    "\"entry\"",
    "\"changes\"",
    "\"timestamp\"",
    "\"errors\"",
    "\"messages\"",
    "+",
    " ",
    "\\u0000",
    "\\ud800",
    "\u{feff}",
    "é",
    "9999999999999999",
    "\"2025-06-15T00:00:00Z\"",
    "\"9999-12-31T23:59:59Z\"",
    "sha256=",
];

fn mutate(rng: &mut XorShift, input: &mut Vec<u8>) {
    for _ in 0..=rng.below(4) {
        match rng.below(7) {
            0 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] ^= 1 << rng.below(8);
            }
            1 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] = rng.next() as u8;
            }
            2 if !input.is_empty() => {
                let i = rng.below(input.len());
                let n = rng.below(8).min(input.len() - i);
                input.drain(i..i + n);
            }
            3 => {
                let i = rng.below(input.len() + 1);
                let tok = DICT[rng.below(DICT.len())].as_bytes();
                input.splice(i..i, tok.iter().copied());
            }
            4 if !input.is_empty() => {
                // Duplicate a slice (grows nesting and repeats).
                let a = rng.below(input.len());
                let b = a + rng.below(input.len() - a).min(64);
                let chunk = input[a..b].to_vec();
                let i = rng.below(input.len() + 1);
                input.splice(i..i, chunk);
            }
            5 => {
                let i = rng.below(input.len() + 1);
                input.insert(i, rng.next() as u8);
            }
            _ => input.truncate(rng.below(input.len() + 1)),
        }
    }
    input.truncate(64 * 1024);
}

/// Keys the parsers look at, so generated objects reach past the first checks.
const KEYS: &[&str] = &[
    "to",
    "message",
    "template",
    "sendAt",
    "metadata",
    "dry_run",
    "dryRun",
    "name",
    "language",
    "components",
    "type",
    "sub_type",
    "index",
    "parameters",
    "text",
    "currency",
    "date_time",
    "image",
    "link",
    "fallback_value",
    "code",
    "amount_1000",
    "parameter_name",
    "location",
    "latitude",
    "longitude",
    "action",
    "flow_token",
    "flow_action_data",
    "payload",
    "coupon_code",
    "messages",
    "object",
    "entry",
    "changes",
    "value",
    "statuses",
    "id",
    "status",
    "timestamp",
    "errors",
    "metadata",
    "phone_number_id",
    "from",
    "error_data",
    "details",
    "title",
];
const STRINGS: &[&str] = &[
    "",
    "14155552671",
    "+14155552671",
    "whatsapp_business_account",
    "body",
    "header",
    "button",
    "url",
    "quick_reply",
    "copy_code",
    "flow",
    "sent",
    "delivered",
    "read",
    "failed",
    "1750000000",
    "2025-06-15T00:00:00Z",
    "2025-06-14T00:00:00Z",
    "en_US",
    "order_ready",
    "USD",
    "\\u0000",
    "é",
    "0",
    "-1",
    "99999999999999999999",
];

/// A random JSON value shaped like the targets' inputs (objects keyed by the fields they read).
fn gen_json(rng: &mut XorShift, depth: u32, out: &mut String) {
    let pick = if depth >= 6 {
        rng.below(4)
    } else {
        rng.below(7)
    };
    match pick {
        0 => out.push_str(["null", "true", "false"][rng.below(3)]),
        1 => out.push_str(&((rng.next() as i64) >> rng.below(64)).to_string()),
        2 | 3 => {
            out.push('"');
            out.push_str(STRINGS[rng.below(STRINGS.len())]);
            if rng.below(8) == 0 {
                out.push_str(&"x".repeat(rng.below(5000)));
            }
            out.push('"');
        }
        4 => {
            out.push('[');
            for i in 0..rng.below(4) {
                if i > 0 {
                    out.push(',');
                }
                gen_json(rng, depth + 1, out);
            }
            out.push(']');
        }
        _ => {
            out.push('{');
            for i in 0..rng.below(6) {
                if i > 0 {
                    out.push(',');
                }
                out.push('"');
                out.push_str(KEYS[rng.below(KEYS.len())]);
                out.push_str("\":");
                gen_json(rng, depth + 1, out);
            }
            out.push('}');
        }
    }
}

fn run(name: &str, target: fn(&[u8]), budget: Duration, seed: u64) -> Result<u64, Vec<u8>> {
    let mut rng = XorShift(seed | 1);
    let mut corpus = whatsapi_fuzz::seeds(name);
    let started = Instant::now();
    let mut count = 0u64;
    while count < MAX_INPUTS && started.elapsed() < budget {
        let input = if name != "phone" && rng.below(2) == 0 {
            // Half of the JSON targets' inputs are generated, well-formed JSON of the right shape.
            let mut text = String::new();
            gen_json(&mut rng, 0, &mut text);
            text.into_bytes()
        } else {
            let mut input = corpus[rng.below(corpus.len())].clone();
            mutate(&mut rng, &mut input);
            input
        };
        let result = panic::catch_unwind(|| target(&input));
        if result.is_err() {
            return Err(input);
        }
        // Keep some mutants so mutations compound (bounded corpus).
        if corpus.len() < 4096 && rng.below(16) == 0 {
            corpus.push(input);
        }
        count += 1;
    }
    Ok(count)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map(String::as_str).unwrap_or("all");
    let secs: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
    let seed: u64 = args
        .get(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1234_abcd_0001);
    let mut failed = false;
    for (name, target) in whatsapi_fuzz::TARGETS {
        if which != "all" && which != *name {
            continue;
        }
        match run(name, *target, Duration::from_secs(secs), seed) {
            Ok(n) => println!("{name}: {n} inputs in {secs} s, no failure (seed {seed})"),
            Err(input) => {
                failed = true;
                let dir = format!("{}/artifacts/{name}", env!("CARGO_MANIFEST_DIR"));
                let _ = std::fs::create_dir_all(&dir);
                let path = format!("{dir}/crash-{seed:x}");
                let _ = std::fs::write(&path, &input);
                eprintln!(
                    "{name}: FAILED on an input of {} bytes, saved to {path}",
                    input.len()
                );
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
