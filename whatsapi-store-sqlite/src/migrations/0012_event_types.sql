-- Every event type through the outbox: an event has a type and an ordering key (`stream`: events of one account,
-- stream and destination are delivered in the order written); `message` and `status` are set for
-- `message.status_updated` only. SQLite cannot drop a NOT NULL, so both tables are rebuilt; every row written
-- before this migration is a status event, ordered per message as before.

CREATE TABLE outbox_new (
    seq         INTEGER PRIMARY KEY,
    id          BLOB    NOT NULL UNIQUE,
    account     INTEGER NOT NULL REFERENCES accounts (seq),
    event_type  TEXT    NOT NULL,
    stream      TEXT    NOT NULL,
    message     INTEGER REFERENCES messages (seq),
    status      INTEGER,
    created_at  INTEGER NOT NULL,
    data        TEXT    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    -- 0 waiting, 1 done, 2 given up.
    state       INTEGER NOT NULL DEFAULT 0,
    -- Not before this (the smallest integer: at once).
    next_at     INTEGER NOT NULL,
    lease_until INTEGER,
    endpoint    INTEGER REFERENCES webhook_endpoints (seq)
);

-- A status event's stream is its message's id as text (`message|xxxxxxxx-xxxx-…`), as the store writes it.
INSERT INTO outbox_new (seq, id, account, event_type, stream, message, status, created_at, data, attempts,
                        state, next_at, lease_until, endpoint)
SELECT o.seq, o.id, o.account, 'message.status_updated',
       'message|' || CASE WHEN m.id IS NULL THEN 'seq-' || o.message ELSE
           lower(substr(hex(m.id), 1, 8) || '-' || substr(hex(m.id), 9, 4) || '-' || substr(hex(m.id), 13, 4)
                 || '-' || substr(hex(m.id), 17, 4) || '-' || substr(hex(m.id), 21)) END,
       o.message, o.status, o.created_at, o.data, o.attempts, o.state, o.next_at, o.lease_until, o.endpoint
FROM outbox o LEFT JOIN messages m ON m.seq = o.message;

DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;

-- Waiting events in the order written (the rowid follows `state`), and the oldest waiting event per stream and
-- destination.
CREATE INDEX outbox_waiting ON outbox (state) WHERE state = 0;
CREATE INDEX outbox_waiting_by_stream ON outbox (account, stream, endpoint) WHERE state = 0;
CREATE INDEX outbox_finished ON outbox (created_at) WHERE state <> 0;
CREATE INDEX outbox_by_endpoint ON outbox (endpoint) WHERE endpoint IS NOT NULL;

CREATE TABLE delivery_attempts_new (
    seq         INTEGER PRIMARY KEY,
    event       BLOB    NOT NULL,
    account     INTEGER NOT NULL REFERENCES accounts (seq),
    event_type  TEXT    NOT NULL,
    message     BLOB,
    status      INTEGER,
    url         TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    http_status INTEGER,
    error       TEXT,
    duration_ms INTEGER NOT NULL
);
INSERT INTO delivery_attempts_new (seq, event, account, event_type, message, status, url, at, http_status, error,
                                   duration_ms)
SELECT seq, event, account, 'message.status_updated', message, status, url, at, http_status, error, duration_ms
FROM delivery_attempts;
DROP TABLE delivery_attempts;
ALTER TABLE delivery_attempts_new RENAME TO delivery_attempts;
CREATE INDEX delivery_attempts_by_account ON delivery_attempts (account, at);
CREATE INDEX delivery_attempts_by_event ON delivery_attempts (event);
