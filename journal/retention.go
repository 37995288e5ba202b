package journal

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Defaults for Retention's optional fields.
const (
	DefaultKeep       = 720 * time.Hour
	DefaultPruneEvery = time.Hour
)

// Pruner deletes old records; *DB is one (DB.Prune).
type Pruner interface {
	Prune(ctx context.Context, before time.Time) (int64, error)
}

// Retention deletes the records older than Keep, raw bodies and emails with
// them, at start and then every Every. It is a struct with a Run method, like
// Worker, so that main starts both the same way and tests can pass a clock.
type Retention struct {
	Store Pruner
	Keep  time.Duration // JOURNAL_RETENTION; DefaultKeep when 0
	Every time.Duration // DefaultPruneEvery when 0
	Log   *slog.Logger
	Now   func() time.Time // time.Now when nil
}

// Run prunes until ctx ends, then returns nil. A failed prune is logged and
// tried again at the next round.
func (r *Retention) Run(ctx context.Context) error {
	if r.Store == nil {
		return errors.New("journal: retention needs a store")
	}
	keep, every, now, log := r.Keep, r.Every, r.Now, r.Log
	if keep <= 0 {
		keep = DefaultKeep
	}
	if every <= 0 {
		every = DefaultPruneEvery
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		before := now().Add(-keep)
		n, err := r.Store.Prune(ctx, before)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("journal: cannot delete old events", "err", err)
		case n > 0:
			log.Info("journal: deleted old events", "count", n, "received_before", before.UTC())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}
