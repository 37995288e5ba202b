-- What /admin shows of an event besides its record: who referred it (the
-- list shows it), what the bridge found in it and where, and what it sent to
-- Reditus (JSON, for the event's page; '' when nothing was recorded).
ALTER TABLE journal ADD COLUMN affiliate_slug text NOT NULL DEFAULT '';
ALTER TABLE journal ADD COLUMN advocate_slug  text NOT NULL DEFAULT '';
ALTER TABLE journal ADD COLUMN found          text NOT NULL DEFAULT '';
ALTER TABLE journal ADD COLUMN sent           text NOT NULL DEFAULT '';

-- Every HTTP attempt at Reditus for an event, oldest first by id; the latest
-- 50 of each event are kept. Deleting an event (retention, erasure) deletes
-- its attempts.
CREATE TABLE journal_attempts (
	id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	event_id     bigint      NOT NULL REFERENCES journal (id) ON DELETE CASCADE,
	at           timestamptz NOT NULL,
	reditus_call text        NOT NULL,
	status       integer     NOT NULL,
	outcome      text        NOT NULL,
	reason       text        NOT NULL DEFAULT '',
	latency_us   bigint      NOT NULL
);

CREATE INDEX journal_attempts_event ON journal_attempts (event_id, id);
