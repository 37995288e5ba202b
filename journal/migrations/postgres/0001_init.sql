-- The journal: one row per delivery a provider made (or an event replayed).
CREATE TABLE journal (
	id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	provider        text        NOT NULL,
	delivery_id     text        NOT NULL,
	event_type      text        NOT NULL DEFAULT '',
	received_at     timestamptz NOT NULL,
	updated_at      timestamptz NOT NULL,
	outcome         text        NOT NULL,
	reason          text        NOT NULL DEFAULT '',
	attempts        integer     NOT NULL DEFAULT 0,
	retries         integer     NOT NULL DEFAULT 0,
	referral_id     text        NOT NULL DEFAULT '',
	email           text        NOT NULL DEFAULT '',
	-- email lower-cased by the bridge: an exact, case-insensitive search
	-- that both stores fold the same way.
	email_key       text        NOT NULL DEFAULT '',
	body            bytea       NOT NULL,
	-- When the worker takes the record next: for a queued one, when it is
	-- due; for a pending one, when its lease ends, since its holder may have
	-- crashed. NULL for every other outcome.
	next_attempt_at timestamptz,
	-- Dedupe; delivery_id first, so that it finds an event by its id alone.
	UNIQUE (delivery_id, provider)
);

-- List: newest first, alone or by email or outcome. Prune goes
-- by received_at too, and Due by outcome: the queued and pending rows are few.
CREATE INDEX journal_received ON journal (received_at);
CREATE INDEX journal_email ON journal (email_key, received_at);
CREATE INDEX journal_outcome ON journal (outcome, received_at);
