package connect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
)

// errDryRun fails every write of a dry run, which the dry run printed
// instead of sending.
var errDryRun = errors.New("dry run: not sent")

// dryRun is the transport of `connect --dry-run`: it sends the requests that
// read, so that the run finds what exists and knows what it would do, and
// prints each request that would write instead of sending it. It prints no
// header, so no key; a secret the bridge chose shows as <new secret>.
type dryRun struct {
	next    http.RoundTripper
	out     io.Writer
	secrets []string
	held    atomic.Int32 // writes printed, not sent
}

// RoundTrip implements http.RoundTripper.
func (d *dryRun) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet || req.Method == http.MethodHead {
		return d.next.RoundTrip(req)
	}
	d.held.Add(1)
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body.Close()
	}
	fmt.Fprintf(d.out, "would send: %s %s\n", req.Method, req.URL.Redacted())
	if text := d.show(req.Header.Get("Content-Type"), body); text != "" {
		fmt.Fprintln(d.out, text)
	}
	return nil, errDryRun
}

// show is a request body as dry run prints it: a form one field a line, JSON
// as it is, indented.
func (d *dryRun) show(contentType string, body []byte) string {
	text := string(body)
	if strings.HasPrefix(contentType, "application/x-www-form-urlencoded") {
		if form, err := url.ParseQuery(text); err == nil {
			var lines []string
			for _, field := range strings.Split(form.Encode(), "&") {
				k, v, _ := strings.Cut(field, "=")
				k, _ = url.QueryUnescape(k)
				v, _ = url.QueryUnescape(v)
				lines = append(lines, k+"="+v)
			}
			text = strings.Join(lines, "\n")
		}
	} else if len(body) > 0 {
		var indented bytes.Buffer
		if err := json.Indent(&indented, body, "", "  "); err == nil {
			text = indented.String()
		}
	}
	for _, s := range d.secrets {
		if s != "" {
			text = strings.ReplaceAll(text, s, "<new secret>")
		}
	}
	if text == "" {
		return ""
	}
	return "  " + strings.ReplaceAll(text, "\n", "\n  ")
}
