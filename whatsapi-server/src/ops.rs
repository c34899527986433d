//! Opening the store with encryption, Stripe configuration, and the operator commands (`whatsapi account …`,
//! `whatsapi encryption …`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use whatsapi_core::Store;
use whatsapi_core::account::AccountUpdate;
use whatsapi_core::encryption::{EncryptingStore, EncryptionKey, KeyRing, ResealReport};
use whatsapi_saas::stripe::{StripeClient, StripeConfig};
use whatsapi_saas::{CustomerAccount, ProductStore};
use whatsapi_store_postgres::{PgOptions, PostgresStore};
use whatsapi_store_sqlite::SqliteStore;

use crate::config::{AccountArgs, BillingArgs, Database, RotateKeyArgs, StoreArgs};

/// The current key: `WHATSAPI_ENCRYPTION_KEY` / `--encryption-key` when given, else the key file (created with
/// mode 0600 when `create` and it is missing). `None` only when nothing is configured and `create` is false.
pub fn current_key(args: &StoreArgs, create: bool) -> anyhow::Result<Option<EncryptionKey>> {
    if let Some(text) = &args.encryption_key {
        let key = EncryptionKey::from_base64(text)
            .context("WHATSAPI_ENCRYPTION_KEY (--encryption-key) is not a valid key")?;
        return Ok(Some(key));
    }
    let path = args.key_file();
    if create {
        let (key, created) = EncryptionKey::load_or_create_file(&path)?;
        if created {
            tracing::warn!(
                key_file = %path.display(),
                key_id = key.id(),
                "created a new encryption key file for secrets at rest; back it up with the database: without it \
                 the saved Meta credentials and webhook secrets cannot be read"
            );
        }
        return Ok(Some(key));
    }
    if path.exists() {
        return Ok(Some(EncryptionKey::read_file(&path)?));
    }
    Ok(None)
}

/// The key ring of `args`: the current key plus every `--previous-encryption-key-file`.
pub fn key_ring(args: &StoreArgs) -> anyhow::Result<KeyRing> {
    let primary = current_key(args, true)?.context("no encryption key")?;
    Ok(ring_of(primary, previous_keys(args)?))
}

fn previous_keys(args: &StoreArgs) -> anyhow::Result<Vec<EncryptionKey>> {
    let mut keys = Vec::new();
    for path in &args.previous_encryption_key_files {
        keys.push(EncryptionKey::read_file(path)?);
    }
    Ok(keys)
}

fn ring_of(primary: EncryptionKey, previous: Vec<EncryptionKey>) -> KeyRing {
    previous
        .into_iter()
        .fold(KeyRing::new(primary), KeyRing::with_previous)
}

/// The configured database, seen as the engine's store and as the product's (one connection pool, one file).
pub struct Stores {
    /// The engine's capabilities.
    pub engine: Arc<dyn Store>,
    /// The product's capabilities (customers, billing events, rate windows); they hold no secret, so they are
    /// never behind the encrypting store.
    pub product: Arc<dyn ProductStore>,
    /// How to name the database in logs.
    pub shown: String,
}

impl Stores {
    fn of<S: Store + ProductStore>(store: S, shown: String) -> Self {
        let store = Arc::new(store);
        Self {
            engine: store.clone(),
            product: store,
            shown,
        }
    }
}

/// Opens the configured database without encryption: PostgreSQL with a `postgres://` `--database-url`, else the
/// SQLite file. `serving`: the caller is the server that owns a SQLite
/// file, so what a killed predecessor left reserved is freed (on PostgreSQL other replicas may hold reservations;
/// those free when their lock ends).
async fn open_database(args: &StoreArgs, serving: bool) -> anyhow::Result<Stores> {
    match args.backend().map_err(anyhow::Error::msg)? {
        Database::Postgres(url) => {
            let store = PostgresStore::connect_with(
                &url,
                PgOptions {
                    pool_size: args.database_pool,
                    ..PgOptions::default()
                },
            )
            .await
            .context("connecting to PostgreSQL (--database-url)")?;
            let shown = format!("postgres (schema {})", store.schema());
            Ok(Stores::of(store, shown))
        }
        Database::Sqlite(path) => {
            let store = SqliteStore::open(&path)
                .with_context(|| format!("opening the database {}", path.display()))?;
            if serving {
                let freed = store
                    .release_unfinished_idempotency_keys()
                    .await
                    .with_context(|| format!("opening the database {}", path.display()))?;
                if freed > 0 {
                    tracing::info!(
                        freed,
                        "freed Idempotency-Keys of requests a previous process never finished"
                    );
                }
            }
            Ok(Stores::of(store, path.display().to_string()))
        }
    }
}

