// Package browsertest drives the web client in a real headless Chromium (Debian's
// package chromium) through the DevTools protocol, for tests. The browser is a real
// dependency of the tests, like redis-server: when it is missing the test fails, naming
// the package, and is never skipped; `make test` installs it.
//
// Every wait has a generous deadline and waits for a condition (an element, a text),
// never for a fixed time. When a test fails, each open page is saved as a PNG screenshot
// (into $RALLY_SCREENSHOT_DIR, else a new temporary directory) whose path is logged, with
// the page's text and what its scripts reported on the console.
package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Timeout bounds each step: a navigation, a click, a wait for an element or a text. It
// is far above what a step takes (well under a second), so that a loaded CI machine
// never fails a correct test.
const Timeout = 30 * time.Second

// DefaultPath is where Debian's chromium package installs the browser.
const DefaultPath = "/usr/bin/chromium"

// Path returns the browser to run: $RALLY_CHROMIUM, else /usr/bin/chromium. A missing
// browser fails the test (never skips it).
func Path(t testing.TB) string {
	t.Helper()
	p := os.Getenv("RALLY_CHROMIUM")
	if p == "" {
		p = DefaultPath
	}
	if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		t.Fatalf("the browser tests need Chromium at %s, which is missing: install the Debian package chromium "+
			"(apt-get install chromium; `make test` installs it), or set RALLY_CHROMIUM to a Chromium binary", p)
	}
	return p
}

// Browser is one headless Chromium process, stopped when the test ends.
type Browser struct {
	t   testing.TB
	ctx context.Context // the browser's first tab; new pages are opened from it
}

// Start runs a fresh Chromium, with an empty profile in a temporary directory.
func Start(t testing.TB) *Browser {
	t.Helper()
	path := Path(t)
	profile := t.TempDir() // removed after the browser has stopped (cleanups run last-in first-out)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root in CI, where Chromium's sandbox cannot start
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		// Without these, Chromium keeps trying to reach Google's servers, which a closed
		// network refuses, many connections at a time.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
	)
	// Not t.Context(): that ends before the cleanups, which still take screenshots.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc() // waits for the process to exit
	})

	// The first action starts the process. It must not run under a deadline (that would
	// bound the browser's life), so a watchdog stops a browser that does not come up.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting %s: %v", path, err)
		}
	case <-time.After(2 * Timeout):
		cancelAlloc()
		t.Fatalf("starting %s: no answer after %v", path, 2*Timeout)
	}
	return &Browser{t: t, ctx: ctx}
}

// Page is one tab in a browser context of its own: its own cookies and localStorage, as
// a different person's phone or laptop would have.
type Page struct {
	t    testing.TB
	name string
	ctx  context.Context

	mu   sync.Mutex
	logs []string // console errors and warnings, uncaught exceptions
}

// Phone is the viewport of a mid-sized phone, in CSS pixels.
var Phone = Viewport{Width: 390, Height: 844, Mobile: true}

// Desktop is the viewport of a laptop.
var Desktop = Viewport{Width: 1280, Height: 900}

type Viewport struct {
	Width, Height int64
	Mobile        bool
}

// NewPage opens a tab in a new browser context. name labels it in failures and
// screenshots.
func (b *Browser) NewPage(name string, vp Viewport) *Page {
	t := b.t
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	p := &Page{t: t, name: name, ctx: ctx}
	if err := chromedp.Listen(ctx, p.record); err != nil {
		t.Fatalf("%s: opening a tab: %v", name, err)
	}
	opts := []chromedp.EmulateViewportOption{chromedp.EmulatePortrait}
	if vp.Mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	p.do("set the viewport", chromedp.EmulateViewport(vp.Width, vp.Height, opts...))
	// English, as the tests read the pages' English text, whatever the locale of the
	// machine that runs them (the client follows the browser's languages).
	p.Languages("en-US,en", "en_US")
	// Registered after cancel, so it runs before it, while the tab is still open.
	t.Cleanup(func() {
		if t.Failed() {
			p.dump()
		}
	})
	return p
}

