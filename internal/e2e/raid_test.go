package e2e_test

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/app"
	"github.com/rallyhq/rally/internal/calllog"
	"github.com/rallyhq/rally/internal/redistest"
)

// The tests in this file play the log reader and the raid: someone who reads rallyd's
// logs, or seizes its Redis (keys, values and the append-only file), and looks for the
// people who called it: their addresses, an unkeyed hash of them, the names of their RSVPs
// and claims, their tokens and what they typed.

// The addresses of the raid: two clients behind the trusted proxy (the test, on
// 127.0.0.1), one IPv4 and one IPv6, and one that connects directly from a loopback
// address of its own, which nothing else on the machine uses.
const (
	proxiedV4 = "203.0.113.77"
	proxiedV6 = "2001:db8::77"
	directV4  = "127.3.7.77"
)

// raidBackends are the stores of backends(t), and a three-master Cluster if those lack one.
func raidBackends(t *testing.T) map[string]func(t *testing.T) string {
	bs := backends(t)
	for name := range bs {
		if strings.Contains(strings.ToLower(name), "cluster") {
			return bs
		}
	}
	bs["cluster"] = func(t *testing.T) string { return redistest.StartCluster(t).URL() }
	return bs
}

// TestRaid runs a realistic scenario on every store, with clients behind a trusted proxy
// and direct ones, over gRPC and REST: RSVPs, claims, reads until they are rate limited,
// watch streams (some abandoned mid-stream), calls refused for a bad token, for want of
// one and for naming someone else's RSVP. Then it reads every log line (debug level) and,
// on Redis, every key and value of every type and the append-only file, and finds none of
// the clients' addresses, in any form, nor an unkeyed SHA-256, SHA-1 or MD5 of one (hex,
// base64 or raw). Lines at info and above name no RSVP or claim, and no line holds a
// token or anything a participant typed.
func TestRaid(t *testing.T) {
	for name, redisURL := range raidBackends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			url := redisURL(t)
			var rdb *raidRedis
			if url != "" {
				rdb = openRaidRedis(t, url)
				rdb.appendOnly(t) // before rallyd writes anything: the AOF keeps what expires
			}
			var logs syncBuffer
			a := startLogged(t, &logs, slog.LevelDebug, "--redis-url="+url, "--trusted-proxies=127.0.0.1/32",
				"--rate-limits=read=1/h,burst=6; write=1/h,burst=4")
			r := playRaid(t, a)
			shutdownApp(t, a)

			checkRaidLogs(t, r, logs.String(), url)
			if rdb != nil {
				rdb.check(t, r)
			}
		})
	}
}

// raid is what the scenario left for the checks to look for.
type raid struct {
	a        *app.App
	never    map[string]string // what no log line may hold, by what it is: tokens, personal fields
	names    []string          // participants' resource names: no line at info or above may hold them
	refusals map[string]int    // refusals the clients saw, by address and code
}

// raidClient calls rallyd as one client: from an address (through the proxy, or directly)
// over REST and gRPC.
type raidClient struct {
	addr   string // the client's address as the tests call it
	http   *http.Client
	header http.Header // X-Forwarded-For through the proxy
	conn   *grpc.ClientConn
	md     metadata.MD // x-forwarded-for through the proxy
}

func newRaidClient(t *testing.T, a *app.App, addr string) *raidClient {
	t.Helper()
	c := &raidClient{addr: addr, header: http.Header{}, md: metadata.MD{}}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	switch addr {
	case directV4:
		dialer.LocalAddr = &net.TCPAddr{IP: net.ParseIP(directV4)}
	case "127.0.0.1":
	default:
		c.header.Set("X-Forwarded-For", addr)
		c.md.Set("x-forwarded-for", addr)
	}
	c.http = &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}, Timeout: 10 * time.Second}
	t.Cleanup(c.http.CloseIdleConnections)
	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, target string) (net.Conn, error) {
			return dialer.DialContext(ctx, "tcp", target)
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c.conn = conn
	return c
}