/// Opens the database, the engine's store behind an [`EncryptingStore`] with the key ring of `args`. The keys are
/// read (and checked) first; a missing key file is created only once the database opened, so a configuration that
/// fails leaves no new key file behind.
pub async fn open_store(args: &StoreArgs) -> anyhow::Result<Stores> {
    let existing = current_key(args, false)?;
    let previous = previous_keys(args)?;
    let stores = open_database(args, true).await?;
    let primary = match existing {
        Some(key) => key,
        None => current_key(args, true)?.context("no encryption key")?,
    };
    let ring = ring_of(primary, previous);
    tracing::info!(
        key_id = ring.primary().id(),
        "secrets at rest are encrypted (AES-256-GCM)"
    );
    Ok(Stores {
        engine: Arc::new(EncryptingStore::new(stores.engine, ring)),
        ..stores
    })
}

/// Reads the operator's rate card (`--rate-card`); a file that cannot be read or has a bad line is an error
/// naming the file and the line, so the server does not start.
pub fn load_rate_card(path: &std::path::Path) -> anyhow::Result<whatsapi_core::costs::RateCard> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("reading the rate card {}", path.display()))?;
    let card = whatsapi_core::costs::RateCard::from_csv(std::io::BufReader::new(file))
        .with_context(|| format!("the rate card {} is not valid", path.display()))?;
    tracing::info!(path = %path.display(), rates = card.len(), "rate card loaded");
    Ok(card)
}

/// Stripe billing from the command line: `None` without `--stripe-secret-key`; with it, the prices and the
/// success and cancel URLs are required.
pub fn stripe_client(args: &BillingArgs) -> anyhow::Result<Option<StripeClient>> {
    let Some(secret_key) = args.stripe_secret_key.clone() else {
        return Ok(None);
    };
    let mut missing = Vec::new();
    let mut need = |value: &Option<String>, flag: &'static str| {
        if value.as_deref().is_none_or(|v| v.trim().is_empty()) {
            missing.push(flag);
        }
        value.clone().unwrap_or_default()
    };
    let price_basic = need(
        &args.stripe_price_basic,
        "--stripe-price-basic (STRIPE_PRICE_BASIC)",
    );
    let price_pro = need(
        &args.stripe_price_pro,
        "--stripe-price-pro (STRIPE_PRICE_PRO)",
    );
    let success_url = need(
        &args.billing_success_url,
        "--billing-success-url (WHATSAPI_BILLING_SUCCESS_URL)",
    );
    let cancel_url = need(
        &args.billing_cancel_url,
        "--billing-cancel-url (WHATSAPI_BILLING_CANCEL_URL)",
    );
    if !missing.is_empty() {
        bail!(
            "Stripe billing is on (a Stripe secret key is set) but these settings are missing: {}",
            missing.join(", ")
        );
    }
    if args.stripe_webhook_secret.is_none() {
        tracing::warn!(
            "no Stripe webhook secret (--stripe-webhook-secret): POST /webhooks/stripe answers 503 and plans \
             will not follow payments"
        );
    }
    let client = StripeClient::new(StripeConfig {
        secret_key,
        webhook_secret: args.stripe_webhook_secret.clone(),
        api_base: args.stripe_api_base.clone(),
        price_basic,
        price_pro,
        portal_return_url: args
            .billing_portal_return_url
            .clone()
            .unwrap_or_else(|| success_url.clone()),
        success_url,
        cancel_url,
        sales_contact: args.sales_contact.clone(),
        timeout: Duration::from_secs(15),
    })?;
    Ok(Some(client))
}

/// `whatsapi account deactivate|reactivate --email …`: sets the account's active flag. Needs no encryption key
/// (no secret is read or written).
pub async fn set_active(args: &AccountArgs, active: bool) -> anyhow::Result<CustomerAccount> {
    let stores = open_database(&args.store, false).await?;
    let Some(customer) = stores.product.customer_by_email(&args.email).await? else {
        bail!("no account with the email {}", args.email);
    };
    let updated = stores
        .engine
        .update_account(customer.id, AccountUpdate::SetActive(active))
        .await?;
    Ok(CustomerAccount {
        account: updated,
        customer,
    })
}

/// `whatsapi encryption rotate-key --new-key-file …`: re-encrypts every account's secrets under the new key,
/// reading values under the current key (and the previous ones). Creates the new key file (mode 0600) if missing.
pub async fn rotate_key(args: &RotateKeyArgs) -> anyhow::Result<(EncryptionKey, ResealReport)> {
    let (new_key, _) = EncryptionKey::load_or_create_file(&args.new_key_file)?;
    let mut ring = KeyRing::new(new_key.clone());
    if let Some(current) = current_key(&args.store, false)? {
        ring = ring.with_previous(current);
    }
    for path in &args.store.previous_encryption_key_files {
        ring = ring.with_previous(EncryptionKey::read_file(path)?);
    }
    let store = EncryptingStore::new(open_database(&args.store, false).await?.engine, ring);
    let report = store
        .reseal_all(100)
        .await
        .context("re-encrypting the accounts")?;
    Ok((new_key, report))
}
