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

// What a shutdown and a crash leave in the journal after a burst of answers.
// Every outcome is committed before its answer, or, when the journal cannot
// write it in time, left pending for the worker.

// sendAnswered sends n referred signups at once and wants each answered
// 200 forwarded.
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
// only then are they let through: every outcome's write waits for the lock,
// as long as the bridge bounds a journal write. It returns the fake Reditus,
// the bridge, its DATA_DIR, the connection that holds the lock (in a
// transaction), and a channel closed once every signup is answered 200
// forwarded (Reditus has it, whether its outcome was written or not).
func answeredBehindALock(t *testing.T, prefix string, n int) (*moody, *process, string, *sql.Conn, <-chan struct{}) {
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
	return red, p, dir, lock, answered
}

// A SIGTERM right after a burst of answers leaves every answered delivery
// journaled with its outcome, none pending (a pending one would be sent to
// Reditus again by the next start's worker).
func TestSIGTERMAfterABurstLeavesEveryAnswerJournaled(t *testing.T) {
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

// kill -9 right after answers whose outcomes could not be written (a second
// process on bridge.db kept SQLite's write lock, as another instance on the
// same volume would): their records stay pending; once the lease ends the
// next start's worker takes them, Reditus answers 409, and each ends
// duplicate or forwarded: no conversion is created twice, and none stays
// pending.
func TestAnswersWhoseOutcomesWereNotWrittenAreSettledAfterAKill(t *testing.T) {
	const n = 20
	red, p, dir, lock, answered := answeredBehindALock(t, "crash", n)
	<-answered // the outcomes' writes gave up on the lock
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
		t.Fatalf("kill -9 after %d answers whose outcomes could not be written left %d pending, want %d", n, pending, n)
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

// SIGTERM while outcomes wait for the writer (a second process on bridge.db
// holds its write lock for a moment): the bridge waits for the webhooks in
// flight on its way out, each is answered once its outcome is written, and
// every outcome is in the file once it exits.
func TestSIGTERMWaitsForOutcomesHeldByAnotherWriter(t *testing.T) {
	const n = 20
	_, p, dir, lock, answered := answeredBehindALock(t, "held", n)
	db := journalDB(t, dir)
	ctx := context.Background()
	time.AfterFunc(time.Second, func() {
		_, _ = lock.ExecContext(ctx, `ROLLBACK`)
		lock.Close()
	})
	p.stop(t)
	<-answered

	var forwarded int
	if err := db.QueryRow(`SELECT COUNT(*) FROM journal WHERE outcome = 'forwarded'`).Scan(&forwarded); err != nil {
		t.Fatal(err)
	}
	if forwarded != n {
		t.Errorf("after SIGTERM with %d outcomes held by another writer the journal holds %d forwarded, want %d", n, forwarded, n)
	}
}
