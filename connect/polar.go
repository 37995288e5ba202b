package connect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/getreditus/reditus-bridge/config"
)

// Polar (https://api.polar.sh, sandbox https://sandbox-api.polar.sh), JSON
// with a bearer organization access token: GET, POST and PATCH
// /v1/webhooks/endpoints (polarsource/polar server/polar/webhook/endpoints.py
// and schemas.py). Polar generates the secret and shows it on every read.
func init() {
	register("polar", Client{New: newPolar, SecretShownAgain: true})
}

type polarAPI struct{ rest }

var _ API = polarAPI{}

func newPolar(cfg config.Config, hc *http.Client) (API, error) {
	if cfg.PolarAccessToken == "" {
		return nil, errors.New("set POLAR_ACCESS_TOKEN: a Polar organization access token with the webhooks:read and webhooks:write scopes")
	}
	return polarAPI{bearer("Polar", cfg.PolarAPIURL, "POLAR_ACCESS_TOKEN", "POLAR_API_URL", cfg.PolarAccessToken.Reveal(), hc)}, nil
}

// polarEndpoint is Polar's WebhookEndpoint.
type polarEndpoint struct {
	ID      string   `json:"id"`
	URL     string   `json:"url"`
	Events  []string `json:"events"`
	Enabled bool     `json:"enabled"`
	Secret  string   `json:"secret"`
}

func (e polarEndpoint) endpoint() Endpoint {
	return Endpoint{ID: e.ID, URL: e.URL, Events: e.Events, Enabled: e.Enabled, Secret: e.Secret}
}

// Find pages through the list (Polar's ListResource: items, and
// pagination.max_page), 100 a page, its largest.
func (a polarAPI) Find(ctx context.Context, target string) (Endpoint, bool, error) {
	for page := 1; ; page++ {
		var list struct {
			Items      []polarEndpoint `json:"items"`
			Pagination struct {
				MaxPage int `json:"max_page"`
			} `json:"pagination"`
		}
		if err := a.call(ctx, "list the webhook endpoints", http.MethodGet, fmt.Sprintf("/v1/webhooks/endpoints?page=%d&limit=100", page), nil, &list); err != nil {
			return Endpoint{}, false, err
		}
		for _, e := range list.Items {
			if e.URL == target {
				return e.endpoint(), true, nil
			}
		}
		if page >= list.Pagination.MaxPage || len(list.Items) == 0 {
			return Endpoint{}, false, nil
		}
	}
}

func (a polarAPI) Create(ctx context.Context, s Spec) (Endpoint, error) {
	body, _ := json.Marshal(map[string]any{"url": s.URL, "format": "raw", "events": s.Events, "name": "reditus-bridge"})
	return written[polarEndpoint](ctx, a.rest, "create the webhook endpoint", http.MethodPost, "/v1/webhooks/endpoints", body)
}

func (a polarAPI) Update(ctx context.Context, id string, s Spec) (Endpoint, error) {
	body, _ := json.Marshal(map[string]any{"events": s.Events, "enabled": true})
	return written[polarEndpoint](ctx, a.rest, "update webhook endpoint "+id, http.MethodPatch, "/v1/webhooks/endpoints/"+url.PathEscape(id), body)
}
