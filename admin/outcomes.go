package admin

import "github.com/getreditus/reditus-bridge/outcome"

// legendRow is what the page and its legend say about one journaled outcome.
type legendRow struct {
	Name    outcome.Word
	Badge   string // the CSS class that colours it: ok, info, warn, bad, muted
	Meaning string // what happened, and what to do about it
	// Retry: whether the event may be retried, by the page's button or the
	// retry API. Only where a retry can change the answer: after a
	// configuration fix, or to try Reditus again now. Never where it would
	// send again what Reditus has (a payment, a refund, a churn).
	Retry bool
}

// legend is in the order the legend explains them: the ones that need a
// person last.
var legend = []legendRow{
	{outcome.WordForwarded, "ok", "The conversion (or payment) is in Reditus. Nothing to do.", false},
	{outcome.WordDuplicate, "ok", "Reditus already had this referral, from an earlier event of the same signup. Nothing to do.", false},
	{outcome.WordDryRun, "muted", "Nothing was sent: the bridge runs in dry run (no REDITUS_API_KEY, or DRY_RUN=true).", false},
	{outcome.WordPending, "info", "Being delivered right now.", false},
	{outcome.WordQueued, "info", "Reditus could not take it yet: it was unavailable, or refused the API key while the bridge retried (the reason says which). The bridge retries by itself, sooner at first and then every few minutes, until RETRY_FOR (72h by default) has passed. Nothing to do unless it stays queued.", true},
	{outcome.WordSkipped, "warn", "Not a conversion: another event type, a test-mode event, or no referral data or email where the bridge looked. Read the reason, fix the configuration or the metadata your site writes, then retry.", true},
	{outcome.WordRejected, "bad", "Reditus refused it, for example an unknown affiliate slug. The reason holds Reditus's words. Fix it in Reditus (or your site), then retry.", true},
	{outcome.WordFailed, "bad", "Given up: Reditus stayed unavailable past RETRY_FOR, or refused the bridge's API key. Fix the cause (REDITUS_API_KEY, REDITUS_API_URL), then retry.", true},
	{outcome.WordInvalidPayload, "bad", "Signed by the provider, but the bridge could not read the body. Nothing to retry until the bridge is fixed.", false},
}

// outcomeOf returns what is known about the outcome named name; an outcome
// this list lacks is shown plainly, and may be retried.
func outcomeOf(name outcome.Word) legendRow {
	for _, o := range legend {
		if o.Name == name {
			return o
		}
	}
	return legendRow{Name: name, Badge: "muted", Retry: true}
}

// retryableNames are the outcomes a retry is for, as the retry API's refusal
// lists them.
func retryableNames() []string {
	var names []string
	for _, o := range legend {
		if o.Retry {
			names = append(names, string(o.Name))
		}
	}
	return names
}

func outcomeNames() []string {
	names := make([]string, len(legend))
	for i, o := range legend {
		names[i] = string(o.Name)
	}
	return names
}