func (p *Page) record(ev any) {
	var s string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeWarning {
			return
		}
		var args []string
		for _, a := range ev.Args {
			if a.Description != "" {
				args = append(args, a.Description)
			} else {
				args = append(args, string(a.Value))
			}
		}
		s = fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " "))
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		s = "uncaught: " + d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			s += " " + d.Exception.Description
		}
		s += fmt.Sprintf(" (%s:%d)", d.URL, d.LineNumber+1)
	default:
		return
	}
	p.mu.Lock()
	p.logs = append(p.logs, s)
	p.mu.Unlock()
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// dump saves a screenshot of the page and logs where, with the page's address, its text
// and its console errors.
func (p *Page) dump() {
	t := p.t
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	p.mu.Lock()
	logs := strings.Join(p.logs, "\n  ")
	p.mu.Unlock()
	if logs != "" {
		t.Logf("%s: console:\n  %s", p.name, logs)
	}
	if url, err := chromedp.Run(ctx, chromedp.Location()); err == nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		t.Logf("%s: at %s, showing:\n%s", p.name, url, indent(text))
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Logf("%s: no screenshot: %v", p.name, err)
		return
	}
	dir, err := screenshotDir()
	if err != nil {
		t.Logf("%s: no screenshot: %v", p.name, err)
		return
	}
	file := filepath.Join(dir, unsafeName.ReplaceAllString(t.Name()+"-"+p.name, "_")+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Logf("%s: no screenshot: %v", p.name, err)
		return
	}
	t.Logf("%s: screenshot saved to %s", p.name, file)
}

var screenshots struct {
	once sync.Once
	dir  string
	err  error
}

// screenshotDir is $RALLY_SCREENSHOT_DIR, else one new temporary directory for the
// whole test binary (not t.TempDir(), which is removed as soon as the test ends).
func screenshotDir() (string, error) {
	screenshots.once.Do(func() {
		if dir := os.Getenv("RALLY_SCREENSHOT_DIR"); dir != "" {
			screenshots.dir, screenshots.err = dir, os.MkdirAll(dir, 0o755)
			return
		}
		screenshots.dir, screenshots.err = os.MkdirTemp("", "rally-screenshots-")
	})
	return screenshots.dir, screenshots.err
}

func indent(s string) string {
	return "  | " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n  | ")
}

// do runs actions under the step deadline, failing the test on an error.
func (p *Page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, Timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, what, err)
	}
}

// Open loads the page at url and waits for the client to have rendered it (its
// "Loading…" placeholder gone: marked data-loading, as it is translated).
func (p *Page) Open(url string) {
	p.t.Helper()
	p.do("open "+url, chromedp.Navigate(url))
	p.waitJS("the page to render", `(() => {
		const m = document.getElementById("main");
		return !!m && !m.textContent.includes("Loading…") && !m.querySelector("[data-loading]");
	})()`)
}

// Back goes back in the tab's history, as the browser's back button does, and waits for
// the client to show the page (restored from the back-forward cache, or loaded again).
func (p *Page) Back() {
	p.t.Helper()
	// Not chromedp.NavigateBack: it waits for a load event, which a page restored from
	// the back-forward cache never fires.
	from := p.Eval(`location.href`)
	p.Eval(`(history.back(), "")`)
	p.waitJS("the previous page to render", `(() => {
		const m = document.getElementById("main");
		return location.href !== `+jsString(from)+` && document.readyState === "complete" && !!m && !m.textContent.includes("Loading…") && !m.querySelector("[data-loading]");
	})()`)
}

// WaitVisible waits until the element that the CSS selector sel matches is shown.
func (p *Page) WaitVisible(sel string) {
	p.t.Helper()
	p.do("wait for "+sel+" to be visible", chromedp.WaitVisible(chromedp.CSS(sel)))
}

// Fill types text into the input that sel matches, replacing what it held, as a
// person would: focus, select all, type.
func (p *Page) Fill(sel, text string) {
	p.t.Helper()
	p.WaitVisible(sel)
	// Not chromedp.SetValue(sel, ""): it sends the empty string as no argument at all.
	p.Eval(`(document.querySelector(` + jsString(sel) + `).value = "")`)
	if text != "" {
		p.do("type into "+sel, chromedp.SendKeys(chromedp.CSS(sel), text))
	}
	if got := p.Eval(`document.querySelector(` + jsString(sel) + `).value`); got != text {
		p.t.Fatalf("%s: %s holds %q after typing %q", p.name, sel, got, text)
	}
}

// Click clicks the element that sel matches with the mouse, as a person would: it
// scrolls it to the middle of the screen and waits until it is enabled and nothing
// (such as the status bar at the bottom) covers it.
func (p *Page) Click(sel string) {
	p.t.Helper()
	p.WaitVisible(sel)
	p.waitJS(sel+" to be clickable", `(() => {
		const el = document.querySelector(`+jsString(sel)+`);
		if (!el || el.disabled) return false;
		el.scrollIntoView({ block: "center", inline: "center" });
		const r = el.getBoundingClientRect();
		const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
		return !!hit && (hit === el || el.contains(hit));
	})()`)
	p.do("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// Eval evaluates a JavaScript expression whose value is a string.
func (p *Page) Eval(expr string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, Timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		p.t.Fatalf("%s: evaluate %s: %v", p.name, expr, err)
	}
	return v
}

// EvalAsync evaluates a JavaScript expression whose value is a promise of a string, and
// waits for it. A rejected promise fails the test.
func (p *Page) EvalAsync(expr string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, Timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("%s: evaluate %s: %v", p.name, expr, err)
	}
	return v
}

