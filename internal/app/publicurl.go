package app

import (
	"log/slog"
	"net"

	"github.com/rallyhq/rally/internal/config"
)

// publicURL is the base of the links rallyd gives out (calendar feeds): --public-url, or
// else the address the start-up banner prints, http(s)://localhost:<port>, which is what
// someone trying Rally on their own machine opens. Never a request's Host header: any
// client sets that, and a link built on it would send whoever follows it where that
// client chose. A rallyd listening beyond loopback without --public-url is most likely
// deployed, where localhost links are wrong for everyone else: it says so once, at start.
func publicURL(cfg config.Config, httpAddr net.Addr, log *slog.Logger) string {
	if cfg.PublicURL != "" {
		return cfg.PublicURL
	}
	scheme := "http://"
	if cfg.TLS() {
		scheme = "https://"
	}
	if tcp, ok := httpAddr.(*net.TCPAddr); ok && !tcp.IP.IsLoopback() {
		log.Warn("public-url is not set: links in calendar feeds point to localhost; set RALLY_PUBLIC_URL to the address people reach this Rally at", "default", scheme+displayAddr(httpAddr))
	}
	return scheme + displayAddr(httpAddr)
}
