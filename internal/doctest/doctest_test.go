package doctest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rallyhq/rally/internal/app/apptest"
	"github.com/rallyhq/rally/internal/demo"
)

const adminToken = "rly_admin_dOcTeStXq3vB9kLmN2pR7sT4wY6zA8cE1gH5jK0nP3Q"

// root is the repository's root, from this package's directory.
const root = "../.."

var rallyBin string // built once by TestMain

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rally-doctest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Built as `make build` builds it; cmd/rally's own tests build the same, so the
	// build cache is shared.
	rallyBin = filepath.Join(dir, "rally")
	if out, err := exec.Command("go", "build", "-o", rallyBin, "../../cmd/rally").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building rally: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// docFiles are the documents whose examples run: the README and docs/*.md.
func docFiles(t *testing.T) []string {
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return append([]string{filepath.Join(root, "README.md")}, files...)
}

type block struct {
	line   int    // of the opening fence, 1-based
	lang   string // the info string's first word
	text   string
	norun  string   // the reason it is not run; empty: it runs
	expect []string // texts its output must contain
}

var (
	fence     = regexp.MustCompile("^(\\s*)(```+)\\s*([^`\\s]*)[^`]*$")
	norunRe   = regexp.MustCompile(`^<!--\s*norun:\s*(.*?)\s*-->$`)
	expectRe  = regexp.MustCompile(`^<!--\s*expect:\s*(.*?)\s*-->$`)
	directive = regexp.MustCompile(`^<!--\s*(norun|expect)\b`)
)

// parse returns the fenced blocks of a Markdown file with their directives.
func parse(t *testing.T, path string) []block {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	var blocks []block
	pendingNorun := ""
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if m := norunRe.FindStringSubmatch(l); m != nil {
			if m[1] == "" {
				t.Errorf("%s:%d: a norun directive without its reason", path, i+1)
			}
			pendingNorun = m[1]
			continue
		}
		if m := expectRe.FindStringSubmatch(l); m != nil {
			if len(blocks) == 0 || m[1] == "" {
				t.Errorf("%s:%d: an expect directive without a block before it, or without text", path, i+1)
				continue
			}
			blocks[len(blocks)-1].expect = append(blocks[len(blocks)-1].expect, m[1])
			continue
		}
		if directive.MatchString(l) {
			t.Errorf("%s:%d: malformed directive %q", path, i+1, l)
		}
		m := fence.FindStringSubmatch(lines[i])
		if m == nil {
			if l != "" {
				pendingNorun = ""
			}
			continue
		}
		indent, ticks := m[1], m[2]
		b := block{line: i + 1, lang: m[3], norun: pendingNorun}
		pendingNorun = ""
		var body []string
		for i++; i < len(lines); i++ {
			if strings.TrimSpace(lines[i]) == ticks && strings.HasPrefix(lines[i], indent) {
				break
			}
			body = append(body, strings.TrimPrefix(lines[i], indent))
		}
		b.text = strings.Join(body, "\n")
		blocks = append(blocks, b)
	}
	return blocks
}

// TestDocs runs every sh block of the README and docs/*.md against a live rallyd.
func TestDocs(t *testing.T) {
	norun := 0
	for _, path := range docFiles(t) {
		name, _ := filepath.Rel(root, path)
		var run []block
		for _, b := range parse(t, path) {
			if b.lang != "sh" {
				if b.norun != "" || len(b.expect) > 0 {
					t.Errorf("%s:%d: a directive on a %q block, which never runs", name, b.line, b.lang)
				}
				continue
			}
			if b.norun != "" {
				norun++
				t.Logf("%s:%d: not run: %s", name, b.line, b.norun)
				continue
			}
			run = append(run, b)
		}
		if len(run) == 0 {
			continue
		}
		// One file at a time: side by side they were slower on two shared cores.
		t.Run(name, func(t *testing.T) { runFile(t, name, run) })
	}
	// The escape hatch must stay one: most examples run.
	if norun > 20 {
		t.Errorf("%d example blocks are marked norun: make them run", norun)
	}
}

