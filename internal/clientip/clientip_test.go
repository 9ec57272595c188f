package clientip

import (
	"net/netip"
	"testing"
)

func TestResolve(t *testing.T) {
	trusted, err := ParsePrefixes("10.0.0.0/8, 192.0.2.7, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	r := NewResolver(trusted)
	for _, tc := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"direct client", "203.0.113.5", nil, "203.0.113.5"},
		{"untrusted peer cannot spoof", "203.0.113.5", []string{"198.51.100.1"}, "203.0.113.5"},
		{"trusted proxy", "10.1.2.3", []string{"198.51.100.1"}, "198.51.100.1"},
		{"bare trusted address", "192.0.2.7", []string{"198.51.100.1"}, "198.51.100.1"},
		{"client-written entries are ignored", "10.1.2.3", []string{"1.1.1.1, 198.51.100.1"}, "198.51.100.1"},
		{"chain of proxies", "10.1.2.3", []string{"1.1.1.1", "198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"all trusted: leftmost", "10.1.2.3", []string{"10.0.0.1, 10.0.0.2"}, "10.0.0.1"},
		{"garbage stops the walk", "10.1.2.3", []string{"junk, 10.0.0.2"}, "10.0.0.2"},
		{"trusted proxy without header", "10.1.2.3", nil, "10.1.2.3"},
		{"ipv4-mapped peer", "::ffff:10.1.2.3", []string{"198.51.100.1"}, "198.51.100.1"},
		{"ipv6 proxy", "fd00::1", []string{"2001:db8::1"}, "2001:db8::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := r.Resolve(netip.MustParseAddr(tc.peer), tc.xff)
			if got.String() != tc.want {
				t.Errorf("Resolve(%s, %q) = %s, want %s", tc.peer, tc.xff, got, tc.want)
			}
		})
	}
}

func TestBucket(t *testing.T) {
	for addr, want := range map[string]string{
		"203.0.113.5":           "203.0.113.5",
		"::ffff:203.0.113.5":    "203.0.113.5",
		"2001:db8:1:2:3:4:5:6":  "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::99": "2001:db8:1:2::/64",
	} {
		if got := Bucket(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Bucket(%s) = %s, want %s", addr, got, want)
		}
	}
	if got := Bucket(netip.Addr{}); got != "unknown" {
		t.Errorf("Bucket(invalid) = %s", got)
	}
}

func TestParseAddrPort(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:8080":          "127.0.0.1",
		"[::1]:8080":              "::1",
		"[::ffff:10.0.0.1]:12345": "10.0.0.1",
		"not an address":          "invalid IP",
	} {
		if got := ParseAddrPort(in).String(); got != want {
			t.Errorf("ParseAddrPort(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestParsePrefixes(t *testing.T) {
	got, err := ParsePrefixes(" 10.1.2.3/8 ,::1,, 2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "::1/128", "2001:db8::/32"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("prefix %d = %s, want %s", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "localhost", "10.0.0/8"} {
		if _, err := ParsePrefixes(bad); err == nil {
			t.Errorf("ParsePrefixes(%q) accepted it", bad)
		}
	}
}
