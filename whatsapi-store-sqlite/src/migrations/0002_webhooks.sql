-- Customer-webhook outbox, delivery attempts, and fixed rate-limit windows.

CREATE TABLE outbox (
    seq         INTEGER PRIMARY KEY,
    id          BLOB    NOT NULL UNIQUE,
    account     INTEGER NOT NULL REFERENCES accounts (seq),
    message     INTEGER NOT NULL REFERENCES messages (seq),
    status      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    data        TEXT    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    -- 0 waiting, 1 done, 2 given up.
    state       INTEGER NOT NULL DEFAULT 0,
    -- Not before this (the smallest integer: at once).
    next_at     INTEGER NOT NULL,
    lease_until INTEGER
);
-- Waiting events in the order written (the rowid follows `state`), and the oldest waiting event per message.
CREATE INDEX outbox_waiting ON outbox (state) WHERE state = 0;
CREATE INDEX outbox_waiting_by_message ON outbox (message) WHERE state = 0;
CREATE INDEX outbox_finished ON outbox (created_at) WHERE state <> 0;

CREATE TABLE delivery_attempts (
    seq         INTEGER PRIMARY KEY,
    event       BLOB    NOT NULL,
    account     INTEGER NOT NULL REFERENCES accounts (seq),
    message     BLOB    NOT NULL,
    status      INTEGER NOT NULL,
    url         TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    http_status INTEGER,
    error       TEXT,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX delivery_attempts_by_account ON delivery_attempts (account, at);
CREATE INDEX delivery_attempts_by_event ON delivery_attempts (event);

CREATE TABLE rate_windows (
    bucket       TEXT    NOT NULL,
    window_start INTEGER NOT NULL,
    hits         INTEGER NOT NULL,
    PRIMARY KEY (bucket, window_start)
) WITHOUT ROWID;
CREATE INDEX rate_windows_by_start ON rate_windows (window_start);
