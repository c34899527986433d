//! Client subcommands of `whatsapi`: send one message, send a CSV file in bulk, show a message.

pub mod bulk;
pub mod campaign;
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
    #[arg(long, required_unless_present = "recipient")]
    pub to: Option<String>,
    /// A user behind a WhatsApp username, by business-scoped user id (US.13491208655302741918); with --to too,
    /// Meta delivers by the phone number.
    #[arg(long, value_name = "BSUID")]
    pub recipient: Option<String>,
    /// Send as a reply quoting this message: its WhatsApp id (wamid…) or a whatsapi message id.
    #[arg(long, value_name = "MESSAGE_ID")]
    pub reply_to: Option<String>,
    /// Free-form text (only within 24 hours of the recipient's last message).
    #[arg(long, conflicts_with = "template")]
    pub text: Option<String>,
    /// Approved template name.
    #[arg(long, required_unless_present_any = ["text", "image", "video", "audio", "document", "sticker", "contacts", "contact"],
        conflicts_with_all = ["image", "video", "audio", "document", "sticker", "buttons", "contacts", "contact"])]
    pub template: Option<String>,
    /// An image: a public https URL, or the id `POST /media` answered.
    #[arg(long, conflicts_with_all = ["text", "video", "audio", "document", "sticker"])]
    pub image: Option<String>,
    /// A video (mp4, 3gpp): URL or media id.
    #[arg(long, conflicts_with_all = ["text", "audio", "document", "sticker"])]
    pub video: Option<String>,
    /// An audio file or voice note: URL or media id.
    #[arg(long, conflicts_with_all = ["text", "document", "sticker", "caption"])]
    pub audio: Option<String>,
    /// A document (PDF, …): URL or media id.
    #[arg(long, conflicts_with_all = ["text", "sticker"])]
    pub document: Option<String>,
    /// A sticker (webp): URL or media id.
    #[arg(long, conflicts_with_all = ["text", "caption"])]
    pub sticker: Option<String>,
    /// Caption of an image, video or document.
    #[arg(long)]
    pub caption: Option<String>,
    /// File name shown for a document.
    #[arg(long, requires = "document")]
    pub filename: Option<String>,
    /// Up to three reply buttons under the --text, comma-separated ("Yes,No").
    #[arg(long, requires = "text")]
    pub buttons: Option<String>,
    /// Contact cards from a JSON file (`-` reads standard input): an array of Meta contact objects, or one, e.g.
    /// [{"name": {"formatted_name": "Ada Lovelace"}, "phones": [{"phone": "+14155552671", "type": "CELL"}]}].
    #[arg(long, value_name = "FILE|-", conflicts_with_all = ["text", "image", "video", "audio", "document", "sticker", "caption", "contact"])]
    pub contacts: Option<String>,
    /// A contact card from "Name,+15551234567" (a name and one phone number); repeat the flag for several cards.
    #[arg(long, value_name = "NAME,PHONE", conflicts_with_all = ["text", "image", "video", "audio", "document", "sticker", "caption"])]
    pub contact: Vec<String>,
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

/// A media object: `link` for an http(s) URL, else the media id of an upload.
pub fn media_json(source: &str, caption: Option<&str>, filename: Option<&str>) -> Value {
    let mut m = if source.starts_with("https://") || source.starts_with("http://") {
        json!({"link": source})
    } else {
        json!({"id": source})
    };
    if let Some(c) = caption {
        m["caption"] = json!(c);
    }
    if let Some(f) = filename {
        m["filename"] = json!(f);
    }
    m
}

/// An interactive message with reply buttons: `body` above, one button per comma-separated title (its id is the
/// title, so a reply names the button it pressed).
pub fn buttons_json(body: &str, titles: &str) -> Value {
    let buttons: Vec<Value> = titles
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| json!({"type": "reply", "reply": {"id": t, "title": t}}))
        .collect();
    json!({"type": "button", "body": {"text": body}, "action": {"buttons": buttons}})
}

/// The largest `--contacts` file read: the API refuses larger send bodies anyway.
const MAX_CONTACTS_FILE_BYTES: u64 = 1024 * 1024;

/// The `contacts` field from the text of a `--contacts` file: a JSON array of Meta contact objects, or one object
/// (sent as an array of one). The cards themselves are checked by the server, which names the failing field.
pub fn contacts_json(text: &str) -> anyhow::Result<Value> {
    let v: Value = serde_json::from_str(text)
        .context("--contacts must hold a JSON array of contact objects (or one object)")?;
    match v {
        Value::Array(cards) if !cards.is_empty() => Ok(Value::Array(cards)),
        Value::Array(_) => {
            anyhow::bail!("--contacts holds an empty array; give at least one contact")
        }
        Value::Object(card) => Ok(json!([card])),
        _ => anyhow::bail!("--contacts must hold a JSON array of contact objects (or one object)"),
    }
}

