package server

import (
	"context"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/text/language"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/rallyhq/rally/internal/streamchain"
)

// The refusals a participant reads (over REST, in the web client) carry, besides the
// English message, AIP-193's google.rpc.LocalizedMessage in the caller's language, when
// that is one the web client speaks. The language comes from the call's Accept-Language:
// grpc-gateway forwards the HTTP header as the metadata grpcgateway-accept-language; a
// gRPC caller may send accept-language. English callers get no LocalizedMessage: the
// message is already theirs, and it stays English for everyone (logs, tools, tests).
//
// The interceptors below wrap every call, outside the rate limits and validation, so that
// their refusals are localized too. A successful call returns at once: nothing is read or
// allocated for it.

// placeholder is a {name} of serverMessages.
var placeholder = regexp.MustCompile(`\{[a-z]+\}`)

// localizedTags are the languages of the web client other than English, with English
// first as what an unmatched caller gets. golang.org/x/text's matcher does the matching
// of Accept-Language (weights, regions, no and nn to nb) rather than a hand-written parse.
var localizedTags = []language.Tag{language.English, language.Russian, language.Kazakh, language.German, language.French, language.Norwegian}

var localizedMatcher = language.NewMatcher(localizedTags)

// callerLanguage is the base of the language to answer the caller in ("ru", "kk", "de",
// "fr", "nb"), or "" for English or a caller that asks for none of these.
func callerLanguage(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	accept := strings.Join(append(md.Get("grpcgateway-accept-language"), md.Get("accept-language")...), ",")
	if accept == "" {
		return ""
	}
	tags, _, err := language.ParseAcceptLanguage(accept)
	if err != nil || len(tags) == 0 {
		return ""
	}
	_, i, conf := localizedMatcher.Match(tags...)
	if conf == language.No || i <= 0 {
		return ""
	}
	if i == len(localizedTags)-1 {
		return "nb" // Norwegian is matched as "no"; the catalog is Bokmål's
	}
	base, _ := localizedTags[i].Base()
	return base.String()
}

func localizeUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if err == nil {
		return resp, nil
	}
	return resp, localize(ctx, err)
}

// localizeStage is localizeUnary for streams, a stage of the flat stream chain.
func localizeStage(c *streamchain.Call) (func(error) error, error) {
	ctx := c.Ctx
	return func(err error) error {
		if err == nil {
			return nil
		}
		return localize(ctx, err)
	}, nil
}

// localize adds a LocalizedMessage to err, a status, when the caller's language is one
// of localizedTags other than English and the refusal is one that localizedText knows.
// Anything else is returned as it is.
func localize(ctx context.Context, err error) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() == codes.OK {
		return err
	}
	lang := callerLanguage(ctx)
	if lang == "" {
		return err
	}
	for _, d := range st.Details() {
		if _, ok := d.(*errdetails.LocalizedMessage); ok {
			return err // localized already
		}
	}
	text := localizedText(lang, st)
	if text == "" {
		return err
	}
	with, werr := st.WithDetails(&errdetails.LocalizedMessage{Locale: lang, Message: text})
	if werr != nil {
		return err
	}
	return with.Err()
}

// localizedText is the message of st in lang, or "" when there is none.
func localizedText(lang string, st *status.Status) string {
	msg := func(key string, args ...string) string {
		s := serverMessages[key][lang]
		if s == "" {
			return ""
		}
		return strings.NewReplacer(args...).Replace(s)
	}
	switch st.Code() {
	case codes.ResourceExhausted:
		for _, d := range st.Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
				secs := ri.GetRetryDelay().AsDuration().Seconds()
				n := int(secs)
				if float64(n) < secs {
					n++
				}
				return msg("rate_limited_in", "{seconds}", strconv.Itoa(max(n, 1)))
			}
		}
		return msg("rate_limited")
	case codes.NotFound:
		m := st.Message()
		switch {
		case strings.Contains(m, "/rsvps/"):
			return msg("rsvp_not_found")
		case strings.Contains(m, "/claims/"), strings.Contains(m, "tasks/"):
			return msg("task_not_found")
		case strings.Contains(m, "events/"):
			return msg("event_not_found")
		}
		return msg("not_found")
	case codes.FailedPrecondition:
		for _, d := range st.Details() {
			if pf, ok := d.(*errdetails.PreconditionFailure); ok && len(pf.GetViolations()) > 0 {
				d := pf.GetViolations()[0].GetDescription()
				if strings.HasSuffix(d, "can never fit") { // rsvp.go's checkPartyFits, with its numbers
					return msg("party_too_large")
				}
				return msg(preconditionKeys[d])
			}
		}
	case codes.InvalidArgument:
		var parts []string
		for _, d := range st.Details() {
			br, ok := d.(*errdetails.BadRequest)
			if !ok {
				continue
			}
			for _, v := range br.GetFieldViolations() {
				parts = append(parts, msg("field", "{field}", v.GetField(), "{problem}", problem(lang, v.GetDescription())))
			}
		}
		return strings.Join(parts, "; ")
	}
	return ""
}

