package secret

import (
	"bytes"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	a := strings.Repeat("A", 43) // 32 zero bytes, unpadded standard base64
	b := "# rotated on 2026-12-04\n" + strings.Repeat("_", 43) + "=\n\n" + a + "\n"
	k, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if k.Len() != 2 {
		t.Fatalf("Len = %d, want 2", k.Len())
	}
	one, _ := Parse(a)
	if !bytes.Equal(k.Keys(Etag)[1], one.Key(Etag)) {
		t.Error("the second secret's key differs from the same secret alone")
	}
	if bytes.Equal(k.Key(Etag), k.Key(ClientMAC)) {
		t.Error("two purposes share a key")
	}
	if bytes.Equal(k.Key(Etag), k.Keys(Etag)[1]) {
		t.Error("two secrets give one key")
	}
}

func TestParseErrors(t *testing.T) {
	for _, s := range []string{"", "# only a comment", "c2hvcnQ=", "not base64 at all!!" + strings.Repeat("x", 40)} {
		_, err := Parse(s)
		if err == nil {
			t.Errorf("Parse(%q) succeeded", s)
			continue
		}
		if len(s) > 10 && strings.Contains(err.Error(), s) {
			t.Errorf("Parse(%q): the error echoes the secret: %v", s, err)
		}
	}
}

func TestRandom(t *testing.T) {
	if bytes.Equal(Random().Key(Etag), Random().Key(Etag)) {
		t.Error("two random keyrings share a key")
	}
}