// ctx is a gRPC call's context as this client, with a bearer token if tok is not empty.
func (c *raidClient) ctx(ctx context.Context, tok string) context.Context {
	ctx = metadata.NewOutgoingContext(ctx, c.md.Copy())
	return withToken(ctx, tok)
}

// rest sends a REST request as this client and returns the status and the body (0 after
// an error, which fails t). It may run in any goroutine.
func (c *raidClient) rest(t *testing.T, method, path, body, tok string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, path, strings.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	req.Header = c.header.Clone()
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		t.Errorf("%s: %s %s: %v", c.addr, method, path, err)
		return 0, nil
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
	return resp.StatusCode, []byte(b.String())
}

func playRaid(t *testing.T, a *app.App) *raid {
	ctx := t.Context()
	r := &raid{a: a, never: map[string]string{"admin token": token}, refusals: map[string]int{}}
	admin, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	asAdmin := withToken(ctx, token)
	c, err := rallyv1.NewCampaignServiceClient(admin).CreateCampaign(asAdmin, &rallyv1.CreateCampaignRequest{Campaign: &rallyv1.Campaign{Title: "Solidarity"}})
	if err != nil {
		t.Fatal(err)
	}
	ev := eventIn(c.GetName())
	ev.Capacity = 100
	e, err := rallyv1.NewEventServiceClient(admin).CreateEvent(asAdmin, &rallyv1.CreateEventRequest{Event: ev})
	if err != nil {
		t.Fatal(err)
	}
	task, err := rallyv1.NewTaskServiceClient(admin).CreateTask(asAdmin, &rallyv1.CreateTaskRequest{Task: taskIn(c.GetName())})
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + a.HTTPAddr() + "/v1/"
	// Someone else's RSVP, which every client will ask for with its own token.
	victim, err := rallyv1.NewRsvpServiceClient(admin).CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: e.GetName(),
		Rsvp: &rallyv1.Rsvp{DisplayName: "Victim-Pseudonym-0042", Contact: "victim-contact-0042"}})
	if err != nil {
		t.Fatal(err)
	}
	r.names = append(r.names, victim.GetRsvp().GetName())
	r.never["victim's token"], r.never["victim's pseudonym"], r.never["victim's contact"] = victim.GetManageToken(), "Victim-Pseudonym-0042", "victim-contact-0042"

	var mu sync.Mutex
	refused := func(addr string, code codes.Code) {
		mu.Lock()
		defer mu.Unlock()
		r.refusals[addr+" "+code.String()]++
	}
	participant := func(name, tok, pseudonym, contact string) {
		mu.Lock()
		defer mu.Unlock()
		r.names = append(r.names, name)
		r.never["token of "+name] = tok
		r.never["pseudonym "+pseudonym] = pseudonym
		if contact != "" {
			r.never["contact "+contact] = contact
		}
	}

	var wg sync.WaitGroup
	for i, addr := range []string{proxiedV4, proxiedV6, directV4, "127.0.0.1"} {
		cl := newRaidClient(t, a, addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			pseudonym, contact := fmt.Sprintf("Aigerim-%d-Pseudonym", i), fmt.Sprintf("signal-contact-%d-5512", i)

			// gRPC: an RSVP, a claim, a watch stream, refused calls, reads until limited.
			rsvps := rallyv1.NewRsvpServiceClient(cl.conn)
			created, err := rsvps.CreateRsvp(cl.ctx(ctx, ""), &rallyv1.CreateRsvpRequest{Parent: e.GetName(),
				Rsvp: &rallyv1.Rsvp{DisplayName: pseudonym, Contact: contact}})
			if err != nil {
				t.Errorf("%s: CreateRsvp: %v", addr, err)
				return
			}
			participant(created.GetRsvp().GetName(), created.GetManageToken(), pseudonym, contact)
			claimed, err := rallyv1.NewTaskServiceClient(cl.conn).ClaimTask(cl.ctx(ctx, ""), &rallyv1.ClaimTaskRequest{Name: task.GetName(), DisplayName: pseudonym + "-claims"})
			if err != nil {
				t.Errorf("%s: ClaimTask: %v", addr, err)
				return
			}
			participant(claimed.GetClaim().GetName(), claimed.GetClaimToken(), pseudonym+"-claims", "")

			events := rallyv1.NewEventServiceClient(cl.conn)
			wctx, cancel := context.WithCancel(cl.ctx(ctx, ""))
			stream, err := events.WatchEvent(wctx, &rallyv1.WatchEventRequest{Name: e.GetName()})
			if err == nil {
				_, err = stream.Recv()
			}
			cancel()
			if err != nil {
				t.Errorf("%s: WatchEvent: %v", addr, err)
			}
			// REST: the same client's RSVP and a watch it leaves mid-stream.
			code, body := cl.rest(t, "POST", base+e.GetName()+"/rsvps", fmt.Sprintf(`{"displayName":%q,"contact":%q}`, pseudonym+"-rest", contact+"-rest"), "")
			var restRSVP struct {
				Rsvp        struct{ Name string } `json:"rsvp"`
				ManageToken string                `json:"manageToken"`
			}
			if code != 200 || json.Unmarshal(body, &restRSVP) != nil {
				t.Errorf("%s: REST CreateRsvp: %d %s", addr, code, body)
				return
			}
			participant(restRSVP.Rsvp.Name, restRSVP.ManageToken, pseudonym+"-rest", contact+"-rest")
			watchREST(t, cl, base+e.GetName()+":watch")
			// Refused: someone else's RSVP and a made-up one, named with this RSVP's token;
			// a forged RSVP token; no token where one is needed; reads over the budget.
			for _, name := range []string{victim.GetRsvp().GetName(), e.GetName() + "/rsvps/madeup" + fmt.Sprint(i)} {
				_, err := rsvps.GetRsvp(cl.ctx(ctx, created.GetManageToken()), &rallyv1.GetRsvpRequest{Name: name})
				if err == nil {
					t.Errorf("%s: GetRsvp of %s with another RSVP's token succeeded", addr, name)
				}
				refused(addr, status.Code(err))
			}
			_, err = rsvps.CancelRsvp(cl.ctx(ctx, "rly_rsvp_"+strings.Repeat("x", 43)), &rallyv1.CancelRsvpRequest{Name: created.GetRsvp().GetName()})
			refused(addr, status.Code(err))
			_, err = rsvps.ListRsvps(cl.ctx(ctx, ""), &rallyv1.ListRsvpsRequest{Parent: e.GetName()})
			refused(addr, status.Code(err))
			for range 8 {
				_, err := events.GetEvent(cl.ctx(ctx, ""), &rallyv1.GetEventRequest{Name: e.GetName()})
				refused(addr, status.Code(err))
			}
			// The same over REST, now over the budget.
			code, _ = cl.rest(t, "GET", base+e.GetName()+"/rsvps/madeuprest"+fmt.Sprint(i), "", restRSVP.ManageToken)
			refused(addr, httpCode(code))
			code, _ = cl.rest(t, "GET", base+restRSVP.Rsvp.Name, "", "rly_org_"+strings.Repeat("y", 43))
			refused(addr, httpCode(code))
			for range 8 {
				code, _ := cl.rest(t, "GET", base+e.GetName(), "", "")
				refused(addr, httpCode(code))
			}
		}()
	}
	wg.Wait()
	for _, addr := range []string{proxiedV4, proxiedV6, directV4, "127.0.0.1"} {
		if r.refusals[addr+" ResourceExhausted"] == 0 {
			t.Errorf("%s was never rate limited; refusals %v", addr, r.refusals)
		}
	}
	if len(r.names) != 13 {
		t.Fatalf("%d RSVPs and claims, want 13", len(r.names))
	}
	// The made-up names are shaped like participants' names, and logged alike.
	for i := range 4 {
		r.names = append(r.names, e.GetName()+"/rsvps/madeup"+fmt.Sprint(i), e.GetName()+"/rsvps/madeuprest"+fmt.Sprint(i))
	}
	return r
}