// SetFiles chooses files in the file input that sel matches, as a person picking them
// would (the input's change event fires).
func (p *Page) SetFiles(sel string, files ...string) {
	p.t.Helper()
	p.do("choose files in "+sel, chromedp.SetUploadFiles(chromedp.CSS(sel), files, chromedp.NodeReady))
}

// Download clicks the link that sel matches and returns the bytes of the file it
// downloads.
func (p *Page) Download(sel string) []byte {
	p.t.Helper()
	dir := p.t.TempDir()
	c := chromedp.FromContext(p.ctx)
	ctx, cancel := context.WithTimeout(p.ctx, Timeout)
	defer cancel()
	_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, BrowserContextID: c.BrowserContextID,
		DownloadPath: dir, EventsEnabled: new(true),
	})
	if err != nil {
		p.t.Fatalf("%s: allowing downloads: %v", p.name, err)
	}
	done := make(chan *browser.EventDownloadProgress, 1)
	if err := chromedp.ListenBrowser(ctx, func(ev any) {
		if e, ok := ev.(*browser.EventDownloadProgress); ok && e.State != browser.DownloadProgressStateInProgress {
			select {
			case done <- e:
			default:
			}
		}
	}); err != nil {
		p.t.Fatalf("%s: listening for downloads: %v", p.name, err)
	}
	p.Click(sel)
	select {
	case e := <-done:
		if e.State != browser.DownloadProgressStateCompleted {
			p.t.Fatalf("%s: the download of %s ended %s", p.name, sel, e.State)
		}
		// allowAndName names the file by the download's GUID.
		b, err := os.ReadFile(filepath.Join(dir, e.GUID))
		if err != nil {
			p.t.Fatalf("%s: reading the download of %s: %v", p.name, sel, err)
		}
		return b
	case <-ctx.Done():
		p.t.Fatalf("%s: waited %v for the download of %s", p.name, Timeout, sel)
	}
	return nil
}

// WaitText waits until the element that sel matches is visible and its text, with runs
// of white space made one space, matches re. It returns that text.
func (p *Page) WaitText(sel string, re *regexp.Regexp) string {
	p.t.Helper()
	expr := `(() => {
		const el = document.querySelector(` + jsString(sel) + `);
		if (!el) return { state: "missing" };
		if (!el.getClientRects().length || getComputedStyle(el).visibility === "hidden") return { state: "hidden" };
		return { state: "visible", text: el.textContent.replace(/\s+/g, " ").trim() };
	})()`
	type seen struct {
		State string `json:"state"`
		Text  string `json:"text"`
	}
	var last seen
	var lastErr error
	deadline := time.Now().Add(Timeout)
	for {
		ctx, cancel := context.WithTimeout(p.ctx, Timeout)
		v, err := chromedp.Run(ctx, chromedp.Evaluate[seen](expr))
		cancel()
		if err == nil {
			last, lastErr = v, nil
			if v.State == "visible" && re.MatchString(v.Text) {
				return v.Text
			}
		} else {
			lastErr = err // a navigation in progress: try again
		}
		if time.Now().After(deadline) || p.ctx.Err() != nil {
			if lastErr != nil {
				p.t.Fatalf("%s: waited %v for %s to match %q: %v", p.name, Timeout, sel, re, lastErr)
			}
			p.t.Fatalf("%s: waited %v for %s to match %q; it is %s with text %q", p.name, Timeout, sel, re, last.State, last.Text)
		}
		time.Sleep(50 * time.Millisecond) // the interval between checks, not a wait for the page
	}
}

// Wait waits until a JavaScript expression, or the promise it returns, is true: for what
// only an asynchronous API can tell (a cache, IndexedDB, the service worker). what names
// the condition in a failure.
func (p *Page) Wait(what, expr string) {
	p.t.Helper()
	var lastErr error
	deadline := time.Now().Add(Timeout)
	for {
		ctx, cancel := context.WithTimeout(p.ctx, Timeout)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr, chromedp.EvalAwaitPromise))
		cancel()
		if err == nil && ok {
			return
		}
		lastErr = err
		if time.Now().After(deadline) || p.ctx.Err() != nil {
			p.t.Fatalf("%s: waited %v for %s (last error: %v)", p.name, Timeout, what, lastErr)
		}
		time.Sleep(50 * time.Millisecond) // the interval between checks, not a wait for the page
	}
}

