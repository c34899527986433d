-- Counter shards: no row that every writer of an account must update. A transaction adds its counter deltas to one
-- of several shards (chosen per transaction), so concurrent transactions of one account rarely wait for each
-- other's row locks; readers sum the shards, which stays exact. A shard may hold a negative count (a message
-- counted as queued in one shard and as processing in another); only the sum is meaningful.
--
-- `status_counts` gets a shard column: existing rows become shard 0. `accounts.messages_sent` (updated by every
-- recorded send of the account) moves to `sent_counts`, its value into shard 0.

ALTER TABLE status_counts ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE status_counts DROP CONSTRAINT status_counts_pkey;
ALTER TABLE status_counts ADD PRIMARY KEY (account, status, shard);

CREATE TABLE sent_counts (
    account BIGINT   NOT NULL REFERENCES accounts (seq),
    shard   SMALLINT NOT NULL DEFAULT 0,
    n       BIGINT   NOT NULL,
    PRIMARY KEY (account, shard)
);
INSERT INTO sent_counts (account, shard, n)
SELECT seq, 0, messages_sent FROM accounts WHERE messages_sent <> 0;
ALTER TABLE accounts DROP COLUMN messages_sent;