// watchREST opens a watch stream over REST, reads its first message and leaves, closing
// the connection under the server's feet.
func watchREST(t *testing.T, cl *raidClient, url string) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header = cl.header.Clone()
	resp, err := cl.http.Do(req)
	if err != nil {
		t.Errorf("%s: REST watch: %v", cl.addr, err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("%s: REST watch: HTTP %d", cl.addr, resp.StatusCode)
		return
	}
	if _, err := bufio.NewReader(resp.Body).ReadBytes('\n'); err != nil {
		t.Errorf("%s: REST watch: %v", cl.addr, err)
	}
}

// addressForms are the ways a log line or a stored value could hold addr: as written,
// in full, as an IPv4-mapped IPv6 address, by its rate-limit bucket (its /64), and the
// raw bytes.
func addressForms(addr string) []string {
	a := netip.MustParseAddr(addr)
	forms := []string{a.String(), a.StringExpanded(), string(a.AsSlice())}
	if a.Is4() {
		forms = append(forms, netip.AddrFrom16(a.As16()).String(), "::ffff:"+a.String(), hex.EncodeToString(a.AsSlice()))
	} else {
		p := netip.PrefixFrom(a, 64).Masked()
		b := a.As16()
		forms = append(forms, p.String(), p.Addr().String(), p.Addr().StringExpanded(), hex.EncodeToString(b[:]), string(b[:8]),
			strings.ReplaceAll(a.StringExpanded(), ":", ""))
	}
	return forms
}

