package handlers

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/getreditus/reditus-bridge/metrics"
	"github.com/getreditus/reditus-bridge/outcome"
)

// A webhook's body is the one thing anyone on the internet can make the
// bridge hold in memory before it knows who is sending: the signature is
// checked over the whole body. So bodies are read against one budget shared
// by every request, charged as their bytes arrive, and released once the
// signature is checked. Past the budget the answer is 503 retry
// (docs/design.md, "Answers": too many requests in flight): a real sender
// retries, and the process keeps its memory.
const (
	// unverifiedBudget bounds the memory all unverified bodies hold together.
	// With 16 MiB the process stays far under a 256 MB VM while hundreds of
	// connections hold bodies open.
	unverifiedBudget = 16 << 20
	// largeShare is what bodies over smallBody may hold together. The rest,
	// 4 MiB, is kept for small bodies, so that the webhooks providers really
	// send (a few KiB each) still get through while an attacker holds large
	// bodies open.
	largeShare = 12 << 20
	// smallBody is the size up to which a body is small. A small body with a
	// Content-Length is read into one buffer of exactly that length; every
	// provider's events are far under it.
	smallBody = 64 << 10
	// bodyChunk is the step in which any other body grows, and is charged:
	// a client trickling a body costs what it sent plus one chunk, whatever
	// length it declared.
	bodyChunk = 32 << 10
)

var (
	// errBusy: the budget cannot take the body now.
	errBusy = outcome.New(outcome.Busy, "too many webhook bodies are being read at once, retry later")
	// errStopping: the bridge is shutting down; the sender retries, and
	// another machine (or this one, restarted) takes it.
	errStopping = outcome.New(outcome.Busy, "the bridge is shutting down, retry later")
	// errIncompleteBody: the sender hung up or stalled before the end of its
	// body. Its own side failed, not Reditus, so it is told apart from retry.
	errIncompleteBody = outcome.New(outcome.IncompleteBody, "the body did not arrive in full")
)

// bodies reads webhook bodies within the budget, and interrupts the reads
// still going when the bridge shuts down.
type bodies struct {
	total, large int64 // the budget, and the share of it large bodies may hold
	metrics      *metrics.Metrics

	mu        sync.Mutex
	held      int64 // charged now, by every body
	heldLarge int64 // charged now, by large bodies
	stopping  bool
	reading   map[*http.ResponseController]struct{}
}

func newBodies(total, large int64, m *metrics.Metrics) *bodies {
	return &bodies{total: total, large: large, metrics: m, reading: map[*http.ResponseController]struct{}{}}
}

// read returns r's raw body, which is what signatures are computed over,
// before anything else looks at the request. The body stays charged to the
// budget until release is called, once its signature has been checked.
func (b *bodies) read(w http.ResponseWriter, r *http.Request) (body []byte, release func(), err error) {
	if r.ContentLength > MaxBody {
		return nil, nil, &http.MaxBytesError{Limit: MaxBody}
	}
	done, err := b.track(w)
	if err != nil {
		return nil, nil, err
	}
	defer done()
	g := &grant{b: b}
	body, err = g.readAll(http.MaxBytesReader(w, r.Body, MaxBody), r.ContentLength)
	if err == nil {
		return body, g.release, nil
	}
	g.release()
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge), errors.Is(err, errBusy):
		return nil, nil, err
	case b.isStopping():
		// The read was interrupted (or failed) during shutdown.
		return nil, nil, fmt.Errorf("%w (%w)", errStopping, err)
	default:
		return nil, nil, fmt.Errorf("%w: %w", errIncompleteBody, err)
	}
}

// track registers a read to be interrupted at shutdown; done unregisters it.
// Both take the mutex that stop takes, so stop never touches a request whose
// read has ended (and whose handler may have returned).
func (b *bodies) track(w http.ResponseWriter) (done func(), err error) {
	rc := http.NewResponseController(w)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopping {
		return nil, errStopping
	}
	b.reading[rc] = struct{}{}
	return func() {
		b.mu.Lock()
		delete(b.reading, rc)
		b.mu.Unlock()
	}, nil
}

// stop interrupts every body still being read and refuses new ones. Those
// senders get 503 and retry; webhooks past their read (verified, or inside
// Reditus) are not touched and finish with their real answer. Without it,
// one client trickling a body would hold the shutdown until ReadTimeout.
func (b *bodies) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopping = true
	for rc := range b.reading {
		// An error means the connection cannot take a deadline (not
		// HTTP/1); its read then ends by ReadTimeout as before.
		_ = rc.SetReadDeadline(time.Now())
	}
}

func (b *bodies) isStopping() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stopping
}

// grant is the part of the budget that one body holds.
type grant struct {
	b     *bodies
	n     int64
	large bool
}

// take charges n more bytes, as a large body when large (a large body stays
// large), and reports whether the budget had room.
func (g *grant) take(n int64, large bool) bool {
	b := g.b
	b.mu.Lock()
	defer b.mu.Unlock()
	var moreLarge int64
	if large {
		moreLarge = n
		if !g.large {
			moreLarge += g.n // what it held as small now counts as large
		}
	}
	if b.held+n > b.total || b.heldLarge+moreLarge > b.large {
		return false
	}
	b.held += n
	b.heldLarge += moreLarge
	g.n += n
	g.large = g.large || large
	b.metrics.UnverifiedBodyBytes(b.held)
	return true
}

// release gives the grant's bytes back to the budget. The body itself stays
// valid: only unverified bytes are bounded.
func (g *grant) release() {
	b := g.b
	b.mu.Lock()
	defer b.mu.Unlock()
	b.held -= g.n
	if g.large {
		b.heldLarge -= g.n
	}
	g.n = 0
	b.metrics.UnverifiedBodyBytes(b.held)
}

// readAll reads the body without ever holding more than it was charged for.
// A small body of known length is one buffer of exactly that length. Any
// other grows in chunks, each charged before it is read into, and is joined
// once at the end: unlike io.ReadAll, nothing doubles while the sender is
// still sending.
func (g *grant) readAll(body io.Reader, length int64) ([]byte, error) {
	if length >= 0 && length <= smallBody {
		if !g.take(length, false) {
			return nil, errBusy
		}
		buf := make([]byte, length)
		if _, err := io.ReadFull(body, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}

	// A body is large once it declares, or reaches, more than smallBody.
	var chunks [][]byte
	var n int64
	for length < 0 || n < length {
		size := int64(bodyChunk)
		if length >= 0 {
			size = min(size, length-n)
		}
		if !g.take(size, length > smallBody || g.n+size > smallBody) {
			return nil, errBusy
		}
		chunk := make([]byte, size)
		m, err := fill(body, chunk)
		if m > 0 {
			chunks = append(chunks, chunk[:m])
		}
		n += int64(m)
		if err == io.EOF && length >= 0 && n < length {
			return nil, io.ErrUnexpectedEOF // shorter than its Content-Length
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	switch len(chunks) {
	case 0:
		return []byte{}, nil
	case 1:
		return chunks[0], nil
	}
	// The join holds the body twice for a moment, so it is charged too.
	if !g.take(n, g.large) {
		return nil, errBusy
	}
	joined := make([]byte, 0, n)
	for _, c := range chunks {
		joined = append(joined, c...)
	}
	return joined, nil
}

// fill reads until buf is full or r fails; unlike io.ReadFull it returns
// io.EOF as is, so that the end of a body of unknown length is told apart
// from a connection that broke (io.ErrUnexpectedEOF from net/http).
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
