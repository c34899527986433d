-- Limits that hold across replicas.

-- Send slots per business phone number: the end (nanoseconds since the epoch) of the slots reserved so far by
-- every replica. One upsert reserves a block: Meta's throughput is the number's, not one replica's.
CREATE TABLE send_slots (
    key       TEXT   PRIMARY KEY,
    next_free BIGINT NOT NULL
);

-- One replica claimed the probe of the account's half-open circuit breaker; breaker_open_until is then the end
-- of the probe's lease, so the others' claims skip the account until the verdict.
ALTER TABLE accounts ADD COLUMN breaker_probing BOOLEAN NOT NULL DEFAULT FALSE;