// hashNeedles are what an unkeyed hash of addr would leave: SHA-256, SHA-1 and MD5 of each
// of its forms, bare or behind the prefixes a rate limiter would put (the "addr:" of the
// caller's identity, the "rally-ratelimit\x00" that Rally once used), as hex (the first
// 64 bits, so that a truncated digest is found too), base64 (the first 48 bits, standard
// and URL alphabets) and raw bytes (the first 64 bits).
func hashNeedles(addr string) map[string]string {
	out := map[string]string{}
	for _, form := range addressForms(addr) {
		for _, pre := range []string{"", "addr:", "rally-ratelimit\x00addr:"} {
			for name, h := range map[string]func() hash.Hash{"sha256": sha256.New, "sha1": sha1.New, "md5": md5.New} {
				d := h()
				d.Write([]byte(pre + form))
				sum := d.Sum(nil)
				what := fmt.Sprintf("%s(%q)", name, pre+form)
				out[hex.EncodeToString(sum[:8])] = "hex " + what
				out[base64.StdEncoding.EncodeToString(sum[:6])] = "base64 " + what
				out[base64.URLEncoding.EncodeToString(sum[:6])] = "base64url " + what
				out[string(sum[:8])] = "raw " + what
			}
		}
	}
	return out
}

// findAddress returns what in text gives addr away, or "".
func findAddress(text, addr string) string {
	for _, form := range addressForms(addr) {
		if strings.Contains(text, form) {
			return fmt.Sprintf("the address as %q", form)
		}
	}
	lower := strings.ToLower(text)
	for needle, what := range hashNeedles(addr) {
		if strings.Contains(text, needle) || (isHex(needle) && strings.Contains(lower, needle)) {
			return "an unkeyed hash: " + what
		}
	}
	return ""
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

func checkRaidLogs(t *testing.T, r *raid, out, redisURL string) {
	t.Helper()
	// The scenario was logged, refusals and all: the checks below are not vacuous.
	var finished, limited, redacted int
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var l map[string]any
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("a log line is not JSON: %q", line)
		}
		if l["msg"] == "finished call" {
			finished++
		}
		if l["grpc.code"] == "ResourceExhausted" {
			limited++
		}
		errText, _ := l["grpc.error"].(string)
		if strings.Contains(errText, "rsvps/…") || strings.Contains(errText, "claims/…") {
			redacted++
		}
		if l["level"] == "DEBUG" {
			continue
		}
		for _, name := range r.names {
			if strings.Contains(line, name[strings.LastIndex(name, "/")+1:]) {
				t.Errorf("a %s line names the participant %s: %s", l["level"], name, line)
			}
		}
	}
	if finished < 50 || limited == 0 || redacted == 0 {
		t.Fatalf("the scenario was not logged as expected: %d finished calls, %d rate limited, %d redacted names; logs:\n%s",
			finished, limited, redacted, out)
	}

	for _, addr := range []string{proxiedV4, proxiedV6, directV4} {
		if what := findAddress(out, addr); what != "" {
			t.Errorf("the logs hold %s of %s", what, addr)
		}
	}
	// 127.0.0.1 is also where rallyd and Redis listen, which rallyd may log: take those
	// out, and no other mention of it may be left (a client's port, say).
	rest := out
	own := []string{r.a.GRPCAddr(), r.a.HTTPAddr(), r.a.MetricsAddr()}
	if u, err := url.Parse(redisURL); err == nil && u.Host != "" {
		own = append(own, u.Host)
		own = append(own, u.Query()["addr"]...)
	}
	for _, addr := range own {
		rest = strings.ReplaceAll(rest, addr, "")
	}
	if strings.Contains(rest, "127.0.0.1") {
		t.Errorf("the logs mention 127.0.0.1 other than as rallyd's or Redis's own address:\n%s", grepLines(rest, "127.0.0.1"))
	}
	if strings.Contains(out, "peer.address") {
		t.Error("the logs hold a peer.address field")
	}
	for what, s := range r.never {
		if s != "" && strings.Contains(out, s) {
			t.Errorf("the logs hold the %s", what)
		}
	}
}

