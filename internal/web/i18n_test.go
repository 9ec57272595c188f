package web

import (
	"encoding/json"
	"io/fs"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The client's languages, as i18n.js lists them.
func clientLanguages(t *testing.T) []string {
	t.Helper()
	src, err := static.ReadFile("static/i18n.js")
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, m := range regexp.MustCompile(`\{ code: "([a-z]+)", name: "[^"]+" \}`).FindAllStringSubmatch(string(src), -1) {
		codes = append(codes, m[1])
	}
	if len(codes) < 6 || codes[0] != "en" {
		t.Fatalf("i18n.js lists %v: want English first and the other languages", codes)
	}
	return codes
}

// pluralCategories are CLDR's: a plural message is an object keyed by them.
var pluralCategories = map[string]bool{"zero": true, "one": true, "two": true, "few": true, "many": true, "other": true}

var placeholder = regexp.MustCompile(`\{([a-zA-Z0-9_]+)\}`)

// placeholders returns the {names} of a catalog value (all forms of a plural one), or
// why the value is not a message.
func placeholders(v any) (map[string]bool, string) {
	names := map[string]bool{}
	add := func(s string) {
		for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
			names[m[1]] = true
		}
	}
	switch v := v.(type) {
	case string:
		add(v)
	case map[string]any:
		if _, ok := v["other"]; !ok {
			return nil, "a plural message without its \"other\" form"
		}
		for cat, form := range v {
			s, ok := form.(string)
			if !pluralCategories[cat] || !ok {
				return nil, "a plural message with a form " + cat + " that is not a CLDR category's string"
			}
			add(s)
		}
	default:
		return nil, "neither a string nor a plural object"
	}
	return names, ""
}

// Every catalog directory (the base one, static/i18n, and each namespace under it, such
// as the console's) holds one catalog per language of the client, each with exactly the
// keys of its English catalog, the same placeholders in each message, and plural messages
// that have the "other" form every language needs.
func TestCatalogsMatchEnglish(t *testing.T) {
	langs := clientLanguages(t)
	dirs := map[string]bool{}
	err := fs.WalkDir(static, "static/i18n", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs[p] = true
		} else if path.Ext(p) != ".json" || !slices.Contains(langs, strings.TrimSuffix(path.Base(p), ".json")) {
			t.Errorf("%s: not a catalog of a language of i18n.js (%v)", p, langs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !dirs["static/i18n"] {
		t.Fatal("no static/i18n")
	}
	for _, dir := range slices.Sorted(maps.Keys(dirs)) {
		entries, _ := fs.ReadDir(static, dir)
		if !slices.ContainsFunc(entries, func(e fs.DirEntry) bool { return !e.IsDir() }) {
			continue // a directory of namespaces only
		}
		read := func(lang string) map[string]any {
			p := dir + "/" + lang + ".json"
			b, err := static.ReadFile(p)
			if err != nil {
				t.Errorf("%s: missing (every catalog directory has every language)", p)
				return nil
			}
			var c map[string]any
			if err := json.Unmarshal(b, &c); err != nil {
				t.Errorf("%s: %v", p, err)
				return nil
			}
			return c
		}
		en := read("en")
		if en == nil {
			continue
		}
		for _, lang := range langs {
			c := read(lang)
			if c == nil {
				continue
			}
			p := dir + "/" + lang + ".json"
			for _, k := range slices.Sorted(maps.Keys(en)) {
				v, ok := c[k]
				if !ok {
					t.Errorf("%s lacks %q", p, k)
					continue
				}
				want, why := placeholders(en[k])
				if why != "" {
					t.Errorf("%s/en.json: %q is %s", dir, k, why)
					continue
				}
				got, why := placeholders(v)
				if why != "" {
					t.Errorf("%s: %q is %s", p, k, why)
				} else if !maps.Equal(got, want) {
					t.Errorf("%s: %q has placeholders %v, English %v", p, k, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
				}
			}
			for k := range c {
				if _, ok := en[k]; !ok {
					t.Errorf("%s has %q, which English lacks (a stray key)", p, k)
				}
			}
		}
	}
}

// Every key the participant's pages ask for (t("key"), index.html's data-i18n) is in the
// English catalog: a missing one would show as its key. (The console's keys are its
// namespace's, checked above.)
func TestPagesUseKnownKeys(t *testing.T) {
	b, _ := static.ReadFile("static/i18n/en.json")
	var en map[string]any
	if err := json.Unmarshal(b, &en); err != nil {
		t.Fatal(err)
	}
	use := regexp.MustCompile(`\b(?:t|tr)\("([a-zA-Z0-9_.]+)"|data-i18n(?:-label)?="([^"]+)"`)
	n := 0
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == "static/organise.js" || (path.Ext(p) != ".js" && path.Ext(p) != ".html") {
			return err
		}
		b, _ := static.ReadFile(p)
		for _, m := range use.FindAllStringSubmatch(string(b), -1) {
			key := m[1] + m[2]
			if strings.HasPrefix(key, "console.") {
				continue
			}
			n++
			if _, ok := en[key]; !ok {
				t.Errorf("%s uses %q, which the English catalog lacks", p, key)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 100 {
		t.Errorf("found only %d uses of keys: the pattern no longer matches how the pages call t()", n)
	}
}
