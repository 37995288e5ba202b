package connect

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/getreditus/reditus-bridge/config"
)

// WorkOS (https://api.workos.com), JSON with the bearer secret key: GET,
// POST and PATCH /webhook_endpoints (https://workos.com/docs/reference/webhooks;
// workos/workos-node src/webhooks/webhooks-endpoints.ts and its fixtures).
// WorkOS generates the secret and shows it on every read.
func init() {
	register("workos", Client{New: newWorkOS, SecretShownAgain: true})
}

type workOSAPI struct{ rest }

var _ API = workOSAPI{}

func newWorkOS(cfg config.Config, hc *http.Client) (API, error) {
	if cfg.WorkOSAPIKey == "" {
		return nil, errors.New("set WORKOS_API_KEY: the secret key (sk_...) of the WorkOS environment")
	}
	return workOSAPI{bearer("WorkOS", cfg.WorkOSAPIURL, "WORKOS_API_KEY", "WORKOS_API_URL", cfg.WorkOSAPIKey.Reveal(), hc)}, nil
}

// workOSEndpoint is WorkOS's webhook endpoint object.
type workOSEndpoint struct {
	ID          string   `json:"id"`
	EndpointURL string   `json:"endpoint_url"`
	Status      string   `json:"status"` // enabled, disabled
	Events      []string `json:"events"`
	Secret      string   `json:"secret"`
}

func (e workOSEndpoint) endpoint() Endpoint {
	return Endpoint{ID: e.ID, URL: e.EndpointURL, Events: e.Events, Enabled: e.Status == "enabled", Secret: e.Secret}
}

// Find pages through the endpoints, 100 a page, each after the cursor in
// list_metadata.after.
func (a workOSAPI) Find(ctx context.Context, target string) (Endpoint, bool, error) {
	after := ""
	for {
		var list struct {
			Data         []workOSEndpoint `json:"data"`
			ListMetadata struct {
				After *string `json:"after"`
			} `json:"list_metadata"`
		}
		q := url.Values{"limit": {"100"}}
		if after != "" {
			q.Set("after", after)
		}
		if err := a.call(ctx, "list the webhook endpoints", http.MethodGet, "/webhook_endpoints?"+q.Encode(), nil, &list); err != nil {
			return Endpoint{}, false, err
		}
		for _, e := range list.Data {
			if e.EndpointURL == target {
				return e.endpoint(), true, nil
			}
		}
		if list.ListMetadata.After == nil || *list.ListMetadata.After == "" || len(list.Data) == 0 {
			return Endpoint{}, false, nil
		}
		after = *list.ListMetadata.After
	}
}

func (a workOSAPI) Create(ctx context.Context, s Spec) (Endpoint, error) {
	body, _ := json.Marshal(map[string]any{"endpoint_url": s.URL, "events": s.Events})
	return written[workOSEndpoint](ctx, a.rest, "create the webhook endpoint", http.MethodPost, "/webhook_endpoints", body)
}

func (a workOSAPI) Update(ctx context.Context, id string, s Spec) (Endpoint, error) {
	body, _ := json.Marshal(map[string]any{"events": s.Events, "status": "enabled"})
	return written[workOSEndpoint](ctx, a.rest, "update webhook endpoint "+id, http.MethodPatch, "/webhook_endpoints/"+url.PathEscape(id), body)
}
