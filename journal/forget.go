package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
)

// Forget deletes every record of the customer with email: those whose email
// is email, compared as List compares it (exactly, in any case), and those
// whose raw body names it, with their attempts; it says how many it deleted.
// No character of email is a pattern. A record pending under a live lease is
// deleted too: its delivery's outcome then finds no record, and is lost.
func (db *DB) Forget(ctx context.Context, email string) (int64, error) {
	key := emailKey(email)
	if key == "" || !strings.Contains(key, "@") {
		// The address is not quoted: this error is logged.
		return 0, errors.New("journal: forget: not an email address")
	}
	ids, err := db.mentioning(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("journal: forget: %w", err)
	}
	if db.d.scrubWAL != "" {
		// The deleted rows' bytes are overwritten, not only unlinked
		// (secure_delete, on for every write, see sqliteParams; set again
		// so that an erasure never rests on that), and the WAL that held
		// them is emptied: erased means gone from the file. Best effort:
		// a reader in the middle of a query keeps the WAL it reads, until
		// the next checkpoint.
		if _, err := db.write.Exec(ctx, db.d.scrubFreed); err != nil {
			return 0, fmt.Errorf("journal: forget: %w", err)
		}
		defer func() { _, _ = db.write.Exec(context.WithoutCancel(ctx), db.d.scrubWAL) }()
	}
	var total int64
	for _, id := range ids {
		// One statement, prepared once, whatever the count: a customer has
		// a few records, and each delete is short.
		res, err := db.write.Exec(ctx, `DELETE FROM journal WHERE id = ?`, id)
		if err != nil {
			return total, fmt.Errorf("journal: forget: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("journal: forget: %w", err)
		}
		total += n
	}
	return total, nil
}

// mentioning returns the ids of the records of email key (lower case): its
// own, and those whose body names it. The store finds the bodies that hold
// the address's text in any ASCII case; each is then read here, so that
// "ann@example.com" does not erase "joann@example.com".
func (db *DB) mentioning(ctx context.Context, key string) ([]int64, error) {
	needle := asciiLower(key)
	rows, err := db.read.Query(ctx, `SELECT id, email_key, body FROM (SELECT id, email_key, `+bodyColumn+` AS body FROM journal) AS e
		WHERE email_key = ? OR `+db.d.bodyHolds, key, db.d.bodyText(needle))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		var k string
		var body []byte
		if err := rows.Scan(&id, &k, &body); err != nil {
			return nil, err
		}
		if k == key || names(body, needle) {
			ids = append(ids, id)
		}
	}
	return ids, rows.Err()
}

// names reports whether body holds the address needle (ASCII lower case) as
// a whole address, in any ASCII case: not inside a longer one.
func names(body []byte, needle string) bool {
	lower := []byte(asciiLower(string(body)))
	for from := 0; ; {
		i := bytes.Index(lower[from:], []byte(needle))
		if i < 0 {
			return false
		}
		i += from
		end := i + len(needle)
		before := i == 0 || !inAddress(lower[i-1])
		// A full stop may end the sentence an address ends.
		after := end == len(lower) || !inAddress(lower[end]) ||
			(lower[end] == '.' && (end+1 == len(lower) || !inAddress(lower[end+1])))
		if before && after {
			return true
		}
		from = i + 1
	}
}

// inAddress reports whether c may be part of an email address: letters,
// digits, the local part's punctuation, and any byte of a non-ASCII
// character.
func inAddress(c byte) bool {
	return c >= 0x80 || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte(".!#$%&'*+/=?^_`{|}~-@", c) >= 0
}

// asciiLower folds ASCII letters only, as SQLite's lower() does.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
