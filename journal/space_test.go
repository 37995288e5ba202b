package journal

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// The reserve is a file of reserveSize bytes that holds its blocks, private
// like the journal; a part of one (a crash while it was written) is made
// whole; release frees it, once.
func TestTheReserveHoldsItsRoomUntilReleased(t *testing.T) {
	r := &reserve{path: filepath.Join(t.TempDir(), "bridge.db-reserve")}
	if err := os.WriteFile(r.path, make([]byte, 100), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.make(); err != nil {
		t.Fatalf("make: %v", err)
	}
	fi, err := os.Stat(r.path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != reserveSize || fi.Mode().Perm() != 0o600 {
		t.Errorf("reserve: %d bytes, mode %v; want %d bytes, 0600", fi.Size(), fi.Mode().Perm(), reserveSize)
	}
	if blocks := fileBlocks(fi); blocks >= 0 && blocks*512 < reserveSize {
		t.Errorf("reserve holds %d bytes of blocks, want %d: a sparse file holds back no room", blocks*512, reserveSize)
	}
	if !r.release() || r.release() {
		t.Error("release: want true once, then false")
	}
	if _, err := os.Stat(r.path); !os.IsNotExist(err) {
		t.Errorf("after release: %v, want no file", err)
	}
}

// A write that finds the disk full asks retention to prune at once: what it
// deletes is what frees room. SQLite's page limit stands in for a full disk.
func TestAWriteThatFindsTheDiskFullAsksForAPrune(t *testing.T) {
	ctx := context.Background()
	s := openSQLiteForTest(t, t.TempDir())
	var pages int
	if err := s.write.db.QueryRow(`PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := s.write.db.Exec(`PRAGMA max_page_count = ` + strconv.Itoa(pages)); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Begin(ctx, Record{Provider: "stripe", DeliveryID: "evt_full", Body: make([]byte, 64<<10)}, time.Minute)
	if !diskFull(err) {
		t.Fatalf("Begin on a full file: %v, want SQLITE_FULL", err)
	}
	select {
	case <-s.DiskFull():
	default:
		t.Fatal("DiskFull was not told")
	}
}

// Retention prunes as soon as DiskFull asks, not at its next round, and a
// flood of asks makes one prune, not one each.
func TestRetentionPrunesAtOnceWhenTheDiskIsFull(t *testing.T) {
	prunes := make(chan struct{}, 100)
	store := &fakeStore{prune: func(time.Time) (int64, error) {
		prunes <- struct{}{}
		return 0, nil
	}}
	full := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = (&Retention{Store: store, Every: time.Hour, Full: full}).Run(ctx) }()
	<-prunes // at start
	for range 50 {
		select {
		case full <- struct{}{}:
		default:
		}
	}
	select {
	case <-prunes:
	case <-time.After(5 * time.Second):
		t.Fatal("no prune within 5 s of the disk being found full")
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(prunes); n != 0 {
		t.Errorf("%d more prunes after 50 asks, want none before %v", n, fullGap)
	}
}
