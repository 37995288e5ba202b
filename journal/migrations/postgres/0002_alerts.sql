-- The alerts' counts (alert.Ledger): one row per kind of alert and provider
-- ('' for the kinds without one), shared by every instance, so that they send
-- one alert per interval in all.
CREATE TABLE alerts (
	kind       text        NOT NULL,
	provider   text        NOT NULL DEFAULT '',
	-- Occurrences counted and not yet alerted, from first_at to last_at,
	-- and the last one's event.
	pending    integer     NOT NULL DEFAULT 0,
	first_at   timestamptz,
	last_at    timestamptz,
	event_id   text        NOT NULL DEFAULT '',
	event_type text        NOT NULL DEFAULT '',
	reason     text        NOT NULL DEFAULT '',
	-- The last alert: when it was claimed (NULL: never), and what it took
	-- (the claim's RETURNING reads them: it sees the row as updated).
	sent_at    timestamptz,
	sent_count integer     NOT NULL DEFAULT 0,
	sent_first timestamptz,
	-- An alert was sent, and the outage it told of has not ended.
	alerted    boolean     NOT NULL DEFAULT false,
	PRIMARY KEY (kind, provider)
);
