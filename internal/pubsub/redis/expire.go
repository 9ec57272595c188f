package redis

import (
	"context"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// expireBatch is how many keys one SCAN call looks at.
const expireBatch = 1000

// expireOld gives every stream of this deployment an expiry no later than a lifetime from
// now, once, in the background, when the broker starts. A stream written before
// histories expired has no TTL, and its event may never change again: without this it
// would keep the time of every RSVP for good. PEXPIRE LT shortens a TTL and gives one to
// a key without (LT counts that as infinite), but never lengthens one, so it also applies
// a lifetime shortened since the stream's last append, and a stream being appended to
// meanwhile keeps the later expiry that its append set. It runs on every start (a replica
// of an older Rally may have written streams without a TTL since the last one), at the
// cost of a SCAN through the keyspace, on every master of a Cluster. Errors are left to
// the next start: nothing depends on it but the streams' deletion.
func (b *Broker) expireOld() {
	defer b.wg.Done()
	ctx := b.ctx
	pattern := globEscape(b.prefix) + "{*}:changes"
	if cc, ok := b.rdb.(*goredis.ClusterClient); ok {
		_ = cc.ForEachMaster(ctx, func(ctx context.Context, node *goredis.Client) error {
			return b.expireOn(ctx, node, pattern)
		})
		return
	}
	_ = b.expireOn(ctx, b.rdb, pattern)
}

// expireOn applies expireOld's PEXPIRE LT to the streams of one node that match pattern.
func (b *Broker) expireOn(ctx context.Context, node goredis.Cmdable, pattern string) error {
	lifetime := time.Duration(b.lifetime) * time.Millisecond
	var cursor uint64
	for {
		keys, next, err := node.ScanType(ctx, cursor, pattern, expireBatch, "stream").Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			_, err := node.Pipelined(ctx, func(p goredis.Pipeliner) error {
				for _, k := range keys {
					p.Do(ctx, "PEXPIRE", k, lifetime.Milliseconds(), "LT")
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// globEscape escapes what MATCH would read as a pattern in s.
func globEscape(s string) string {
	var out strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			out.WriteByte('\\')
		}
		out.WriteRune(r)
	}
	return out.String()
}
