-- The deliveries whose records retention deleted, by id alone (no body, no
-- email), for a year after: a body signed without a time (Lemon Squeezy's)
-- can be sent again long after, and Begin answers it as handled instead of
-- running it again. Only deliveries that called Reditus are kept.
CREATE TABLE journal_tombstone (
	provider    TEXT NOT NULL,
	delivery_id TEXT NOT NULL,
	received_at TEXT NOT NULL,
	UNIQUE (delivery_id, provider)
) STRICT;

-- Prune deletes the tombstones a year old.
CREATE INDEX journal_tombstone_received ON journal_tombstone (received_at);
