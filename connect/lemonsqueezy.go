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

// Lemon Squeezy (https://api.lemonsqueezy.com), JSON:API with a bearer API
// key: GET, POST and PATCH /v1/webhooks (https://docs.lemonsqueezy.com/api/webhooks;
// lmsqueezy/lemonsqueezy.js src/webhooks). The caller chooses the signing
// secret (6 to 40 characters), which Lemon Squeezy never shows again.
func init() {
	register("lemonsqueezy", Client{New: newLemonSqueezy, Rotation: lemonSqueezyRotation})
}

const lemonSqueezyRotation = `To replace it without losing deliveries: choose a new secret of 16 to 40
characters (openssl rand -hex 20), set the old and the new on the bridge,
comma-separated, which it accepts during a rotation
    fly secrets set LEMONSQUEEZY_WEBHOOK_SECRET=OLD,NEW
then type the new one into the webhook (Lemon Squeezy: Settings, Webhooks),
and once that is saved, set the new one alone.`

const jsonAPI = "application/vnd.api+json"

type lemonSqueezyAPI struct {
	rest
	store string
}

var _ API = lemonSqueezyAPI{}

func newLemonSqueezy(cfg config.Config, hc *http.Client) (API, error) {
	switch {
	case cfg.LemonSqueezyAPIKey == "":
		return nil, errors.New("set LEMONSQUEEZY_API_KEY: a Lemon Squeezy API key (Settings, API)")
	case cfg.LemonSqueezyStoreID == "":
		return nil, errors.New("set LEMONSQUEEZY_STORE_ID: the number of the store whose webhook to make (Settings, Stores)")
	}
	r := bearer("Lemon Squeezy", cfg.LemonSqueezyAPIURL, "LEMONSQUEEZY_API_KEY", "LEMONSQUEEZY_API_URL", cfg.LemonSqueezyAPIKey.Reveal(), hc)
	r.accept, r.contentType = jsonAPI, jsonAPI
	return lemonSqueezyAPI{rest: r, store: cfg.LemonSqueezyStoreID}, nil
}

// lemonSqueezyWebhook is a webhook resource. It has no enabled flag: a
// webhook that exists is sent to.
type lemonSqueezyWebhook struct {
	ID         string `json:"id"`
	Attributes struct {
		URL    string   `json:"url"`
		Events []string `json:"events"`
	} `json:"attributes"`
}

func (w lemonSqueezyWebhook) endpoint() Endpoint {
	return Endpoint{ID: w.ID, URL: w.Attributes.URL, Events: w.Attributes.Events, Enabled: true}
}

// Find pages through the store's webhooks, 100 a page (meta.page.lastPage).
func (a lemonSqueezyAPI) Find(ctx context.Context, target string) (Endpoint, bool, error) {
	for page := 1; ; page++ {
		var list struct {
			Data []lemonSqueezyWebhook `json:"data"`
			Meta struct {
				Page struct {
					LastPage int `json:"lastPage"`
				} `json:"page"`
			} `json:"meta"`
		}
		q := url.Values{"filter[store_id]": {a.store}, "page[number]": {fmt.Sprint(page)}, "page[size]": {"100"}}
		if err := a.call(ctx, "list the store's webhooks", http.MethodGet, "/v1/webhooks?"+q.Encode(), nil, &list); err != nil {
			return Endpoint{}, false, err
		}
		for _, w := range list.Data {
			if w.Attributes.URL == target {
				return w.endpoint(), true, nil
			}
		}
		if page >= list.Meta.Page.LastPage || len(list.Data) == 0 {
			return Endpoint{}, false, nil
		}
	}
}

func (a lemonSqueezyAPI) Create(ctx context.Context, s Spec) (Endpoint, error) {
	a.secrets = append(a.secrets, s.Secret)
	body, _ := json.Marshal(map[string]any{"data": map[string]any{
		"type":          "webhooks",
		"attributes":    map[string]any{"url": s.URL, "events": s.Events, "secret": s.Secret},
		"relationships": map[string]any{"store": map[string]any{"data": map[string]any{"type": "stores", "id": a.store}}},
	}})
	return written[inData[lemonSqueezyWebhook]](ctx, a.rest, "create the webhook", http.MethodPost, "/v1/webhooks", body)
}

// Update sends the events alone, so the secret stays as it is.
func (a lemonSqueezyAPI) Update(ctx context.Context, id string, s Spec) (Endpoint, error) {
	body, _ := json.Marshal(map[string]any{"data": map[string]any{
		"type": "webhooks", "id": id, "attributes": map[string]any{"events": s.Events},
	}})
	return written[inData[lemonSqueezyWebhook]](ctx, a.rest, "update webhook "+id, http.MethodPatch, "/v1/webhooks/"+url.PathEscape(id), body)
}

// write sends a create or an update and reads the webhook answered in data.
