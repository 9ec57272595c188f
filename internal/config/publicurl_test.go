package config

import "testing"

func TestPublicURL(t *testing.T) {
	for in, want := range map[string]string{
		"":                              "",
		"https://rally.example.org":     "https://rally.example.org",
		"https://rally.example.org/":    "https://rally.example.org",
		"http://localhost:8080":         "http://localhost:8080",
		"https://example.org/rally/":    "https://example.org/rally",
		"https://[2001:db8::1]:8443/rk": "https://[2001:db8::1]:8443/rk",
	} {
		c, err := Parse([]string{"--public-url=" + in})
		if err != nil || c.PublicURL != want {
			t.Errorf("--public-url=%q: %q, %v; want %q", in, c.PublicURL, err, want)
		}
	}
	t.Setenv("RALLY_PUBLIC_URL", "https://env.example.org")
	if c, err := Parse(nil); err != nil || c.PublicURL != "https://env.example.org" {
		t.Errorf("RALLY_PUBLIC_URL: %q, %v", c.PublicURL, err)
	}
	for _, bad := range []string{
		"rally.example.org", "//rally.example.org", "ftp://rally.example.org", "https://",
		"https://user:pw@rally.example.org", "https://rally.example.org/?x=1", "https://rally.example.org/?",
		"https://rally.example.org/#top", "javascript:alert(1)", "https://rally.example.org/a b",
	} {
		if _, err := Parse([]string{"--public-url=" + bad}); err == nil {
			t.Errorf("--public-url=%q accepted", bad)
		}
	}
}
