-- Each event's raw body, apart from its record, written once when the event
-- is first journaled (SQLite's reason, kept here so that both stores run the
-- same queries). An event the bridge keeps no body for has no row here. A
-- record made before keeps its body in journal.body, where it is read; a
-- new record's is empty.
CREATE TABLE journal_body (
	event_id bigint PRIMARY KEY REFERENCES journal (id) ON DELETE CASCADE,
	body     bytea  NOT NULL
);
