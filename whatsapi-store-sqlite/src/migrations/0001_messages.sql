-- Accounts, messages with their timeline and per-account status counters, idempotency records,
-- Meta statuses waiting for their wamid, and the 24-hour window.
-- Times are integer nanoseconds since the Unix epoch (UTC); ids are 16-byte UUID blobs.
-- Statuses are small integers: 0 queued, 1 scheduled, 2 processing, 3 retrying, 4 sent, 5 delivered, 6 read, 7 failed.

CREATE TABLE accounts (
    seq                    INTEGER PRIMARY KEY,
    id                     BLOB    NOT NULL UNIQUE,
    name                   TEXT    NOT NULL,
    email                  TEXT    NOT NULL,
    email_key              TEXT    NOT NULL UNIQUE,
    plan                   TEXT    NOT NULL,
    key_hash               BLOB    NOT NULL UNIQUE,
    active                 INTEGER NOT NULL,
    messages_sent          INTEGER NOT NULL DEFAULT 0,
    credentials            TEXT,
    phone_number_id        TEXT,
    credentials_status     TEXT    NOT NULL,
    webhook                TEXT,
    strict_window          INTEGER NOT NULL DEFAULT 0,
    breaker_failures       INTEGER NOT NULL DEFAULT 0,
    breaker_open_until     INTEGER,
    breaker_trips          INTEGER NOT NULL DEFAULT 0,
    stripe_customer_id     TEXT,
    stripe_subscription_id TEXT,
    created_at             INTEGER NOT NULL
);
CREATE INDEX accounts_by_phone_number_id ON accounts (phone_number_id) WHERE phone_number_id IS NOT NULL;

CREATE TABLE messages (
    seq             INTEGER PRIMARY KEY,
    id              BLOB    NOT NULL UNIQUE,
    account         INTEGER NOT NULL REFERENCES accounts (seq),
    batch_id        BLOB,
    recipient       TEXT    NOT NULL,
    content         TEXT    NOT NULL,
    status          INTEGER NOT NULL,
    scheduled_for   INTEGER,
    metadata        TEXT,
    dry_run         INTEGER NOT NULL,
    wamid           TEXT UNIQUE,
    attempt         INTEGER NOT NULL DEFAULT 0,
    tries           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    lease_until     INTEGER,
    sent_at         INTEGER,
    delivered_at    INTEGER,
    read_at         INTEGER,
    failed_at       INTEGER,
    error_message   TEXT,
    error_code      INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    -- When the dispatcher may claim it: when it was queued, its send_at (scheduled), next_attempt_at
    -- (retrying), its lease end (processing); NULL once settled.
    due_at          INTEGER
);
-- Listing newest first (scanned backwards; the rowid `seq` breaks ties in insertion order).
CREATE INDEX messages_by_account ON messages (account, created_at);
CREATE INDEX messages_by_account_status ON messages (account, status, created_at);
CREATE INDEX messages_by_batch ON messages (batch_id, created_at) WHERE batch_id IS NOT NULL;
-- Claim of due messages, oldest due first (ties by id); only unsettled messages are in it.
CREATE INDEX messages_due ON messages (due_at, id) WHERE due_at IS NOT NULL;
-- The next wake-up of an account whose breaker is open.
CREATE INDEX messages_due_by_account ON messages (account, due_at) WHERE due_at IS NOT NULL;

CREATE TABLE timeline (
    message INTEGER NOT NULL REFERENCES messages (seq),
    n       INTEGER NOT NULL,
    status  INTEGER NOT NULL,
    at      INTEGER NOT NULL,
    detail  TEXT,
    PRIMARY KEY (message, n)
) WITHOUT ROWID;

CREATE TABLE status_counts (
    account INTEGER NOT NULL REFERENCES accounts (seq),
    status  INTEGER NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (account, status)
) WITHOUT ROWID;

CREATE TABLE idempotency (
    account         BLOB    NOT NULL,
    key             TEXT    NOT NULL,
    fingerprint     BLOB    NOT NULL,
    response_status INTEGER,
    response_body   TEXT,
    created_at      INTEGER NOT NULL,
    locked_until    INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    PRIMARY KEY (account, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_by_expiry ON idempotency (expires_at);

CREATE TABLE pending_statuses (
    seq           INTEGER PRIMARY KEY,
    account       BLOB,
    wamid         TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    at            INTEGER NOT NULL,
    error_message TEXT,
    error_code    INTEGER
);
CREATE INDEX pending_statuses_by_wamid ON pending_statuses (wamid);
CREATE INDEX pending_statuses_by_time ON pending_statuses (at);

CREATE TABLE inbound (
    account BLOB    NOT NULL,
    wa_id   TEXT    NOT NULL,
    at      INTEGER NOT NULL,
    PRIMARY KEY (account, wa_id)
) WITHOUT ROWID;