// preconditionKeys maps the English descriptions of errors.go's FAILED_PRECONDITION
// refusals to their messages (localized_test.go checks that every one of storeErrors has
// one).
var preconditionKeys = map[string]string{
	"the event is cancelled or over, so RSVPs to it cannot change":                                "event_closed",
	"not enough free places for more guests; cancel and RSVP again to join the waitlist":          "no_room",
	"the party is larger than all the event's places, so it could never get one":                  "party_too_large",
	"only an RSVP that holds a place can be checked in":                                           "not_going",
	"the RSVP, or the RSVP of the code's holder, has a buddy already; an RSVP has at most one":    "has_buddy",
	"the RSVP is cancelled, so it takes no buddy":                                                 "rsvp_cancelled",
	"the event has not started yet: check out once you have been there and are home safe":         "not_started",
	"the task is closed or past its deadline, and takes no claims":                                "task_closed",
	"every place on this task is taken; try again when a claim is completed, released or expires": "task_full",
	"the claim was released or has expired; claim the task again":                                 "claim_not_open",
}

// problems turn the validator's English descriptions (protovalidate's, and errors.go's
// own) into keys of serverMessages, with their numbers; one not listed is "invalid".
var problems = []struct {
	re  *regexp.Regexp
	key string
}{
	{regexp.MustCompile(`^unknown, expired or used buddy code: this is your own`), "buddy_self"},
	{regexp.MustCompile(`^unknown, expired or used buddy code`), "buddy_code"},
	{regexp.MustCompile(`(value is required|must be at least 1 characters)`), "required"},
	{regexp.MustCompile(`must be greater than or equal to (-?\d+) and less than or equal to (-?\d+)`), "between"},
	{regexp.MustCompile(`must be at most (\d+) characters`), "too_long"},
	{regexp.MustCompile(`value must be less than or equal to (-?\d+)`), "at_most"},
	{regexp.MustCompile(`value must be greater than or equal to (-?\d+)`), "at_least"},
	{regexp.MustCompile(`does not match regex pattern`), "pattern"},
	{regexp.MustCompile(`^at most (\d+) guests`), "guests_max"},
}

func problem(lang, description string) string {
	for _, p := range problems {
		m := p.re.FindStringSubmatch(description)
		if m == nil {
			continue
		}
		args := []string{}
		for i, name := range []string{"{a}", "{b}"} {
			if i+1 < len(m) {
				args = append(args, name, m[i+1])
			}
		}
		return strings.NewReplacer(args...).Replace(serverMessages[p.key][lang])
	}
	return serverMessages["invalid"][lang]
}

