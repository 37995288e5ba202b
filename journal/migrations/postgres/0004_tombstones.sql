-- The deliveries whose records retention deleted, by id alone (no body, no
-- email), for a year after: a body signed without a time (Lemon Squeezy's)
-- can be sent again long after, and Begin answers it as handled instead of
-- running it again. Only deliveries that called Reditus are kept.
CREATE TABLE journal_tombstone (
	provider    text        NOT NULL,
	delivery_id text        NOT NULL,
	received_at timestamptz NOT NULL,
	UNIQUE (delivery_id, provider)
);

-- Prune deletes the tombstones a year old.
CREATE INDEX journal_tombstone_received ON journal_tombstone (received_at);
