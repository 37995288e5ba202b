package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/internal/fakereditus"
	"github.com/getreditus/reditus-bridge/reditus"
)

// The journal's write-behind (issue 11), attacked: outcomes answered at
// once (forwarded, skipped...) are written after the answer, by SQLite's
// batcher. These tests check what a shutdown and a crash leave behind.

// sendAnswered sends n referred signups at once and wants each answered
// 200 forwarded: every outcome is then one written after its answer.
func sendAnswered(t *testing.T, p *process, prefix string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			name := fmt.Sprintf("%s%d", prefix, i)
			if status, outcome := sendGeneric(t, p, hjSecret, "msg_"+name, signup(name)); status != http.StatusOK || outcome != "forwarded" {
				t.Errorf("%s: got %d %s, want 200 forwarded", name, status, outcome)
			}
		})
	}
	wg.Wait()
}

// answeredBehindALock starts a bridge and sends it n referred signups; once
// each has reached Reditus (and so its Begin is committed), another process
// takes bridge.db's write lock, as a second instance on the volume would, and
// only then are they let through: every signup is answered 200 forwarded, and
// every outcome waits for the lock. It returns the fake Reditus, the bridge,
// its DATA_DIR, and the connection that holds the lock (in a transaction).
func answeredBehindALock(t *testing.T, prefix string, n int) (*moody, *process, string, *sql.Conn) {
	t.Helper()
	red := newMoody(t, fakereditus.Conflicts())
	gate := fakereditus.NewGate(n, red.Reditus)
	red.Respond(reditus.CallTrack, gate.Respond)
	t.Cleanup(gate.Release)
	dir := t.TempDir()
	p := start(t, liveEnv(red.Server, dir)...)
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		sendAnswered(t, p, prefix, n)
	}()
	select {
	case <-gate.Held():
	case <-time.After(20 * time.Second):
		t.Fatal("the deliveries never reached Reditus")
	}
	lock, err := journalDB(t, dir).Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.ExecContext(context.Background(), `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	gate.Release()
	<-answered
	return red, p, dir, lock
}

// A SIGTERM right after a burst of answers: main closes the store after the
// servers and the worker stop, and Close commits every outcome it queued,
// so that no answered delivery is left pending (a pending one would be sent
// to Reditus again by the next start's worker).
func TestWriteBehindSIGTERMCommitsAnswered(t *testing.T) {
	red := newMoody(t, fakereditus.Conflicts())
	dir := t.TempDir()
	p := start(t, liveEnv(red.Server, dir)...)
	const n = 200
	sendAnswered(t, p, "term", n)
	p.stop(t)

	db := journalDB(t, dir)
	rows, err := db.Query(`SELECT outcome, COUNT(*) FROM journal GROUP BY outcome`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]int{}
	for rows.Next() {
		var o string
		var c int
		if err := rows.Scan(&o, &c); err != nil {
			t.Fatal(err)
		}
		got[o] = c
	}
	if got["forwarded"] != n || len(got) != 1 {
		t.Errorf("after SIGTERM the journal holds %v, want %d forwarded and nothing else", got, n)
	}
}

// kill -9 right after answers whose outcomes are still queued (held here by
// a second process on bridge.db that keeps SQLite's write lock, as another
// instance on the same volume would): those outcomes are lost, by design
// (README: the outcome written after the answer). Their records stay
// pending; once the lease ends the next start's worker takes them, Reditus
// answers 409, and each ends duplicate or forwarded: no conversion is created
// twice, and none stays pending.
func TestWriteBehindKill9AfterAnswers(t *testing.T) {
	const n = 20
	red, p, dir, lock := answeredBehindALock(t, "crash", n)
	db := journalDB(t, dir)
	ctx := context.Background()
	p.kill(t)
	if _, err := lock.ExecContext(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	lock.Close()

	var pending int
	if err := db.QueryRow(`SELECT COUNT(*) FROM journal WHERE outcome = 'pending'`).Scan(&pending); err != nil {
		t.Fatal(err)
	}
	if pending != n {
		t.Fatalf("kill -9 after %d answers whose outcomes were queued left %d pending, want %d", n, pending, n)
	}
	// The lease of the crashed instance ends now rather than in a minute.
	if _, err := db.Exec(`UPDATE journal SET next_attempt_at = ? WHERE outcome = 'pending'`, time.Now().Add(-time.Second).UTC().Format(sqliteTime)); err != nil {
		t.Fatal(err)
	}
	p = start(t, liveEnv(red.Server, dir)...)
	waitFor(t, 30*time.Second, "the worker settles every pending record", func() bool {
		var left int
		if err := db.QueryRow(`SELECT COUNT(*) FROM journal WHERE outcome IN ('pending', 'queued')`).Scan(&left); err != nil {
			t.Fatal(err)
		}
		return left == 0
	})
	p.stop(t)
	for i := range n {
		uid := fmt.Sprintf("usr_crash%d", i)
		if got := red.created(uid); got != 1 {
			t.Errorf("%s: Reditus created %d conversions, want 1", uid, got)
		}
	}
	rows, err := db.Query(`SELECT delivery_id, outcome FROM journal WHERE outcome NOT IN ('forwarded', 'duplicate')`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, o string
		if err := rows.Scan(&id, &o); err != nil {
			t.Fatal(err)
		}
		t.Errorf("%s ends %s, want forwarded or duplicate", id, o)
	}
}

// SIGTERM while answered outcomes wait for the writer (a second process on
// bridge.db holds its write lock for a moment): the bridge waits for them on
// its way out (store.Close drains), and they are in the file once it exits.
func TestWriteBehindSIGTERMWithOutcomesQueued(t *testing.T) {
	const n = 20
	_, p, dir, lock := answeredBehindALock(t, "held", n)
	db := journalDB(t, dir)
	ctx := context.Background()
	time.AfterFunc(time.Second, func() {
		_, _ = lock.ExecContext(ctx, `ROLLBACK`)
		lock.Close()
	})
	p.stop(t)

	var forwarded int
	if err := db.QueryRow(`SELECT COUNT(*) FROM journal WHERE outcome = 'forwarded'`).Scan(&forwarded); err != nil {
		t.Fatal(err)
	}
	if forwarded != n {
		t.Errorf("after SIGTERM with %d answered outcomes queued the journal holds %d forwarded, want %d", n, forwarded, n)
	}
}
