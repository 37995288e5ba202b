package reditus

import (
	"context"
	"io"
	"net/http"
)

// ProbePath is the request that checks the API key without creating
// anything: Reditus's List Partners, one record a page. Reditus documents
// its read-only list endpoints (partners, partnerships, referrals; each
// with page and per_page) without, in any page that could be read, their
// paths; /v1/partners follows its documented neighbours (/v1/payments,
// /v1/referrals/churn). The answer is judged by its status alone, so that
// its body's shape does not matter (docs/operating.md, "doctor").
const ProbePath = "/v1/partners?per_page=1&page=1"

// Probe sends GET ProbePath with the API key, once, and returns the status
// Reditus answered; err is set, and status 0, when no answer arrived. A
// redirect is not followed: its status is the answer.
func (c *Client) Probe(ctx context.Context) (status int, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.AttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+ProbePath, nil)
	if err != nil {
		return 0, err
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "reditus-bridge")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	return resp.StatusCode, nil
}
