package stripeapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getreditus/reditus-bridge/internal/fakestripe"
	"github.com/getreditus/reditus-bridge/mapping"
	"github.com/getreditus/reditus-bridge/providers"
)

// mapStripe maps a body as the webhook path does, with the stripe provider's
// Map: what the bridge reads of a listed object is what it reads of a webhook.
func mapStripe(t testing.TB, body []byte, o mapping.Options) (mapping.Event, error) {
	t.Helper()
	p, err := providers.Lookup("stripe")
	if err != nil {
		t.Fatal(err)
	}
	return p.Map(body, o)
}

func newClient(fake *fakestripe.Server, key string) *Client {
	return New(Options{Key: key, BaseURL: fake.URL, Timeout: time.Second})
}

func TestFetch(t *testing.T) {
	fake := fakestripe.New(t)
	fake.Customers["cus_1"] = fakestripe.Customer("cus_1", "ada@example.com", 1, map[string]string{"gr_id": "x"})
	fake.Subscriptions["sub_1"] = fakestripe.Subscription("sub_1", "cus_1", map[string]string{"red": "john"})
	fake.Subscriptions["sub_2"] = fakestripe.Subscription("sub_2", "cus_1", nil)

	related, err := newClient(fake, fakestripe.Key).Fetch(context.Background(), []mapping.StripeLookup{
		{Kind: mapping.LookupCustomer, ID: "cus_1"},
		{Kind: mapping.LookupSubscription, ID: "sub_1"},
		{Kind: mapping.LookupCustomerSubscriptions, ID: "cus_1"},
		{Kind: mapping.LookupCustomer, ID: "cus_deleted"},
		{Kind: mapping.LookupCustomerSubscriptions, ID: "cus_without"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range related {
		names = append(names, r.Name)
	}
	want := []string{
		"customer cus_1 metadata", "subscription sub_1 metadata",
		"subscription sub_2 metadata", "subscription sub_1 metadata", // the customer's, newest first
		"customer cus_deleted (not found)", "subscriptions of customer cus_without (none)",
	}
	if strings.Join(names, "|") != strings.Join(want, "|") {
		t.Errorf("looked at\n %q\nwant\n %q", names, want)
	}
	if related[0].Email != "ada@example.com" || related[0].Metadata["gr_id"] != "x" || related[1].Metadata["red"] != "john" {
		t.Errorf("related %+v", related[:2])
	}
	if reqs := fake.Requests(); len(reqs) != 5 {
		t.Errorf("%d API calls for 5 look-ups: %q", len(reqs), reqs)
	}
}

func TestFetchFailures(t *testing.T) {
	for _, tt := range []struct {
		status int
		key    string
		want   error
	}{
		{http.StatusTooManyRequests, fakestripe.Key, ErrUnavailable},
		{http.StatusInternalServerError, fakestripe.Key, ErrUnavailable},
		{0, "sk_test_wrong", ErrMisconfigured},
		{http.StatusBadRequest, fakestripe.Key, ErrMisconfigured},
	} {
		t.Run(fmt.Sprint(tt.status, tt.key), func(t *testing.T) {
			fake := fakestripe.New(t)
			fake.Fail = func(*http.Request) int { return tt.status }
			_, err := newClient(fake, tt.key).Fetch(context.Background(), []mapping.StripeLookup{{Kind: mapping.LookupCustomer, ID: "cus_1"}})
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), tt.key) {
				t.Errorf("error %q contains the key", err)
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		fake := fakestripe.New(t)
		fake.Close()
		_, err := newClient(fake, fakestripe.Key).Fetch(context.Background(), []mapping.StripeLookup{{Kind: mapping.LookupCustomer, ID: "cus_1"}})
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("err = %v, want ErrUnavailable", err)
		}
	})
}

// A look-up whose kind is unset is refused before any call: the zero value
// must never be fetched as some object.
func TestFetchUnsetKind(t *testing.T) {
	fake := fakestripe.New(t)
	fake.Customers["cus_1"] = fakestripe.Customer("cus_1", "ada@example.com", 1, nil)
	related, err := newClient(fake, fakestripe.Key).Fetch(context.Background(), []mapping.StripeLookup{{ID: "cus_1"}})
	if err == nil || related != nil {
		t.Errorf("Fetch = %+v, %v; want an error", related, err)
	}
	if reqs := fake.Requests(); len(reqs) != 0 {
		t.Errorf("Stripe API called: %q", reqs)
	}
}

// Listings follow pagination and the window, and every item reads as the
// event that would have announced it.
func TestEachCustomerPaginates(t *testing.T) {
	fake := fakestripe.New(t)
	for i := range 250 {
		id := fmt.Sprintf("cus_%03d", i)
		fake.Customers[id] = fakestripe.Customer(id, id+"@example.com", int64(1000+i), nil)
	}
	var ids []string
	err := newClient(fake, fakestripe.Key).EachCustomer(context.Background(), Window{Since: time.Unix(1010, 0), Until: time.Unix(1240, 0)},
		func(kind string, body []byte) error {
			ev, err := mapStripe(t, body, mapping.Options{})
			if err != nil || kind != "customer" || ev.Type != "customer.created" {
				t.Fatalf("%s %s: %+v %v", kind, body, ev, err)
			}
			ids = append(ids, ev.ID)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 230 || ids[0] != "backfill_cus_239" || ids[229] != "backfill_cus_010" {
		t.Errorf("%d customers, first %v last %v; want 230, cus_239 .. cus_010", len(ids), ids[:1], ids[len(ids)-1:])
	}
	if pages := len(fake.Requests()); pages != 3 {
		t.Errorf("%d list calls for 230 customers, want 3 pages of 100", pages)
	}
}

func TestEachUndeliveredEvent(t *testing.T) {
	fake := fakestripe.New(t)
	cust := fakestripe.Customer("cus_1", "ada@example.com", 100, map[string]string{"red": "john"})
	fake.Events["evt_1"] = fakestripe.Event("evt_1", "customer.created", 2000, cust)
	fake.Events["evt_old"] = fakestripe.Event("evt_old", "customer.created", 10, cust)
	fake.Events["evt_other"] = fakestripe.Event("evt_other", "invoice.paid", 2000, map[string]any{"id": "in_1"})
	var got []string
	err := newClient(fake, fakestripe.Key).EachUndeliveredEvent(context.Background(), time.Unix(1000, 0), func(kind string, body []byte) error {
		var ev struct {
			ID   string `json:"id"`
			Data struct {
				Object map[string]any `json:"object"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &ev); err != nil || ev.Data.Object["email"] != "ada@example.com" {
			t.Errorf("event body %s: %v", body, err)
		}
		got = append(got, ev.ID)
		return nil
	})
	if err != nil || strings.Join(got, ",") != "evt_1" {
		t.Errorf("visited %v, %v; want evt_1 only (in the window, a converting type)", got, err)
	}
	q := fake.Requests()[0]
	for _, want := range []string{"delivery_success=false", "types[0]=customer.created", "created[gte]=1000"} {
		if !strings.Contains(q, want) {
			t.Errorf("request %q lacks %s", q, want)
		}
	}
}

func TestPacing(t *testing.T) {
	fake := fakestripe.New(t)
	c := New(Options{Key: fakestripe.Key, BaseURL: fake.URL, PerSecond: 20})
	start := time.Now()
	for range 5 {
		_, _ = c.Fetch(context.Background(), []mapping.StripeLookup{{Kind: mapping.LookupCustomer, ID: "cus_x"}})
	}
	// A lower bound, which a loaded machine cannot break: five calls at
	// 20 per second take at least four intervals.
	if elapsed := time.Since(start); elapsed < 4*50*time.Millisecond {
		t.Errorf("5 paced calls took %v, want at least 200ms", elapsed)
	}
}

// A plain 429 (no Stripe-Should-Retry), which stripe-go gives up on, in the
// middle of a listing: the listing waits, asks for the same page again, and
// visits every customer once, in order.
func TestListingRetriesPlain429(t *testing.T) {
	fake := fakestripe.New(t)
	for i := range 250 {
		id := fmt.Sprintf("cus_%03d", i)
		fake.Customers[id] = fakestripe.Customer(id, id+"@example.com", int64(1000+i), nil)
	}
	var mu sync.Mutex
	refusals := map[string]int{} // by page (starting_after)
	fake.Fail = func(r *http.Request) int {
		mu.Lock()
		defer mu.Unlock()
		page := r.URL.Query().Get("starting_after")
		if page != "" && refusals[page] < 2 {
			refusals[page]++
			return http.StatusTooManyRequests
		}
		return 0
	}
	c := New(Options{Key: fakestripe.Key, BaseURL: fake.URL, RateLimit: RateLimitRetry{Retries: 3, Backoff: time.Millisecond}})
	seen := map[string]int{}
	var order []string
	err := c.EachCustomer(context.Background(), Window{Since: time.Unix(0, 0)}, func(kind string, body []byte) error {
		ev, err := mapStripe(t, body, mapping.Options{})
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		seen[ev.ID]++
		order = append(order, ev.ID)
		return nil
	})
	if err != nil {
		t.Fatalf("EachCustomer: %v", err)
	}
	if len(seen) != 250 || len(order) != 250 {
		t.Errorf("visited %d customers (%d distinct), want 250 once each", len(order), len(seen))
	}
	for i, id := range order {
		if want := fmt.Sprintf("backfill_cus_%03d", 249-i); id != want {
			t.Fatalf("item %d is %s, want %s: a page was read twice or skipped", i, id, want)
		}
	}
	// Pages 2 and 3: refused twice each, then served; page 1 once.
	if got, want := len(fake.Requests()), 1+3+3; got != want {
		t.Errorf("%d list calls, want %d: %q", got, want, fake.Requests())
	}
	mu.Lock()
	defer mu.Unlock()
	if refusals["cus_150"] != 2 || refusals["cus_050"] != 2 {
		t.Errorf("refusals %v: the 429s were not served mid-pagination", refusals)
	}
}

// The waits after 429s: exponential from Backoff, capped at MaxWait,
// stretched to Retry-After, and a bounded number of them.
func TestRateLimitWaits(t *testing.T) {
	retry := RateLimitRetry{Retries: 8, Backoff: time.Second, MaxWait: 30 * time.Second}
	s := time.Second
	for _, tt := range []struct {
		name       string
		retry      RateLimitRetry
		retryAfter []string // one 429 for each, then 200
		always429  bool
		wantWaits  []time.Duration
		wantStatus int
	}{
		{"backoff doubles to the cap", retry, []string{"", "", "", "", "", "", ""}, false,
			[]time.Duration{1 * s, 2 * s, 4 * s, 8 * s, 16 * s, 30 * s, 30 * s}, http.StatusOK},
		{"Retry-After when longer", retry, []string{"5", "0", "3"}, false,
			[]time.Duration{5 * s, 2 * s, 4 * s}, http.StatusOK},
		{"Retry-After as a date beyond MaxWait ends the retries", retry, []string{time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}, false,
			nil, http.StatusTooManyRequests},
		{"Retry-After in seconds beyond MaxWait ends the retries", retry, []string{"120"}, false,
			nil, http.StatusTooManyRequests},
		{"bounded attempts", RateLimitRetry{Retries: 3, Backoff: time.Second}, nil, true,
			[]time.Duration{1 * s, 2 * s, 4 * s}, http.StatusTooManyRequests},
		{"no retries by default", RateLimitRetry{}, []string{""}, false,
			nil, http.StatusTooManyRequests},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var calls int // the client waits for each answer, so one request at a time
			var mu sync.Mutex
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				calls++
				if tt.always429 || calls <= len(tt.retryAfter) {
					if !tt.always429 && tt.retryAfter[calls-1] != "" {
						w.Header().Set("Retry-After", tt.retryAfter[calls-1])
					}
					w.WriteHeader(http.StatusTooManyRequests)
					return
				}
				w.WriteHeader(http.StatusOK)
			}))
			defer srv.Close()
			tr := newTransport(nil, tt.retry)
			var waits []time.Duration
			tr.sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }

			resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if fmt.Sprint(waits) != fmt.Sprint(tt.wantWaits) {
				t.Errorf("waits %v, want %v", waits, tt.wantWaits)
			}
			mu.Lock()
			defer mu.Unlock()
			if want := len(tt.wantWaits) + 1; calls != want {
				t.Errorf("%d requests, want %d", calls, want)
			}
		})
	}
}

// Retries give up when the run is interrupted, instead of waiting on.
func TestRateLimitWaitEndsWithContext(t *testing.T) {
	fake := fakestripe.New(t)
	fake.Fail = func(*http.Request) int { return http.StatusTooManyRequests }
	c := New(Options{Key: fakestripe.Key, BaseURL: fake.URL, RateLimit: RateLimitRetry{Retries: 5, Backoff: time.Hour, MaxWait: time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- c.EachCustomer(ctx, Window{}, func(string, []byte) error { return nil })
	}()
	for len(fake.Requests()) == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, ErrUnavailable) {
		t.Errorf("err = %v, want ErrUnavailable once interrupted", err)
	}
}