/// A contact card from `--contact "Name,+15551234567"`: the text before the last comma is the formatted name (so a
/// name may hold commas), the rest the phone number.
pub fn contact_card(quick: &str) -> anyhow::Result<Value> {
    let (name, phone) = quick
        .rsplit_once(',')
        .map(|(n, p)| (n.trim(), p.trim()))
        .filter(|(n, p)| !n.is_empty() && !p.is_empty())
        .with_context(|| format!("--contact {quick:?}: expected \"Name,+15551234567\""))?;
    Ok(json!({"name": {"formatted_name": name}, "phones": [{"phone": phone}]}))
}

/// Reads a `--contacts` file, `-` meaning standard input; bounded at [`MAX_CONTACTS_FILE_BYTES`].
fn read_contacts_file(path: &str) -> anyhow::Result<String> {
    use std::io::Read as _;
    let reader: Box<dyn std::io::Read> = if path == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(path).with_context(|| format!("--contacts: cannot open {path}"))?,
        )
    };
    let mut text = String::new();
    reader
        .take(MAX_CONTACTS_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("--contacts: cannot read {path} as UTF-8 text"))?;
    if text.len() as u64 > MAX_CONTACTS_FILE_BYTES {
        anyhow::bail!("--contacts: {path} is larger than {MAX_CONTACTS_FILE_BYTES} bytes");
    }
    Ok(text)
}

/// The content field of a send and its value, from the flags.
fn content(args: &SendArgs) -> anyhow::Result<(&'static str, Value)> {
    if let Some(path) = &args.contacts {
        return Ok(("contacts", contacts_json(&read_contacts_file(path)?)?));
    }
    if !args.contact.is_empty() {
        let cards = args
            .contact
            .iter()
            .map(|c| contact_card(c))
            .collect::<anyhow::Result<Vec<Value>>>()?;
        return Ok(("contacts", Value::Array(cards)));
    }
    let caption = args.caption.as_deref();
    let media = [
        ("image", &args.image),
        ("video", &args.video),
        ("audio", &args.audio),
        ("document", &args.document),
        ("sticker", &args.sticker),
    ];
    if let Some((field, Some(source))) = media.into_iter().find(|(_, v)| v.is_some()) {
        return Ok((field, media_json(source, caption, args.filename.as_deref())));
    }
    match (&args.text, &args.buttons, &args.template) {
        (Some(text), Some(titles), _) => Ok(("interactive", buttons_json(text, titles))),
        (Some(text), None, _) => Ok(("message", json!(text))),
        (None, _, Some(name)) => Ok((
            "template",
            template_json(name, &args.language, &args.params),
        )),
        (None, _, None) => {
            anyhow::bail!(
                "give --text, --template, a media flag (--image, --document, …) or --contacts/--contact"
            )
        }
    }
}

/// Runs `whatsapi send`.
pub async fn send(args: SendArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.client)?;
    let mut body = json!({});
    if let Some(to) = &args.to {
        body["to"] = json!(to);
    }
    if let Some(user) = &args.recipient {
        body["recipient"] = json!(user);
    }
    if let Some(id) = &args.reply_to {
        body["context"] = json!({"message_id": id});
    }
    let (field, value) = content(&args)?;
    body[field] = value;
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
    if let Some(user) = m["recipientUserId"].as_str() {
        println!("user id   {user}");
    }
    if let Some(quoted) = m["context"]["messageId"].as_str() {
        println!("reply to  {quoted}");
    }
    println!("status    {}", s("status"));
    if let Some(body) = m["body"].as_str() {
        println!("text      {body}");
    }
    if let Some(t) = m["template"]["name"].as_str() {
        println!("template  {t}");
    }
    if let Some(kind) = m["type"]
        .as_str()
        .filter(|k| !["text", "template"].contains(k))
    {
        println!("type      {kind}");
    }
    if let Some(c) = m["caption"].as_str() {
        println!("caption   {c}");
    }
    if let Some(media) = m["media"]["link"].as_str().or(m["media"]["id"].as_str()) {
        println!("media     {media}");
    }
    if let Some(names) = m["contactNames"].as_array() {
        let names: Vec<&str> = names.iter().filter_map(Value::as_str).collect();
        println!("contacts  {}", names.join(", "));
    }
    if let Some(titles) = m["interactive"]["options"].as_array() {
        let titles: Vec<&str> = titles.iter().filter_map(Value::as_str).collect();
        println!("buttons   {}", titles.join(", "));
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