func grepLines(text, s string) string {
	var b strings.Builder
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// check reads everything the raid seized and finds in it none of rd's clients' addresses,
// in any form.
func (r *raidRedis) check(t *testing.T, rd *raid) {
	t.Helper()
	data, aof, keys := r.dump(t)
	// The raid found what it came for: rate-limit budgets, in the data and in the AOF,
	// and the scenario's RSVPs.
	if keys == 0 || !strings.Contains(data, "rl:") || !strings.Contains(aof, "rl:") || !strings.Contains(data, rd.names[0][strings.LastIndex(rd.names[0], "/")+1:]) {
		t.Fatalf("the dump holds %d keys, without rate-limit budgets or the RSVPs:\n%.3000s\nAOF:\n%.3000s", keys, data, aof)
	}
	for _, addr := range []string{proxiedV4, proxiedV6, directV4, "127.0.0.1"} {
		if what := findAddress(data, addr); what != "" {
			t.Errorf("Redis holds %s of %s", what, addr)
		}
		if what := findAddress(aof, addr); what != "" {
			t.Errorf("the append-only file holds %s of %s", what, addr)
		}
	}
}

// TestRefusalsDoNotFlood: 400 rapid calls over the rate limit, over gRPC and REST, and
// 100 with a bad token, write a handful of log lines at the default level, and metrics
// count every one of them.
func TestRefusalsDoNotFlood(t *testing.T) {
	for name, redisURL := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var logs syncBuffer
			// auth=off: the bad tokens below must each reach authentication and be
			// counted as UNAUTHENTICATED (their own budget is abuse_auth_test.go's).
			a := startLogged(t, &logs, slog.LevelInfo, "--redis-url="+redisURL(t), "--rate-limits=read=1/h,burst=1; auth=off")
			conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx := t.Context()
			c, err := rallyv1.NewCampaignServiceClient(conn).CreateCampaign(withToken(ctx, token), &rallyv1.CreateCampaignRequest{Campaign: &rallyv1.Campaign{Title: "Solidarity"}})
			if err != nil {
				t.Fatal(err)
			}
			e, err := rallyv1.NewEventServiceClient(conn).CreateEvent(withToken(ctx, token), &rallyv1.CreateEventRequest{Event: eventIn(c.GetName())})
			if err != nil {
				t.Fatal(err)
			}
			events := rallyv1.NewEventServiceClient(conn)
			if _, err := events.GetEvent(ctx, &rallyv1.GetEventRequest{Name: e.GetName()}); err != nil {
				t.Fatal(err) // the budget's one call
			}
			before := len(strings.Split(strings.TrimSpace(logs.String()), "\n"))

			const flood, badTokens = 400, 100
			var wg sync.WaitGroup
			var mu sync.Mutex
			seen := map[codes.Code]int{} // GetEvent's outcomes, as the clients saw them
			for w := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range flood / 8 {
						var code codes.Code
						if (w+i)%2 == 0 {
							_, err := events.GetEvent(ctx, &rallyv1.GetEventRequest{Name: e.GetName()})
							code = status.Code(err)
						} else {
							resp, err := http.Get("http://" + a.HTTPAddr() + "/v1/" + e.GetName())
							if err != nil {
								t.Error(err)
								return
							}
							resp.Body.Close()
							code = httpCode(resp.StatusCode)
						}
						mu.Lock()
						seen[code]++
						mu.Unlock()
					}
					for range badTokens / 8 {
						_, _ = rallyv1.NewRsvpServiceClient(conn).ListRsvps(withToken(ctx, "rly_org_"+strings.Repeat("z", 43)), &rallyv1.ListRsvpsRequest{Parent: e.GetName()})
					}
				}()
			}
			wg.Wait()
			// Every call is over the budget; on a loaded machine a Redis check may time out
			// and fall back to this replica's own budget (--rate-limit-on-redis-error=local),
			// which lets one call through: all but a few must be refused.
			if seen[codes.ResourceExhausted] < flood-5 {
				t.Fatalf("%v of %d calls were rate limited", seen, flood)
			}
			// Give late lines (a REST call's gateway) a moment to arrive.
			time.Sleep(100 * time.Millisecond)
			all := strings.Split(strings.TrimSpace(logs.String()), "\n")
			lines := all[before:]
			// Burst per method and code: GetEvent's ResourceExhausted, ListRsvps's
			// Unauthenticated; a couple more for anything else (the rate limiter's warning
			// when Redis was slow).
			if len(lines) == 0 || len(lines) > 2*calllog.Burst+2 {
				t.Errorf("%d refused calls wrote %d log lines, want a handful:\n%s", flood+badTokens/8*8, len(lines), strings.Join(lines, "\n"))
			}
			if !strings.Contains(strings.Join(lines, "\n"), `"grpc.code":"ResourceExhausted"`) {
				t.Errorf("no sampled line of the refusals:\n%s", strings.Join(lines, "\n"))
			}

			// Metrics count every call: the budget's first, and each of the flood by the
			// code its client saw.
			seen[codes.OK]++
			m := scrape(t, a)
			want := map[[2]string]int{{"ListRsvps", "Unauthenticated"}: badTokens / 8 * 8}
			for code, n := range seen {
				want[[2]string{"GetEvent", code.String()}] = n
			}
			total := 0
			for k, n := range want {
				if v, _ := value(m, "grpc_server_handled_total", map[string]string{"grpc_method": k[0], "grpc_code": k[1]}); int(v) != n {
					t.Errorf("grpc_server_handled_total{%s,%s} = %v, want %d", k[0], k[1], v, n)
				}
				if k[0] == "GetEvent" {
					total += n
				}
			}
			if total != flood+1 {
				t.Errorf("GetEvent outcomes %v add up to %d calls, want %d", seen, total, flood+1)
			}
		})
	}
}
