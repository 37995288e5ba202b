package admin

// outcome is what the page and its legend say about one journaled outcome.
type outcome struct {
	Name    string
	Badge   string // the CSS class that colours it: ok, info, warn, bad, muted
	Meaning string // what happened, and what to do about it
	// Retry: whether the page offers a retry. Only where a retry can change
	// the answer: after a configuration fix, or to try Reditus again now.
	Retry bool
}

// outcomes are in the order the legend explains them: the ones that need a
// person last.
var outcomes = []outcome{
	{"forwarded", "ok", "The conversion (or payment) is in Reditus. Nothing to do.", false},
	{"duplicate", "ok", "Reditus already had this referral, from an earlier event of the same signup. Nothing to do.", false},
	{"dry_run", "muted", "Nothing was sent: the bridge runs in dry run (no REDITUS_API_KEY, or DRY_RUN=true).", false},
	{"pending", "info", "Being delivered right now.", false},
	{"queued", "info", "Reditus could not take it yet: it was unavailable, or refused the API key while the bridge retried (the reason says which). The bridge retries by itself, sooner at first and then every few minutes, until RETRY_FOR (72h by default) has passed. Nothing to do unless it stays queued.", true},
	{"skipped", "warn", "Not a conversion: another event type, a test-mode event, or no referral data or email where the bridge looked. Read the reason, fix the configuration or the metadata your site writes, then retry.", true},
	{"rejected", "bad", "Reditus refused it, for example an unknown affiliate slug. The reason holds Reditus's words. Fix it in Reditus (or your site), then retry.", true},
	{"failed", "bad", "Given up: Reditus stayed unavailable past RETRY_FOR, or refused the bridge's API key. Fix the cause (REDITUS_API_KEY, REDITUS_API_URL), then retry.", true},
	{"invalid_payload", "bad", "Signed by the provider, but the bridge could not read the body. Nothing to retry until the bridge is fixed.", false},
}

// outcomeOf returns what is known about the outcome named name; an outcome
// this list lacks is shown plainly, and may be retried.
func outcomeOf(name string) outcome {
	for _, o := range outcomes {
		if o.Name == name {
			return o
		}
	}
	return outcome{Name: name, Badge: "muted", Retry: true}
}

func outcomeNames() []string {
	names := make([]string, len(outcomes))
	for i, o := range outcomes {
		names[i] = o.Name
	}
	return names
}
