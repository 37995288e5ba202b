-- The alerts' counts (alert.Ledger): one row per kind of alert and provider
-- ('' for the kinds without one), shared by every instance, so that they send
-- one alert per interval in all. Times as in the journal table.
CREATE TABLE alerts (
	kind       TEXT    NOT NULL,
	provider   TEXT    NOT NULL DEFAULT '',
	-- Occurrences counted and not yet alerted, from first_at to last_at,
	-- and the last one's event.
	pending    INTEGER NOT NULL DEFAULT 0,
	first_at   TEXT,
	last_at    TEXT,
	event_id   TEXT    NOT NULL DEFAULT '',
	event_type TEXT    NOT NULL DEFAULT '',
	reason     TEXT    NOT NULL DEFAULT '',
	-- The last alert: when it was claimed (NULL: never), and what it took
	-- (the claim's RETURNING reads them: it sees the row as updated).
	sent_at    TEXT,
	sent_count INTEGER NOT NULL DEFAULT 0,
	sent_first TEXT,
	-- An alert was sent, and the outage it told of has not ended.
	alerted    INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (kind, provider)
) STRICT;
