-- Billing: when the last billing event applied to an account happened, and the external events processed once.

ALTER TABLE accounts ADD COLUMN billing_event_at BIGINT;

CREATE TABLE external_events (
    source      TEXT   NOT NULL,
    id          TEXT   NOT NULL,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (source, id)
);
