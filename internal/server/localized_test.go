package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/rallyhq/rally/internal/store"
)

func acceptLanguage(key, value string) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs(key, value))
}

func TestCallerLanguage(t *testing.T) {
	for _, c := range []struct{ key, accept, want string }{
		{"grpcgateway-accept-language", "kk-KZ,kk;q=0.9,ru;q=0.8", "kk"},
		{"grpcgateway-accept-language", "ru-RU,ru;q=0.9,en-US;q=0.8", "ru"},
		{"accept-language", "de-AT", "de"},
		{"accept-language", "fr-CA,fr;q=0.9", "fr"},
		{"grpcgateway-accept-language", "nb-NO,nb;q=0.9", "nb"},
		{"grpcgateway-accept-language", "no", "nb"},
		{"grpcgateway-accept-language", "nn-NO", "nb"},
		{"grpcgateway-accept-language", "en-US,en;q=0.9,ru;q=0.5", ""},
		{"grpcgateway-accept-language", "en;q=0.5,ru;q=0.9", "ru"},
		{"grpcgateway-accept-language", "pl-PL", ""},
		{"grpcgateway-accept-language", "*", ""},
		{"grpcgateway-accept-language", ";;;garbage", ""},
		{"x-other", "ru", ""},
	} {
		if got := callerLanguage(acceptLanguage(c.key, c.accept)); got != c.want {
			t.Errorf("%s: %q: %q, want %q", c.key, c.accept, got, c.want)
		}
	}
	if got := callerLanguage(context.Background()); got != "" {
		t.Errorf("no metadata: %q", got)
	}
}

// localizedOf returns the LocalizedMessage of err, or nil.
func localizedOf(t *testing.T, err error) *errdetails.LocalizedMessage {
	t.Helper()
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if lm, ok := d.(*errdetails.LocalizedMessage); ok {
			return lm
		}
	}
	return nil
}

// The refusals a participant reads get a LocalizedMessage in each language, and keep
// their code, English message and other details.
func TestLocalizedRefusals(t *testing.T) {
	retry, _ := status.New(codes.ResourceExhausted, "rate limit exceeded (x); retry in 3s").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(2500 * time.Millisecond)})
	rsvpGone := toStatus(nil, "m", store.NotFoundError("events/vigil/rsvps/abc"))
	cases := []struct {
		name string
		err  error
		want map[string]string // language → a part of the message
	}{
		{"rate limited", retry.Err(), map[string]string{"ru": "через 3 с", "kk": "3 с кейін", "de": "in 3 s", "fr": "dans 3 s", "nb": "om 3 s"}},
		{"rate limited, no delay", status.Error(codes.ResourceExhausted, "at most 2 streams"), map[string]string{"ru": "слишком много", "de": "zu viele"}},
		{"RSVP not found", rsvpGone, map[string]string{"ru": "запись не найдена", "kk": "жазылу табылмады", "fr": "inscription est introuvable"}},
		{"event not found", toStatus(nil, "m", store.NotFoundError("events/vigil")), map[string]string{"ru": "акция не найдена", "nb": "arrangementet"}},
		{"event full", rsvpError("events/vigil/rsvps/abc", store.ErrNoRoom), map[string]string{"ru": "Свободных мест", "kk": "бос орын", "de": "freie Plätze"}},
		{"party too large", errPrecondition("events/vigil", "the event has 3 places in all; a party of 5 can never fit"), map[string]string{"ru": "Ваша группа больше"}},
		{"event closed", rsvpError("events/vigil/rsvps/abc", store.ErrEventClosed), map[string]string{"kk": "Шара тоқтатылған", "fr": "annulé ou terminé"}},
		{"check-out before start", rsvpError("events/vigil/rsvps/abc", store.ErrNotStarted), map[string]string{"ru": "ещё не началась", "kk": "әлі басталған жоқ", "nb": "ikke startet"}},
		{"unknown buddy code", toStatus(nil, "m", store.ErrBuddyCode), map[string]string{"ru": "buddy_code: неизвестный", "kk": "buddy_code: серік коды", "fr": "buddy_code : code de binôme"}},
		{"own buddy code", toStatus(nil, "m", store.ErrBuddySelf), map[string]string{"de": "buddy_code: das ist der Code Ihrer eigenen"}},
		{"validation", InvalidArgument(
			&errdetails.BadRequest_FieldViolation{Field: "rsvp.guests", Description: "value must be greater than or equal to 0 and less than or equal to 5"},
			&errdetails.BadRequest_FieldViolation{Field: "rsvp.display_name", Description: "value length must be at most 60 characters"},
			&errdetails.BadRequest_FieldViolation{Field: "nickname", Description: "value is required"},
			&errdetails.BadRequest_FieldViolation{Field: "rsvp.contact", Description: "something new"},
			&errdetails.BadRequest_FieldViolation{Field: "rsvp.guests", Description: "at most 5 guests"},
		), map[string]string{
			"ru": "rsvp.guests: выберите число от 0 до 5; rsvp.display_name: слишком длинно (не больше 60 символов); nickname: обязательное поле; rsvp.contact: недопустимое значение; rsvp.guests: максимум гостей: 5",
			"kk": "rsvp.guests: 0 мен 5 аралығындағы санды таңдаңыз",
		}},
	}
	for _, c := range cases {
		for _, lang := range []string{"ru", "kk", "de", "fr", "nb"} {
			got := localize(acceptLanguage("grpcgateway-accept-language", lang), c.err)
			lm := localizedOf(t, got)
			if lm == nil || lm.GetLocale() != lang || lm.GetMessage() == "" {
				t.Errorf("%s in %s: LocalizedMessage %v", c.name, lang, lm)
				continue
			}
			if want, ok := c.want[lang]; ok && !strings.Contains(lm.GetMessage(), want) {
				t.Errorf("%s in %s: %q, want it to contain %q", c.name, lang, lm.GetMessage(), want)
			}
			before, after := status.Convert(c.err), status.Convert(got)
			if after.Code() != before.Code() || after.Message() != before.Message() || len(after.Details()) != len(before.Details())+1 {
				t.Errorf("%s in %s: %v became %v", c.name, lang, before, after)
			}
		}
		// English (and no language) leaves the refusal as it is.
		for _, ctx := range []context.Context{context.Background(), acceptLanguage("grpcgateway-accept-language", "en-GB")} {
			if got := localize(ctx, c.err); got != c.err {
				t.Errorf("%s in English: changed to %v", c.name, got)
			}
		}
	}
}

