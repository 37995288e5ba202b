package journal

import "time"

// SetProcessClock sets the clock of db's process, as another machine's
// clock would be, and leaves the store's own as it was opened.
func SetProcessClock(db *DB, now func() time.Time) { db.now = now }
