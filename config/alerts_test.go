package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The tokens of the alert destinations in these tests: none may be printed.
const (
	slackToken   = "T0001/B0001/slackTokenXyz"
	discordToken = "1234/discordTokenAbc"
	smtpPassword = "smtp-pa55word-xyz"
)

func TestAlertDestinationsTakeTheirFormat(t *testing.T) {
	setenv(t, map[string]string{"ALERT_URLS": "https://hooks.slack.com/services/" + slackToken +
		", https://discord.com/api/webhooks/" + discordToken + ",https://alerts.example.com/in?token=jsonToken" +
		",slack+https://mattermost.example.com/hooks/mmToken,discord+http://127.0.0.1:9/dToken,json+https://hooks.slack.com/x"})
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	dests, err := c.AlertDestinations()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range dests {
		got = append(got, d.Masked())
	}
	want := []string{"slack https://hooks.slack.com/…", "discord https://discord.com/…", "json https://alerts.example.com/…",
		"slack https://mattermost.example.com/…", "discord http://127.0.0.1:9/…", "json https://hooks.slack.com/…"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
	if u := dests[3].URL.Reveal(); u != "https://mattermost.example.com/hooks/mmToken" {
		t.Errorf("slack+URL: got URL %q, want it without its prefix", u)
	}
	if c.AlertInterval != time.Hour {
		t.Errorf("ALERT_INTERVAL: got %v, want 1h by default", c.AlertInterval)
	}
	var report strings.Builder
	c.Report(&report)
	for _, secret := range []string{slackToken, discordToken, "jsonToken", "mmToken", "dToken"} {
		if strings.Contains(report.String(), secret) || strings.Contains(fmt.Sprintf("%+v", c), secret) {
			t.Errorf("a destination's token %q was printed:\n%s", secret, report.String())
		}
	}
	if !strings.Contains(report.String(), "ALERT_URLS: item 5 of 6 is not https") {
		t.Errorf("check does not warn of the http destination:\n%s", report.String())
	}
}

func TestAlertEmailNeedsSMTP(t *testing.T) {
	setenv(t, map[string]string{"ALERT_EMAIL": "ops@example.com", "SMTP_URL": "smtp://bridge%40example.com:" + smtpPassword + "@mail.example.com?from=alerts@example.com"})
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	s, ok, err := c.AlertSMTP()
	if err != nil || !ok {
		t.Fatalf("AlertSMTP: %v %v", ok, err)
	}
	want := SMTP{Host: "mail.example.com", Port: 587, Username: "bridge@example.com", Password: smtpPassword, From: "alerts@example.com"}
	if s != want {
		t.Errorf("got %+v, want %+v", s, want)
	}
	var report strings.Builder
	c.Report(&report)
	if strings.Contains(report.String(), smtpPassword) || strings.Contains(report.String(), "ops@example.com") {
		t.Errorf("check printed the SMTP password or the full address:\n%s", report.String())
	}
	if !strings.Contains(report.String(), "email to o***@example.com via smtp://mail.example.com:587") {
		t.Errorf("check does not say where emails go:\n%s", report.String())
	}
}

func TestAlertVariablesRejected(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"ALERT_URLS": "https://hooks.slack.com/services/" + slackToken + ",,"}, "ALERT_URLS: item 2 of 3 is empty"},
		{map[string]string{"ALERT_URLS": "hooks.slack.com/services/" + slackToken}, "ALERT_URLS: item 1 of 1 is not an absolute http(s) URL"},
		{map[string]string{"ALERT_URLS": "teams+https://example.com/" + slackToken}, "ALERT_URLS: item 1 of 1 is not an absolute http(s) URL"},
		{map[string]string{"ALERT_URLS": "https://user:" + smtpPassword + "@example.com/"}, "ALERT_URLS: item 1 of 1 holds credentials"},
		{map[string]string{"ALERT_EMAIL": "ops@example.com"}, "ALERT_EMAIL and SMTP_URL: set both"},
		{map[string]string{"SMTP_URL": "smtp://u:" + smtpPassword + "@mail.example.com"}, "ALERT_EMAIL and SMTP_URL: set both"},
		{map[string]string{"ALERT_EMAIL": "not an address", "SMTP_URL": "smtp://u:" + smtpPassword + "@mail.example.com"}, "ALERT_EMAIL: want an email address"},
		{map[string]string{"ALERT_EMAIL": "ops@example.com", "SMTP_URL": "https://u:" + smtpPassword + "@mail.example.com"}, "SMTP_URL: want smtp://"},
		{map[string]string{"ALERT_EMAIL": "ops@example.com", "SMTP_URL": "smtp://u:" + smtpPassword + "@mail.example.com:99999"}, "SMTP_URL: the port"},
		{map[string]string{"ALERT_INTERVAL": "0s"}, "ALERT_INTERVAL and ALERT_UNAVAILABLE_AFTER: want positive durations"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			setenv(t, tt.env)
			_, err := Load()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			for _, secret := range []string{slackToken, smtpPassword} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q quotes a secret", err)
				}
			}
		})
	}
}
