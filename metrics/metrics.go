// Package metrics is the bridge's Prometheus instrumentation: webhooks by
// provider and outcome, their latency, calls to Reditus and their retries.
// It keeps a registry of its own, so that a test's metrics start at zero and
// nothing else in the process can add to them.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics records what the bridge does. Its methods are safe for concurrent
// use; a nil *Metrics records nothing, for tests that do not care.
type Metrics struct {
	registry        *prometheus.Registry
	webhooks        *prometheus.CounterVec
	webhookDuration *prometheus.HistogramVec
	inFlight        prometheus.Gauge
	reditusCalls    *prometheus.CounterVec
	reditusDuration prometheus.Histogram
	reditusRetries  prometheus.Counter
	unverifiedBytes prometheus.Gauge
	shed            *prometheus.CounterVec
	journalErrors   *prometheus.CounterVec
	queueFailed     *prometheus.CounterVec
	alerts          *prometheus.CounterVec
	breaker         *prometheus.GaugeVec
}

// New returns Metrics registered, with the Go runtime's and the process's own
// collectors (memory, goroutines, file descriptors), in a new registry.
func New() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reditus_bridge_webhooks_total",
			Help: "Webhooks answered, by provider and outcome (forwarded, duplicate, skipped, rejected, retry, ...).",
		}, []string{"provider", "outcome"}),
		webhookDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "reditus_bridge_webhook_duration_seconds",
			Help: "Time from a webhook's arrival to its answer, Reditus included.",
			// From sub-millisecond skips to the 8 s Reditus budget.
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"provider"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "reditus_bridge_webhooks_in_flight",
			Help: "Webhooks being processed now.",
		}),
		reditusCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reditus_bridge_reditus_requests_total",
			Help: "HTTP attempts to Reditus's Tracking API, by status class (2xx, 4xx, 5xx, or error when no answer came).",
		}, []string{"status_class"}),
		reditusDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "reditus_bridge_reditus_request_duration_seconds",
			Help:    "Duration of one HTTP attempt to Reditus.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		reditusRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "reditus_bridge_reditus_retries_total",
			Help: "Attempts to Reditus that were retries of a failed one.",
		}),
		unverifiedBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "reditus_bridge_unverified_body_bytes",
			Help: "Memory held now by webhook bodies being read and not yet verified; the bridge bounds it at 16 MiB.",
		}),
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reditus_bridge_webhooks_shed_total",
			Help: "Webhooks answered 503 retry without being read in full, because too many unverified bodies were held or the bridge was shutting down; also counted in reditus_bridge_webhooks_total as outcome retry.",
		}, []string{"provider"}),
		journalErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reditus_bridge_journal_errors_total",
			Help: "Journal operations that failed (the store is down or full); webhooks are then forwarded without it, as if there were no journal.",
		}, []string{"op"}),
		queueFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reditus_bridge_queue_failed_total",
			Help: "Queued events given up on after RETRY_FOR: they are in the journal as failed, and need a person (README.md, \"The journal and /admin\").",
		}, []string{"provider"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "reditus_bridge_alerts_total",
			Help: "Alerts by kind and what became of each, per destination: sent, failed (after its retries), or dropped (the destination's queue was full).",
		}, []string{"kind", "result"}),
		breaker: breakerGauge(),
	}
	m.registry.MustRegister(
		m.webhooks, m.webhookDuration, m.inFlight, m.reditusCalls, m.reditusDuration, m.reditusRetries,
		m.unverifiedBytes, m.shed, m.journalErrors, m.queueFailed, m.alerts, m.breaker,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// WebhookStarted counts a webhook in flight; call the function it returns
// with the webhook's outcome when it is answered.
func (m *Metrics) WebhookStarted(provider string) (done func(outcome string)) {
	if m == nil {
		return func(string) {}
	}
	start := time.Now()
	m.inFlight.Inc()
	return func(outcome string) {
		m.inFlight.Dec()
		m.webhooks.WithLabelValues(provider, outcome).Inc()
		m.webhookDuration.WithLabelValues(provider).Observe(time.Since(start).Seconds())
	}
}

// ReditusAttempt records one HTTP attempt to Reditus: its status (0 when no
// answer arrived), how long it took, and whether it was a retry.
func (m *Metrics) ReditusAttempt(status int, d time.Duration, retry bool) {
	if m == nil {
		return
	}
	class := "error"
	if status > 0 {
		class = strconv.Itoa(status/100) + "xx"
	}
	m.reditusCalls.WithLabelValues(class).Inc()
	m.reditusDuration.Observe(d.Seconds())
	if retry {
		m.reditusRetries.Inc()
	}
}

// UnverifiedBodyBytes records how much memory bodies not yet verified hold.
func (m *Metrics) UnverifiedBodyBytes(n int64) {
	if m == nil {
		return
	}
	m.unverifiedBytes.Set(float64(n))
}

// Shed counts a webhook turned away before its body was read in full: an
// overload or a shutdown, told apart from a Reditus outage, which webhooks
// answered "retry" also count.
func (m *Metrics) Shed(provider string) {
	if m == nil {
		return
	}
	m.shed.WithLabelValues(provider).Inc()
}

// JournalError counts a failed journal operation (begin, finish, get).
func (m *Metrics) JournalError(op string) {
	if m == nil {
		return
	}
	m.journalErrors.WithLabelValues(op).Inc()
}

// QueueFailed counts a queued event given up on after RETRY_FOR.
func (m *Metrics) QueueFailed(provider string) {
	if m == nil {
		return
	}
	m.queueFailed.WithLabelValues(provider).Inc()
}

// Alert counts an alert of kind to one destination: result is sent, failed
// or dropped.
func (m *Metrics) Alert(kind, result string) {
	if m == nil {
		return
	}
	m.alerts.WithLabelValues(kind, result).Inc()
}

// breakerGauge is reditus_bridge_reditus_breaker, whose help says what
// each state means to an operator.
func breakerGauge() *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "reditus_bridge_reditus_breaker",
		Help: "The breaker toward Reditus: 1 for its state now, 0 for the others. closed: calls go to Reditus; open: it failed several times in a row or asked for a pause, so webhooks are queued without calling it; half_open: one call is probing whether it is back.",
	}, []string{"state"})
}

// BreakerState records the state of the breaker toward Reditus: 1 for
// state, 0 for every other of states, so that each has a sample.
func (m *Metrics) BreakerState(state string, states []string) {
	if m == nil {
		return
	}
	for _, s := range states {
		v := 0.0
		if s == state {
			v = 1
		}
		m.breaker.WithLabelValues(s).Set(v)
	}
}