func runFile(t *testing.T, name string, blocks []block) {
	a := apptest.Start(t, adminToken)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := demo.Seed(ctx, a.GRPCAddr(), adminToken, time.Now()); err != nil {
		t.Fatal(err)
	}

	home := t.TempDir()
	work := filepath.Join(home, "work")
	out := filepath.Join(home, "out")
	for _, d := range []string{filepath.Join(work, "bin"), out, filepath.Join(home, "config")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(rallyBin, filepath.Join(work, "bin", "rally")); err != nil {
		t.Fatal(err)
	}

	addrs := strings.NewReplacer("localhost:8080", a.HTTPAddr(), "localhost:9090", a.GRPCAddr())
	var script strings.Builder
	script.WriteString("set -eo pipefail\n")
	// An HTTP error fails the example, unless it shows the status itself (-w).
	script.WriteString(`curl() { case " $* " in *" -w "*|*" --write-out "*) command curl "$@";; *) command curl --fail-with-body "$@";; esac; }` + "\n")
	for i, b := range blocks {
		fmt.Fprintf(&script, "{\n%s\n} >%q 2>&1 </dev/null\n", addrs.Replace(b.text), filepath.Join(out, fmt.Sprint(i)))
	}
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = work
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
		"TZ=UTC",
		"LANG=C.UTF-8",
		"RALLY_SERVER=" + a.GRPCAddr(),
		"RALLY_TOKEN=" + adminToken,
	}
	cmd.WaitDelay = 5 * time.Second
	combined, err := cmd.CombinedOutput()

	// The last block with an output file is the one that ran last.
	last := -1
	outputs := make([]string, len(blocks))
	for i := range blocks {
		data, rerr := os.ReadFile(filepath.Join(out, fmt.Sprint(i)))
		if rerr != nil {
			break
		}
		last, outputs[i] = i, string(data)
	}
	if err != nil {
		if last < 0 {
			t.Fatalf("%s: the script did not start: %v\n%s", name, err, combined)
		}
		b := blocks[last]
		t.Fatalf("%s:%d: the example failed (%v):\n%s\n--- its output:\n%s%s", name, b.line, err, b.text, outputs[last], combined)
	}
	for i, b := range blocks {
		for _, want := range b.expect {
			if !strings.Contains(outputs[i], want) {
				t.Errorf("%s:%d: the output lacks %q:\n%s\n--- its output:\n%s", name, b.line, want, b.text, outputs[i])
			}
		}
	}
	t.Logf("%s: %d example blocks ran", name, len(blocks))
}

// TestLinks checks the relative links of the README, docs/*.md and deploy/README.md: the
// file exists inside the repository (which must stand alone), and so does the anchor.
func TestLinks(t *testing.T) {
	files := append(docFiles(t), filepath.Join(root, "deploy", "README.md"))
	absRoot, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]map[string]bool{}
	anchorsOf := func(path string) map[string]bool {
		if a, ok := anchors[path]; ok {
			return a
		}
		a := headingAnchors(t, path)
		anchors[path] = a
		return a
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, path := range files {
		name, _ := filepath.Rel(root, path)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		inCode, n := false, 0
		for sc.Scan() {
			n++
			line := sc.Text()
			if strings.HasPrefix(strings.TrimSpace(line), "```") {
				inCode = !inCode
				continue
			}
			if inCode {
				continue
			}
			line = regexp.MustCompile("`[^`]*`").ReplaceAllString(line, "")
			for _, m := range link.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				file, anchor, _ := strings.Cut(target, "#")
				dest := path
				if file != "" {
					dest = filepath.Join(filepath.Dir(path), file)
					abs, _ := filepath.Abs(dest)
					if !strings.HasPrefix(abs, absRoot+string(filepath.Separator)) && abs != absRoot {
						t.Errorf("%s:%d: %s leads outside the repository", name, n, target)
						continue
					}
					if _, err := os.Stat(dest); err != nil {
						t.Errorf("%s:%d: %s: no such file", name, n, target)
						continue
					}
				}
				if anchor != "" && strings.HasSuffix(dest, ".md") && !anchorsOf(dest)[anchor] {
					t.Errorf("%s:%d: %s: no heading with that anchor", name, n, target)
				}
			}
		}
		f.Close()
	}
}

// headingAnchors returns the anchors GitHub gives a file's headings: lower case, spaces to
// hyphens, punctuation other than hyphens and underscores dropped, repeats numbered.
func headingAnchors(t *testing.T, path string) map[string]bool {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	out := map[string]bool{}
	inCode := false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inCode = !inCode
		}
		if inCode || !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(h) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
				b.WriteRune(r)
			}
		}
		a := b.String()
		if n := seen[a]; n > 0 {
			out[fmt.Sprintf("%s-%d", a, n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}
