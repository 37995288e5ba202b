package connect

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/getreditus/reditus-bridge/config"
)

// Paddle Billing (https://api.paddle.com, sandbox
// https://sandbox-api.paddle.com), JSON with a bearer API key: notification
// settings, GET, POST and PATCH /notification-settings (PaddleHQ/paddle-go-sdk
// notification_settings.go; https://developer.paddle.com/api-reference/notification-settings).
// Paddle generates the secret (endpoint_secret_key) and shows it on every
// read.
func init() {
	register("paddle", Client{New: newPaddle, SecretShownAgain: true})
}

type paddleAPI struct{ rest }

var _ API = paddleAPI{}

func newPaddle(cfg config.Config, hc *http.Client) (API, error) {
	if cfg.PaddleAPIKey == "" {
		return nil, errors.New("set PADDLE_API_KEY: a Paddle API key with the notification_setting.read and notification_setting.write permissions")
	}
	return paddleAPI{bearer("Paddle", cfg.PaddleAPIURL, "PADDLE_API_KEY", "PADDLE_API_URL", cfg.PaddleAPIKey.Reveal(), hc)}, nil
}

// paddleSetting is Paddle's notification setting. Paddle answers its
// subscribed events as objects, and takes them as names.
type paddleSetting struct {
	ID               string `json:"id"`
	Destination      string `json:"destination"`
	Active           bool   `json:"active"`
	SubscribedEvents []struct {
		Name string `json:"name"`
	} `json:"subscribed_events"`
	EndpointSecretKey string `json:"endpoint_secret_key"`
}

func (s paddleSetting) endpoint() Endpoint {
	ep := Endpoint{ID: s.ID, URL: s.Destination, Enabled: s.Active, Secret: s.EndpointSecretKey}
	for _, e := range s.SubscribedEvents {
		ep.Events = append(ep.Events, e.Name)
	}
	return ep
}

// Find pages through the settings, 200 a page (Paddle's largest), each
// page after the last id of the one before.
func (a paddleAPI) Find(ctx context.Context, target string) (Endpoint, bool, error) {
	after := ""
	for {
		var list struct {
			Data []paddleSetting `json:"data"`
			Meta struct {
				Pagination struct {
					HasMore bool `json:"has_more"`
				} `json:"pagination"`
			} `json:"meta"`
		}
		q := url.Values{"per_page": {"200"}, "order_by": {"id[ASC]"}}
		if after != "" {
			q.Set("after", after)
		}
		if err := a.call(ctx, "list the notification settings", http.MethodGet, "/notification-settings?"+q.Encode(), nil, &list); err != nil {
			return Endpoint{}, false, err
		}
		for _, s := range list.Data {
			if s.Destination == target {
				return s.endpoint(), true, nil
			}
		}
		if !list.Meta.Pagination.HasMore || len(list.Data) == 0 {
			return Endpoint{}, false, nil
		}
		after = list.Data[len(list.Data)-1].ID
	}
}

func (a paddleAPI) Create(ctx context.Context, s Spec) (Endpoint, error) {
	body, _ := json.Marshal(map[string]any{
		"description": "reditus-bridge: conversions to Reditus", "type": "url", "destination": s.URL,
		"subscribed_events": s.Events, "include_sensitive_fields": false,
	})
	return written[inData[paddleSetting]](ctx, a.rest, "create the notification setting", http.MethodPost, "/notification-settings", body)
}

// Update sends the whole list: Paddle drops the events a PATCH leaves out.
func (a paddleAPI) Update(ctx context.Context, id string, s Spec) (Endpoint, error) {
	body, _ := json.Marshal(map[string]any{"subscribed_events": s.Events, "active": true})
	return written[inData[paddleSetting]](ctx, a.rest, "update notification setting "+id, http.MethodPatch, "/notification-settings/"+url.PathEscape(id), body)
}

// write sends a create or an update and reads the setting Paddle answers,
// wrapped in data.