// waitJS waits until a JavaScript expression is true.
func (p *Page) waitJS(what, expr string) {
	p.t.Helper()
	var lastErr error
	deadline := time.Now().Add(Timeout)
	for {
		ctx, cancel := context.WithTimeout(p.ctx, Timeout)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		lastErr = err
		if time.Now().After(deadline) || p.ctx.Err() != nil {
			p.t.Fatalf("%s: waited %v for %s (last error: %v)", p.name, Timeout, what, lastErr)
		}
		time.Sleep(50 * time.Millisecond) // the interval between checks, not a wait for the page
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// EmulateMedia makes the page's CSS see the media type given ("print" for the printed
// page, "" for the screen again).
func (p *Page) EmulateMedia(media string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, Timeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: media}); err != nil {
		p.t.Fatalf("%s: emulating media %q: %v", p.name, media, err)
	}
}

// Languages makes the page's browser one whose languages are accept (an Accept-Language
// value such as "ru-RU,ru": the header of its requests and navigator.languages) and whose
// locale is locale ("ru_RU": what Intl formats in by default), as a phone set up in that
// language. Call it before Open.
func (p *Page) Languages(accept, locale string) {
	p.t.Helper()
	ua := p.Eval(`navigator.userAgent`)
	ctx, cancel := context.WithTimeout(p.ctx, Timeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: ua, AcceptLanguage: accept}); err != nil {
		p.t.Fatalf("%s: emulating the languages %q: %v", p.name, accept, err)
	}
	if _, err := chromedp.Call(ctx, emulation.SetLocaleOverride, emulation.SetLocaleOverrideParams{Locale: locale}); err != nil {
		p.t.Fatalf("%s: emulating the locale %q: %v", p.name, locale, err)
	}
}

// Network stands between the browser and a server, as the phone's connection does: the
// browser loads the pages from URL, and Cut takes the network away as a lost signal
// would. Not the DevTools' offline emulation: that applies to a page and not to its
// service worker, whose own requests would still reach the server.
type Network struct {
	// URL is where the browser reaches the server through this network: another origin
	// than the server's own, so a page's service worker and storage belong to it.
	URL string
	srv *httptest.Server
	cut atomic.Bool

	mu      sync.Mutex
	rewrite map[string]func([]byte) []byte // by request path
}

// Rewrite makes the network change the body of every response to path (such as
// /v1/events/x/announcements) with f, as a compromised server or a man in the middle
// would; f nil stops it. Not for streams: the whole body is read first.
func (n *Network) Rewrite(path string, f func(body []byte) []byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.rewrite == nil {
		n.rewrite = map[string]func([]byte) []byte{}
	}
	if f == nil {
		delete(n.rewrite, path)
	} else {
		n.rewrite[path] = f
	}
}

func (n *Network) rewriter(path string) func([]byte) []byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.rewrite[path]
}

// NewNetwork starts a network to the server at target (http://host:port) on a free
// loopback port, closed when the test ends.
func NewNetwork(t testing.TB, target string) *Network {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("network to %s: %v", target, err)
	}
	n := &Network{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.FlushInterval = -1 // the watch streams: each line at once
	direct := proxy.Director
	proxy.Director = func(r *http.Request) {
		direct(r)
		if n.rewriter(r.URL.Path) != nil {
			r.Header.Del("Accept-Encoding") // a body to rewrite, not gzip
		}
	}
	proxy.ModifyResponse = func(res *http.Response) error {
		f := n.rewriter(res.Request.URL.Path)
		if f == nil {
			return nil
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return err
		}
		body = f(body)
		res.Body = io.NopCloser(bytes.NewReader(body))
		res.ContentLength = int64(len(body))
		res.Header.Set("Content-Length", strconv.Itoa(len(body)))
		res.Header.Del("ETag")
		return nil
	}
	n.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.cut.Load() {
			// No answer at all: the connection closes, and fetch fails as it does offline.
			if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
				c.Close()
			}
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	n.URL = n.srv.URL
	t.Cleanup(func() {
		// Close waits for the requests in flight, which the open watch streams never end.
		n.srv.CloseClientConnections()
		n.srv.Close()
	})
	return n
}

// Cut takes the network away: open connections (the watch streams) break, and new ones
// close unanswered until Restore.
func (n *Network) Cut() {
	n.cut.Store(true)
	n.srv.CloseClientConnections()
}

// Restore gives the network back.
func (n *Network) Restore() {
	n.cut.Store(false)
}
