package streamchain

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc"
)

type fakeStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *fakeStream) Context() context.Context { return s.ctx }

type key string

// record is a stage that adds its name to the context and, after the handler, to the
// error's text.
func record(name string, log *[]string) Stage {
	return func(c *Call) (func(error) error, error) {
		*log = append(*log, "open "+name)
		c.Ctx = context.WithValue(c.Ctx, key(name), true)
		return func(err error) error {
			*log = append(*log, "after "+name)
			return fmt.Errorf("%s(%v)", name, err)
		}, nil
	}
}

func TestOrder(t *testing.T) {
	var log []string
	inner := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		log = append(log, "interceptor")
		return handler(srv, ss)
	}
	ch := new(Chain).Stage(record("a", &log)).Interceptor(inner).Stage(record("b", &log))
	ss := &fakeStream{ctx: context.Background()}
	err := ch.StreamServerInterceptor()(nil, ss, &grpc.StreamServerInfo{}, func(_ any, ss grpc.ServerStream) error {
		log = append(log, "handler")
		for _, k := range []key{"a", "b"} {
			if ss.Context().Value(k) == nil {
				t.Errorf("the handler's context lacks %s", k)
			}
		}
		return errors.New("x")
	})
	if got, want := err.Error(), "a(b(x))"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	if got, want := strings.Join(log, ", "), "open a, interceptor, open b, handler, after b, after a"; got != want {
		t.Errorf("order %q, want %q", got, want)
	}
}

func TestRefusal(t *testing.T) {
	var log []string
	refuse := func(c *Call) (func(error) error, error) { return nil, errors.New("no") }
	ch := new(Chain).Stage(record("a", &log), refuse, record("b", &log))
	err := ch.StreamServerInterceptor()(nil, &fakeStream{ctx: context.Background()}, &grpc.StreamServerInfo{},
		func(any, grpc.ServerStream) error { t.Error("handler ran"); return nil })
	if got, want := err.Error(), "a(no)"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
}

func TestRecover(t *testing.T) {
	var log []string
	ch := new(Chain).Stage(record("a", &log)).
		Recover(func(ctx context.Context, p any) error {
			if ctx.Value(key("a")) == nil {
				t.Error("recovery without the context of the stages before it")
			}
			return fmt.Errorf("panic %v", p)
		}).
		Stage(record("b", &log))
	err := ch.StreamServerInterceptor()(nil, &fakeStream{ctx: context.Background()}, &grpc.StreamServerInfo{},
		func(any, grpc.ServerStream) error { panic("boom") })
	// Every after runs, on the recovered error: what a stage holds is given back.
	if got, want := err.Error(), "a(b(panic boom))"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
}

func TestPanicWithoutRecover(t *testing.T) {
	var log []string
	ch := new(Chain).Stage(record("a", &log))
	defer func() {
		if recover() == nil {
			t.Error("the panic was swallowed")
		}
		if strings.Contains(strings.Join(log, ","), "after") {
			t.Errorf("afters ran during an unrecovered panic: %v", log)
		}
	}()
	_ = ch.StreamServerInterceptor()(nil, &fakeStream{ctx: context.Background()}, &grpc.StreamServerInfo{},
		func(any, grpc.ServerStream) error { panic("boom") })
}