// Every FAILED_PRECONDITION of the store's refusals has its message in every language:
// a description reworded in errors.go without this file would lose its translations.
func TestEveryPreconditionLocalized(t *testing.T) {
	n := 0
	for _, e := range storeErrors {
		st := status.Convert(e.status("events/e", e.err))
		if st.Code() != codes.FailedPrecondition {
			continue
		}
		n++
		for _, lang := range []string{"ru", "kk", "de", "fr", "nb"} {
			if localizedText(lang, st) == "" {
				t.Errorf("%v (%q) has no %s message", e.err, st.Message(), lang)
			}
		}
	}
	if n < 8 {
		t.Errorf("only %d preconditions found", n)
	}
}

// Every message is in every language, with the same placeholders.
func TestServerMessagesComplete(t *testing.T) {
	for key, byLang := range serverMessages {
		var want string
		for _, lang := range []string{"ru", "kk", "de", "fr", "nb"} {
			s := byLang[lang]
			if s == "" {
				t.Errorf("%s lacks %s", key, lang)
				continue
			}
			got := strings.Join(placeholder.FindAllString(s, -1), ",")
			if lang == "ru" {
				want = got
			} else if !sameSet(got, want) {
				t.Errorf("%s in %s has placeholders %s, Russian %s", key, lang, got, want)
			}
		}
		if len(byLang) != 5 {
			t.Errorf("%s has %d languages, want 5", key, len(byLang))
		}
	}
	for _, key := range preconditionKeys {
		if serverMessages[key] == nil {
			t.Errorf("precondition message %s missing", key)
		}
	}
}

func sameSet(a, b string) bool {
	set := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, x := range strings.Split(s, ",") {
			m[x] = true
		}
		return m
	}
	x, y := set(a), set(b)
	if len(x) != len(y) {
		return false
	}
	for k := range x {
		if !y[k] {
			return false
		}
	}
	return true
}

// A successful call passes through untouched, and a refused one is localized, by the
// interceptors as the server chains them.
func TestLocalizeInterceptors(t *testing.T) {
	ctx := acceptLanguage("grpcgateway-accept-language", "ru")
	resp, err := localizeUnary(ctx, nil, &grpc.UnaryServerInfo{}, func(context.Context, any) (any, error) { return "ok", nil })
	if resp != "ok" || err != nil {
		t.Errorf("success: %v %v", resp, err)
	}
	_, err = localizeUnary(ctx, nil, &grpc.UnaryServerInfo{}, func(context.Context, any) (any, error) {
		return nil, rsvpError("events/e/rsvps/r", store.ErrNotStarted)
	})
	if lm := localizedOf(t, err); lm == nil || lm.GetLocale() != "ru" {
		t.Errorf("refusal: %v", err)
	}
}
