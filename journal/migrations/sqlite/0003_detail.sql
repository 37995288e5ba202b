-- What /admin shows of an event besides its record: who referred it (the
-- list shows it), what the bridge found in it and where, and what it sent to
-- Reditus (JSON, for the event's page; '' when nothing was recorded).
ALTER TABLE journal ADD COLUMN affiliate_slug TEXT NOT NULL DEFAULT '';
ALTER TABLE journal ADD COLUMN advocate_slug  TEXT NOT NULL DEFAULT '';
ALTER TABLE journal ADD COLUMN found          TEXT NOT NULL DEFAULT '';
ALTER TABLE journal ADD COLUMN sent           TEXT NOT NULL DEFAULT '';

-- Every HTTP attempt at Reditus for an event, oldest first by id; the latest
-- 50 of each event are kept. Deleting an event (retention, erasure) deletes
-- its attempts.
CREATE TABLE journal_attempts (
	id           INTEGER PRIMARY KEY,
	event_id     INTEGER NOT NULL REFERENCES journal (id) ON DELETE CASCADE,
	at           TEXT    NOT NULL,
	reditus_call TEXT    NOT NULL,
	status       INTEGER NOT NULL,
	outcome      TEXT    NOT NULL,
	reason       TEXT    NOT NULL DEFAULT '',
	latency_us   INTEGER NOT NULL
) STRICT;

CREATE INDEX journal_attempts_event ON journal_attempts (event_id, id);