// serverMessages holds each message in the languages of localizedTags other than
// English (whose words are the status's message). {placeholders} are filled in above.
var serverMessages = map[string]map[string]string{
	"rate_limited": {
		"ru": "Сейчас слишком много запросов. Попробуйте чуть позже.",
		"kk": "Қазір сұраулар тым көп. Сәлден кейін қайталап көріңіз.",
		"de": "Gerade zu viele Anfragen. Versuchen Sie es gleich noch einmal.",
		"fr": "Trop de demandes pour le moment. Réessayez bientôt.",
		"nb": "For mange forespørsler akkurat nå. Prøv igjen om litt.",
	},
	"rate_limited_in": {
		"ru": "Сейчас слишком много запросов. Попробуйте ещё раз через {seconds} с.",
		"kk": "Қазір сұраулар тым көп. {seconds} с кейін қайталап көріңіз.",
		"de": "Gerade zu viele Anfragen. Versuchen Sie es in {seconds} s noch einmal.",
		"fr": "Trop de demandes pour le moment. Réessayez dans {seconds} s.",
		"nb": "For mange forespørsler akkurat nå. Prøv igjen om {seconds} s.",
	},
	"not_found": {
		"ru": "Не найдено. Возможно, это удалили или ссылка неверна.",
		"kk": "Табылмады. Ол жойылған болуы мүмкін немесе сілтеме қате.",
		"de": "Nicht gefunden. Es wurde vielleicht gelöscht, oder der Link ist falsch.",
		"fr": "Introuvable. Cela a peut-être été supprimé, ou le lien est erroné.",
		"nb": "Ikke funnet. Det kan være slettet, eller lenken er feil.",
	},
	"rsvp_not_found": {
		"ru": "Эта запись не найдена: возможно, её удалили (после акции или по просьбе), или ссылка неверна.",
		"kk": "Бұл жазылу табылмады: ол жойылған болуы мүмкін (шарадан кейін немесе сұрау бойынша) немесе сілтеме қате.",
		"de": "Diese Anmeldung wurde nicht gefunden: Sie wurde vielleicht gelöscht (nach der Veranstaltung oder auf Wunsch), oder der Link ist falsch.",
		"fr": "Cette inscription est introuvable : elle a peut-être été supprimée (après l’événement ou sur demande), ou le lien est erroné.",
		"nb": "Fant ikke denne påmeldingen: den kan være slettet (etter arrangementet eller etter ønske), eller lenken er feil.",
	},
	"event_not_found": {
		"ru": "Эта акция не найдена: возможно, её удалили, или ссылка неверна.",
		"kk": "Бұл шара табылмады: ол жойылған болуы мүмкін немесе сілтеме қате.",
		"de": "Diese Veranstaltung wurde nicht gefunden: Sie wurde vielleicht gelöscht, oder der Link ist falsch.",
		"fr": "Cet événement est introuvable : il a peut-être été supprimé, ou le lien est erroné.",
		"nb": "Fant ikke dette arrangementet: det kan være slettet, eller lenken er feil.",
	},
	"task_not_found": {
		"ru": "Эта задача не найдена: возможно, её удалили или срок её взятия истёк.",
		"kk": "Бұл тапсырма табылмады: ол жойылған немесе алу мерзімі өткен болуы мүмкін.",
		"de": "Diese Aufgabe wurde nicht gefunden: Sie wurde vielleicht gelöscht, oder Ihre Übernahme ist abgelaufen.",
		"fr": "Cette tâche est introuvable : elle a peut-être été supprimée, ou votre prise en charge a expiré.",
		"nb": "Fant ikke denne oppgaven: den kan være slettet, eller tiden din med den har utløpt.",
	},
	"event_closed": {
		"ru": "Акция отменена или уже прошла, поэтому записи на неё больше не меняются.",
		"kk": "Шара тоқтатылған немесе аяқталған, сондықтан оған жазылуларды өзгерту мүмкін емес.",
		"de": "Die Veranstaltung ist abgesagt oder vorbei, daher können Anmeldungen nicht mehr geändert werden.",
		"fr": "L’événement est annulé ou terminé : les inscriptions ne peuvent plus changer.",
		"nb": "Arrangementet er avlyst eller over, så påmeldinger kan ikke lenger endres.",
	},
	"no_room": {
		"ru": "Свободных мест для гостей не хватает; отмените запись и запишитесь снова, чтобы попасть в лист ожидания.",
		"kk": "Қонақтарға бос орын жетпейді; күту тізіміне түсу үшін жазылуды тоқтатып, қайта жазылыңыз.",
		"de": "Nicht genug freie Plätze für weitere Gäste; sagen Sie ab und melden Sie sich neu an, um auf die Warteliste zu kommen.",
		"fr": "Pas assez de places libres pour plus d’invités ; annulez et réinscrivez-vous pour rejoindre la liste d’attente.",
		"nb": "Ikke nok ledige plasser til flere gjester; avlys og meld deg på igjen for å komme på ventelisten.",
	},
	"party_too_large": {
		"ru": "Ваша группа больше, чем все места на акции, поэтому места она не получит никогда.",
		"kk": "Тобыңыз шарадағы барлық орыннан көп, сондықтан ешқашан орын ала алмайды.",
		"de": "Ihre Gruppe ist größer als alle Plätze der Veranstaltung und könnte nie einen bekommen.",
		"fr": "Votre groupe dépasse le nombre total de places : il ne pourrait jamais en obtenir.",
		"nb": "Gruppen din er større enn alle plassene på arrangementet, så den kan aldri få plass.",
	},
	"not_going": {
		"ru": "Отметить приход можно только у записи, за которой есть место.",
		"kk": "Орны бар жазылуды ғана келді деп белгілеуге болады.",
		"de": "Nur eine Anmeldung mit Platz kann eingecheckt werden.",
		"fr": "Seule une inscription qui a une place peut être pointée.",
		"nb": "Bare en påmelding med plass kan sjekkes inn.",
	},
	"has_buddy": {
		"ru": "У этой записи или у записи владельца кода уже есть напарник; напарник может быть только один.",
		"kk": "Бұл жазылудың немесе код иесі жазылуының серігі бар; серік біреу ғана бола алады.",
		"de": "Diese Anmeldung oder die der Person mit dem Code hat schon eine Begleitperson; es gibt höchstens eine.",
		"fr": "Cette inscription, ou celle de la personne qui a le code, a déjà un binôme ; il n’y en a qu’un.",
		"nb": "Denne påmeldingen, eller påmeldingen til den som har koden, har allerede en turvenn; man kan bare ha én.",
	},
	"rsvp_cancelled": {
		"ru": "Запись отменена, поэтому напарника у неё быть не может.",
		"kk": "Жазылу тоқтатылған, сондықтан оның серігі болмайды.",
		"de": "Die Anmeldung ist abgesagt und kann keine Begleitperson haben.",
		"fr": "L’inscription est annulée : elle ne peut pas avoir de binôme.",
		"nb": "Påmeldingen er avlyst, så den kan ikke ha turvenn.",
	},
	"not_started": {
		"ru": "Акция ещё не началась: отметьтесь, когда побываете на ней и вернётесь домой.",
		"kk": "Шара әлі басталған жоқ: оған барып, үйге аман жеткенде белгі қойыңыз.",
		"de": "Die Veranstaltung hat noch nicht begonnen: Melden Sie sich ab, wenn Sie dort waren und sicher zu Hause sind.",
		"fr": "L’événement n’a pas encore commencé : signalez votre retour une fois que vous y serez allé·e et bien rentré·e.",
		"nb": "Arrangementet har ikke startet ennå: sjekk ut når du har vært der og er trygt hjemme.",
	},
	"task_closed": {
		"ru": "Задача закрыта или её срок прошёл; взять её нельзя.",
		"kk": "Тапсырма жабық немесе мерзімі өткен; оны алу мүмкін емес.",
		"de": "Die Aufgabe ist geschlossen oder abgelaufen und kann nicht übernommen werden.",
		"fr": "La tâche est close ou échue : on ne peut plus la prendre.",
		"nb": "Oppgaven er stengt eller utløpt, og kan ikke tas.",
	},
	"task_full": {
		"ru": "Все места в этой задаче заняты; попробуйте снова, когда кто-то её выполнит, откажется или время истечёт.",
		"kk": "Бұл тапсырмадағы барлық орын бос емес; біреу орындағанда, бас тартқанда немесе мерзімі біткенде қайталап көріңіз.",
		"de": "Alle Plätze dieser Aufgabe sind vergeben; versuchen Sie es wieder, wenn eine Übernahme erledigt, zurückgegeben oder abgelaufen ist.",
		"fr": "Toutes les places de cette tâche sont prises ; réessayez quand une prise en charge sera terminée, rendue ou expirée.",
		"nb": "Alle plassene på denne oppgaven er tatt; prøv igjen når noen har gjort den ferdig, gitt den tilbake eller tiden har utløpt.",
	},
	"claim_not_open": {
		"ru": "Вы отказались от задачи, или срок истёк; возьмите её снова.",
		"kk": "Тапсырмадан бас тартылған немесе мерзімі біткен; оны қайта алыңыз.",
		"de": "Die Übernahme wurde zurückgegeben oder ist abgelaufen; übernehmen Sie die Aufgabe erneut.",
		"fr": "La prise en charge a été rendue ou a expiré ; reprenez la tâche.",
		"nb": "Oppgaven er gitt tilbake eller tiden har utløpt; ta den på nytt.",
	},
	"field": {
		"ru": "{field}: {problem}",
		"kk": "{field}: {problem}",
		"de": "{field}: {problem}",
		"fr": "{field} : {problem}",
		"nb": "{field}: {problem}",
	},
	"buddy_code": {
		"ru": "неизвестный, просроченный или уже использованный код напарника; попросите у напарника новый",
		"kk": "серік коды белгісіз, мерзімі өткен немесе қолданылған; серігіңізден жаңасын сұраңыз",
		"de": "unbekannter, abgelaufener oder schon benutzter Code; bitten Sie Ihre Begleitperson um einen neuen",
		"fr": "code de binôme inconnu, expiré ou déjà utilisé ; demandez-en un nouveau à votre binôme",
		"nb": "ukjent, utløpt eller brukt turvennkode; be turvennen din om en ny",
	},
	"buddy_self": {
		"ru": "это код вашей собственной записи: по нему присоединяется ваш напарник",
		"kk": "бұл өз жазылуыңыздың коды: серігіңіз осы кодпен қосылады",
		"de": "das ist der Code Ihrer eigenen Anmeldung: Ihre Begleitperson tritt damit bei",
		"fr": "c’est le code de votre propre inscription : c’est votre binôme qui le saisit",
		"nb": "dette er koden til din egen påmelding: det er turvennen din som bruker den",
	},
	"required": {
		"ru": "обязательное поле",
		"kk": "міндетті өріс",
		"de": "Pflichtfeld",
		"fr": "champ obligatoire",
		"nb": "må fylles ut",
	},
	"between": {
		"ru": "выберите число от {a} до {b}",
		"kk": "{a} мен {b} аралығындағы санды таңдаңыз",
		"de": "wählen Sie eine Zahl von {a} bis {b}",
		"fr": "choisissez un nombre de {a} à {b}",
		"nb": "velg et tall fra {a} til {b}",
	},
	"too_long": {
		"ru": "слишком длинно (не больше {a} символов)",
		"kk": "тым ұзын (ең көбі {a} таңба)",
		"de": "zu lang (höchstens {a} Zeichen)",
		"fr": "trop long ({a} caractères au plus)",
		"nb": "for langt (høyst {a} tegn)",
	},
	"at_most": {
		"ru": "не больше {a}",
		"kk": "ең көбі {a}",
		"de": "höchstens {a}",
		"fr": "{a} au plus",
		"nb": "høyst {a}",
	},
	"at_least": {
		"ru": "не меньше {a}",
		"kk": "кемінде {a}",
		"de": "mindestens {a}",
		"fr": "{a} au moins",
		"nb": "minst {a}",
	},
	"pattern": {
		"ru": "неверный формат",
		"kk": "пішімі дұрыс емес",
		"de": "nicht in der erwarteten Form",
		"fr": "n’a pas la forme attendue",
		"nb": "har ikke riktig form",
	},
	"guests_max": {
		"ru": "максимум гостей: {a}",
		"kk": "қонақтар саны ең көбі {a}",
		"de": "höchstens {a} Gäste",
		"fr": "{a} invités au plus",
		"nb": "høyst {a} gjester",
	},
	"invalid": {
		"ru": "недопустимое значение",
		"kk": "жарамсыз мән",
		"de": "ungültiger Wert",
		"fr": "valeur non valide",
		"nb": "ugyldig verdi",
	},
}
