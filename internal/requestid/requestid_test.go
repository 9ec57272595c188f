package requestid

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	for id, want := range map[string]bool{
		"0f8fad5b-d9cb-469f-a165-70867728950e": true,
		"A.b_c-9":                              true,
		strings.Repeat("a", 64):                true,
		"":                                     false,
		strings.Repeat("a", 65):                false,
		"has space":                            false,
		"semi;colon":                           false,
		"ünïcode":                              false,
		"rly_org_abcdef":                       false, // a token pasted into the wrong header
		"RLY_rsvp_abcdef":                      false,
	} {
		if got := Valid(id); got != want {
			t.Errorf("Valid(%q) = %v, want %v", id, got, want)
		}
	}
	if a, b := New(), New(); !Valid(a) || len(a) != 32 || a == b {
		t.Errorf("New() = %q, %q: want two different valid 32-character IDs", a, b)
	}
}

// Lines logged in a call's context carry its ID, through derived loggers too; others
// carry none.
func TestHandler(t *testing.T) {
	var buf bytes.Buffer
	log := Logger(slog.New(slog.NewJSONHandler(&buf, nil)))
	if Logger(log) != log {
		t.Error("Logger wrapped an already wrapped logger again")
	}
	ctx := NewContext(context.Background(), "abc-123")
	log.With("k", "v").InfoContext(ctx, "in a call")
	log.Info("outside")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("logged %q", lines)
	}
	var in, out map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &in); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &out); err != nil {
		t.Fatal(err)
	}
	if in[LogKey] != "abc-123" || in["k"] != "v" {
		t.Errorf("line in a call: %v, want %s abc-123 and k v", in, LogKey)
	}
	if _, ok := out[LogKey]; ok {
		t.Errorf("line outside a call: %v, want no %s", out, LogKey)
	}
}
