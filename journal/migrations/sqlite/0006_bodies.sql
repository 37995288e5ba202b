-- Each event's raw body, apart from its record, written once when the event
-- is first journaled: a change to the record (its outcome, at least once a
-- webhook) then rewrites only the record's few hundred bytes, not the body
-- with it. An event the bridge keeps no body for has no row here.
--
-- A record made before keeps its body in journal.body, where it is read
-- (columns in db.go); a new record's is empty. Moving every body here at
-- once would rewrite the whole journal at start-up and take twice its room
-- on the volume; retention deletes the old records instead.
CREATE TABLE journal_body (
	event_id INTEGER PRIMARY KEY REFERENCES journal (id) ON DELETE CASCADE,
	body     BLOB    NOT NULL
) STRICT;
