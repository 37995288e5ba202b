package connect

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/getreditus/reditus-bridge/config"
)

// Chargebee (https://{site}.chargebee.com/api/v2), forms with the API key as
// the basic-auth user: GET /webhook_endpoints, POST /webhook_endpoints to
// create, POST /webhook_endpoints/{id} to update
// (https://apidocs.chargebee.com/docs/api/webhook_endpoints; chargebee/chargebee-node
// types/resources/WebhookEndpoint.d.ts). The caller chooses the basic-auth
// user and password the webhooks carry, which Chargebee never shows again.
func init() {
	register("chargebee", Client{New: newChargebee, Rotation: chargebeeRotation})
}

const chargebeeRotation = `To replace it without losing deliveries: choose a new password of at least 16
characters (openssl rand -hex 24), set the old and the new on the bridge,
comma-separated, which it accepts during a rotation
    fly secrets set CHARGEBEE_WEBHOOK_SECRET=reditus:OLD,reditus:NEW
then type the new password into the webhook (Chargebee: Settings, Configure
Chargebee, Webhooks), and once that is saved, set the new one alone.`

type chargebeeAPI struct{ rest }

var _ API = chargebeeAPI{}

func newChargebee(cfg config.Config, hc *http.Client) (API, error) {
	switch {
	case cfg.ChargebeeAPIKey == "":
		return nil, errors.New("set CHARGEBEE_API_KEY: a full-access API key of the site (Settings, Configure Chargebee, API Keys)")
	case cfg.ChargebeeAPIURL == "":
		return nil, errors.New("set CHARGEBEE_SITE: the site's name, acme for acme.chargebee.com (acme-test for its test site)")
	}
	key := cfg.ChargebeeAPIKey.Reveal()
	return chargebeeAPI{rest{
		title: "Chargebee", base: strings.TrimRight(cfg.ChargebeeAPIURL, "/"), keyVar: "CHARGEBEE_API_KEY", baseVar: "CHARGEBEE_SITE (or CHARGEBEE_API_URL)", hc: hc,
		auth: func(r *http.Request) { r.SetBasicAuth(key, "") }, secrets: []string{key},
		contentType: "application/x-www-form-urlencoded",
	}}, nil
}

// chargebeeEndpoint is Chargebee's webhook_endpoint. It never carries the
// basic-auth fields.
type chargebeeEndpoint struct {
	ID            string   `json:"id"`
	URL           string   `json:"url"`
	Disabled      bool     `json:"disabled"`
	EnabledEvents []string `json:"enabled_events"`
}

func (e chargebeeEndpoint) endpoint() Endpoint {
	return Endpoint{ID: e.ID, URL: e.URL, Events: e.EnabledEvents, Enabled: !e.Disabled}
}

// Find pages through the endpoints, 100 a page, each at the offset the one
// before names (next_offset).
func (a chargebeeAPI) Find(ctx context.Context, target string) (Endpoint, bool, error) {
	offset := ""
	for {
		var list struct {
			List []struct {
				WebhookEndpoint chargebeeEndpoint `json:"webhook_endpoint"`
			} `json:"list"`
			NextOffset string `json:"next_offset"`
		}
		q := url.Values{"limit": {"100"}}
		if offset != "" {
			q.Set("offset", offset)
		}
		if err := a.call(ctx, "list the webhook endpoints", http.MethodGet, "/webhook_endpoints?"+q.Encode(), nil, &list); err != nil {
			return Endpoint{}, false, err
		}
		for _, item := range list.List {
			if item.WebhookEndpoint.URL == target {
				return item.WebhookEndpoint.endpoint(), true, nil
			}
		}
		if list.NextOffset == "" || len(list.List) == 0 {
			return Endpoint{}, false, nil
		}
		offset = list.NextOffset
	}
}

// Create sends s.Secret, user:password, as the webhook's basic auth.
func (a chargebeeAPI) Create(ctx context.Context, s Spec) (Endpoint, error) {
	user, password, _ := strings.Cut(s.Secret, ":")
	a.secrets = append(a.secrets, s.Secret, password)
	form := withEvents(url.Values{
		"name": {"reditus-bridge"}, "url": {s.URL}, "api_version": {"v2"},
		"basic_auth_username": {user}, "basic_auth_password": {password},
	}, s.Events)
	return a.write(ctx, "create the webhook endpoint", "/webhook_endpoints", form)
}

// Update sends the events and enables the endpoint; the credentials stay.
func (a chargebeeAPI) Update(ctx context.Context, id string, s Spec) (Endpoint, error) {
	form := withEvents(url.Values{"disabled": {"false"}}, s.Events)
	return a.write(ctx, "update webhook endpoint "+id, "/webhook_endpoints/"+url.PathEscape(id), form)
}

// withEvents adds the list as Chargebee takes an array: enabled_events[0]=...
func withEvents(form url.Values, events []string) url.Values {
	for i, e := range events {
		form.Set(fmt.Sprintf("enabled_events[%d]", i), e)
	}
	return form
}

func (a chargebeeAPI) write(ctx context.Context, op, path string, form url.Values) (Endpoint, error) {
	var answer struct {
		WebhookEndpoint chargebeeEndpoint `json:"webhook_endpoint"`
	}
	if err := a.call(ctx, op, http.MethodPost, path, []byte(form.Encode()), &answer); err != nil {
		return Endpoint{}, err
	}
	return answer.WebhookEndpoint.endpoint(), nil
}
