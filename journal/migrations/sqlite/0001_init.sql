-- The journal: one row per delivery a provider made (or an event replayed).
-- Times are UTC text of one fixed width (2006-01-02T15:04:05.000000Z), so that
-- comparing them as text compares the instants.
CREATE TABLE journal (
	id              INTEGER PRIMARY KEY,
	provider        TEXT    NOT NULL,
	delivery_id     TEXT    NOT NULL,
	event_type      TEXT    NOT NULL DEFAULT '',
	received_at     TEXT    NOT NULL,
	updated_at      TEXT    NOT NULL,
	outcome         TEXT    NOT NULL,
	reason          TEXT    NOT NULL DEFAULT '',
	attempts        INTEGER NOT NULL DEFAULT 0,
	retries         INTEGER NOT NULL DEFAULT 0,
	referral_id     TEXT    NOT NULL DEFAULT '',
	email           TEXT    NOT NULL DEFAULT '',
	-- email lower-cased by the bridge: an exact, case-insensitive search
	-- that both stores fold the same way.
	email_key       TEXT    NOT NULL DEFAULT '',
	body            BLOB    NOT NULL,
	-- When the worker takes the record next: for a queued one, when it is
	-- due; for a pending one, when its lease ends, since its holder may have
	-- crashed. NULL for every other outcome.
	next_attempt_at TEXT,
	-- Dedupe; delivery_id first, so that it finds an event by its id alone.
	UNIQUE (delivery_id, provider)
) STRICT;

-- List: newest first, alone or by email or outcome. Prune goes
-- by received_at too, and Due by outcome: the queued and pending rows are few.
CREATE INDEX journal_received ON journal (received_at);
CREATE INDEX journal_email ON journal (email_key, received_at);
CREATE INDEX journal_outcome ON journal (outcome, received_at);
