-- Accounts, messages with their timeline and per-account status counters, idempotency records, Meta statuses
-- waiting for their wamid, the 24-hour window, the customer-webhook outbox with its delivery attempts, and fixed
-- rate-limit windows.
-- Times are BIGINT nanoseconds since the Unix epoch (UTC), exactly as chrono keeps them; ids are UUIDs.
-- Statuses are small integers: 0 queued, 1 scheduled, 2 processing, 3 retrying, 4 sent, 5 delivered, 6 read, 7 failed.

CREATE TABLE accounts (
    seq                    BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                     UUID    NOT NULL UNIQUE,
    name                   TEXT    NOT NULL,
    email                  TEXT    NOT NULL,
    email_key              TEXT    NOT NULL UNIQUE,
    plan                   TEXT    NOT NULL,
    key_hash               BYTEA   NOT NULL UNIQUE,
    active                 BOOLEAN NOT NULL,
    messages_sent          BIGINT  NOT NULL DEFAULT 0,
    credentials            TEXT,
    phone_number_id        TEXT,
    credentials_status     TEXT    NOT NULL,
    webhook                TEXT,
    strict_window          BOOLEAN NOT NULL DEFAULT FALSE,
    breaker_failures       BIGINT  NOT NULL DEFAULT 0,
    breaker_open_until     BIGINT,
    breaker_trips          BIGINT  NOT NULL DEFAULT 0,
    stripe_customer_id     TEXT,
    stripe_subscription_id TEXT,
    created_at             BIGINT  NOT NULL
);
CREATE INDEX accounts_by_phone_number_id ON accounts (phone_number_id, created_at, id)
    WHERE phone_number_id IS NOT NULL;

CREATE TABLE messages (
    seq             BIGINT   GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              UUID     NOT NULL UNIQUE,
    account         BIGINT   NOT NULL REFERENCES accounts (seq),
    batch_id        UUID,
    recipient       TEXT     NOT NULL,
    content         TEXT     NOT NULL,
    status          SMALLINT NOT NULL,
    scheduled_for   BIGINT,
    metadata        TEXT,
    dry_run         BOOLEAN  NOT NULL,
    wamid           TEXT     UNIQUE,
    attempt         BIGINT   NOT NULL DEFAULT 0,
    tries           BIGINT   NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    lease_until     BIGINT,
    sent_at         BIGINT,
    delivered_at    BIGINT,
    read_at         BIGINT,
    failed_at       BIGINT,
    error_message   TEXT,
    error_code      BIGINT,
    created_at      BIGINT   NOT NULL,
    updated_at      BIGINT   NOT NULL,
    -- When the dispatcher may claim it: when it was queued, its send_at (scheduled), next_attempt_at
    -- (retrying), its lease end (processing); NULL once settled.
    due_at          BIGINT
);
-- Listings newest first, all or by status.
CREATE INDEX messages_by_account ON messages (account, created_at DESC, id DESC);
CREATE INDEX messages_by_account_status ON messages (account, status, created_at DESC, id DESC);
CREATE INDEX messages_by_batch ON messages (batch_id, created_at DESC, id DESC) WHERE batch_id IS NOT NULL;
-- Claim of due messages, oldest due first (ties by id); only unsettled messages are in it.
CREATE INDEX messages_due ON messages (due_at, id) WHERE due_at IS NOT NULL;
-- The next wake-up of an account whose breaker is open.
CREATE INDEX messages_due_by_account ON messages (account, due_at) WHERE due_at IS NOT NULL;

CREATE TABLE timeline (
    message BIGINT   NOT NULL REFERENCES messages (seq),
    n       INTEGER  NOT NULL,
    status  SMALLINT NOT NULL,
    at      BIGINT   NOT NULL,
    detail  TEXT,
    PRIMARY KEY (message, n)
);

CREATE TABLE status_counts (
    account BIGINT   NOT NULL REFERENCES accounts (seq),
    status  SMALLINT NOT NULL,
    n       BIGINT   NOT NULL,
    PRIMARY KEY (account, status)
);

CREATE TABLE idempotency (
    account         UUID   NOT NULL,
    key             TEXT   NOT NULL,
    fingerprint     BYTEA  NOT NULL,
    response_status BIGINT,
    response_body   TEXT,
    created_at      BIGINT NOT NULL,
    locked_until    BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    PRIMARY KEY (account, key)
);
CREATE INDEX idempotency_by_expiry ON idempotency (expires_at);

CREATE TABLE pending_statuses (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account       UUID,
    wamid         TEXT   NOT NULL,
    status        TEXT   NOT NULL,
    at            BIGINT NOT NULL,
    error_message TEXT,
    error_code    BIGINT
);
CREATE INDEX pending_statuses_by_wamid ON pending_statuses (wamid);
CREATE INDEX pending_statuses_by_time ON pending_statuses (at);

CREATE TABLE inbound (
    account UUID   NOT NULL,
    wa_id   TEXT   NOT NULL,
    at      BIGINT NOT NULL,
    PRIMARY KEY (account, wa_id)
);

CREATE TABLE outbox (
    seq         BIGINT   GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          UUID     NOT NULL UNIQUE,
    account     BIGINT   NOT NULL REFERENCES accounts (seq),
    message     BIGINT   NOT NULL REFERENCES messages (seq),
    status      SMALLINT NOT NULL,
    created_at  BIGINT   NOT NULL,
    data        TEXT     NOT NULL,
    attempts    BIGINT   NOT NULL DEFAULT 0,
    -- 0 waiting, 1 done, 2 given up.
    state       SMALLINT NOT NULL DEFAULT 0,
    -- Not before this (the smallest BIGINT: at once).
    next_at     BIGINT   NOT NULL,
    lease_until BIGINT
);
-- Waiting events in the order written, and the oldest waiting event per message.
CREATE INDEX outbox_waiting ON outbox (seq) WHERE state = 0;
CREATE INDEX outbox_waiting_by_message ON outbox (message, seq) WHERE state = 0;
CREATE INDEX outbox_finished ON outbox (created_at) WHERE state <> 0;

CREATE TABLE delivery_attempts (
    seq         BIGINT   GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event       UUID     NOT NULL,
    account     BIGINT   NOT NULL REFERENCES accounts (seq),
    message     UUID     NOT NULL,
    status      SMALLINT NOT NULL,
    url         TEXT     NOT NULL,
    at          BIGINT   NOT NULL,
    http_status INTEGER,
    error       TEXT,
    duration_ms BIGINT   NOT NULL
);
CREATE INDEX delivery_attempts_by_account ON delivery_attempts (account, at DESC, seq DESC);
CREATE INDEX delivery_attempts_by_event ON delivery_attempts (event);

CREATE TABLE rate_windows (
    bucket       TEXT   NOT NULL,
    window_start BIGINT NOT NULL,
    hits         BIGINT NOT NULL,
    PRIMARY KEY (bucket, window_start)
);
CREATE INDEX rate_windows_by_start ON rate_windows (window_start);
