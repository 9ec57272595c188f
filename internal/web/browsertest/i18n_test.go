package browsertest_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/rallyhq/rally/internal/web/browsertest"
)

// waitLang waits until the page speaks lang: the document's lang attribute, which
// i18n.js sets before any page renders.
func waitLang(p *browsertest.Page, lang string) {
	p.Wait("the page in "+lang, `document.documentElement.lang === "`+lang+`"`)
}

// A Kazakh-speaking participant, on a phone whose browser is in English, opens the event
// link the organisers shared in Kazakh (?hl=kk): reads the event, RSVPs, and manages the
// RSVP, all in Kazakh, with the server's refusals in Kazakh too; the link to manage it
// opens in Kazakh on another device.
func TestKazakhParticipant(t *testing.T) {
	r := startRally(t)
	r.event(t, r.campaign(t, "kz-solidarity"), "vigil-berlin", "Vigil at the Embassy of Kazakhstan", "Berlin", "DE", 10)
	b := browsertest.Start(t)

	p := b.NewPage("aru", browsertest.Phone)
	p.Open(r.base + "/e/vigil-berlin?hl=kk")
	waitLang(p, "kk")
	p.WaitText("h1", re(`^Vigil at the Embassy of Kazakhstan$`))
	p.WaitText("#att-h", re(`^Қатысушылар$`))
	p.WaitText("#attendance", re(`^0 адам келеді \(10 орын\)$`))
	// Intl in Kazakh: 17 May 2030 is "17 мамыр".
	p.WaitText("#event-when", re(`17 мамыр`))
	// Country names come from the browser's Intl.DisplayNames: Debian's Chromium has none
	// in Kazakh and gives English ones, a full ICU Kazakh ones.
	p.WaitText("#event-where", re(`^Елшілік \((Қазақстан|Kazakhstan)\) · Berlin, (Германия|Germany)$`))
	p.WaitText("#rsvp-h", re(`^Жазылу$`))
	p.WaitText("label[for=rsvp-name]", re(`^Аты немесе бүркеншік ат \(міндетті емес\)$`))
	p.WaitText("p.live", re(`^Тікелей: өзгерістер бірден көрінеді\.$`))
	if got := p.Eval(`document.getElementById("lang-switch").value`); got != "kk" {
		t.Errorf("the switch shows %q, want kk", got)
	}

	// RSVP.
	p.Fill("#rsvp-name", "Aru")
	p.Fill("#rsvp-guests", "2")
	p.Click("#rsvp-submit")
	p.WaitText("#my-rsvp-state", re(`^Барасыз, 2 қонақпен\. \(Aru ретінде\)$`))
	p.WaitText("#attendance", re(`^3 адам келеді \(10 орын\)$`))
	p.WaitText("#my-rsvp-h", re(`^Менің жазылуым$`))
	p.WaitText("#meeting-point", re(`^Ұйымдастырушылар жиналатын орынды осында хабарлайды\.$`))
	p.WaitText("#check-out-button", re(`^Мен үйдемін, аманмын$`))
	manage := p.Eval(`document.querySelector("#manage-link a").href`)
	if u, err := url.Parse(manage); err != nil || u.Query().Get("hl") != "kk" || !strings.Contains(u.Fragment, "token=") {
		t.Errorf("the manage link %q does not open in Kazakh", manage)
	}

	// Manage it: a wrong buddy code is refused by the server, in Kazakh (its
	// LocalizedMessage), naming the field.
	p.WaitText("#buddy-h", re(`^Серік$`))
	p.Fill("#buddy-join-code", "aaaa-aaaa-aaaa")
	p.Fill("#buddy-join-nickname", "Poppy")
	p.Click("#buddy-join-submit")
	p.WaitText("#buddy-error", re(`^buddy_code: серік коды белгісіз, мерзімі өткен немесе қолданылған; серігіңізден жаңасын сұраңыз$`))
	// Check-out before the start is not offered: the hint says when, in Kazakh.
	p.WaitText("#check-out-hint", re(`^Шара басталғаннан кейін \(.*2030.*\), одан соң үйге аман жеткенде осыны басыңыз\.`))
	// Cancel.
	p.Click("#my-rsvp-cancel")
	p.WaitText("#my-rsvp-state", re(`^Тоқтатылды\. \(Aru ретінде\)$`))

	// The private link, opened on another device whose browser is in English, is Kazakh.
	other := b.NewPage("aru-laptop", browsertest.Desktop)
	other.Open(manage)
	waitLang(other, "kk")
	other.WaitText("#my-rsvp-state", re(`^Тоқтатылды\.`))
	other.WaitText("#my-rsvp-h", re(`^Менің жазылуым$`))
	// Within the tab the language stays, from page to page, although the address no
	// longer says it.
	other.Click(`a[href="/c/kz-solidarity"]`)
	waitLang(other, "kk")
	other.WaitText("#events-h", re(`^Шаралар$`))
	if got := other.Eval(`location.search`); got != "" {
		t.Errorf("the campaign page's address has %q", got)
	}
}

// A browser whose languages are Russian gets the pages in Russian without touching
// anything, with Russian plurals, and the server's refusals in Russian.
func TestRussianBrowser(t *testing.T) {
	r := startRally(t)
	r.event(t, r.campaign(t, "kz-solidarity"), "vigil-berlin", "Vigil at the Embassy of Kazakhstan", "Berlin", "DE", 10)
	b := browsertest.Start(t)
	p := b.NewPage("dana", browsertest.Phone)
	p.Languages("ru-RU,ru,en-US", "ru_RU")
	p.Open(r.base + "/e/vigil-berlin")
	waitLang(p, "ru")
	p.WaitText("#att-h", re(`^Участники$`))
	p.WaitText("#attendance", re(`^Придут 0 человек \(10 мест\)$`))
	p.WaitText("#event-when", re(`17 мая`))
	p.WaitText("#rsvp-submit", re(`^Записаться$`))
	p.WaitText("label[for=lang-switch]", re(`^Язык$`))

	p.Fill("#rsvp-name", "Дана")
	p.Fill("#rsvp-guests", "1")
	p.Click("#rsvp-submit")
	p.WaitText("#my-rsvp-state", re(`^Вы идёте с 1 гостем\. \(как Дана\)$`))
	p.WaitText("#attendance", re(`^Придут 2 человека \(10 мест\)$`))

	// A refusal by the server's validation: in Russian, naming the field.
	q := b.NewPage("dana-friend", browsertest.Phone)
	q.Languages("ru-RU,ru", "ru_RU")
	q.Open(r.base + "/e/vigil-berlin")
	q.Eval(`(document.getElementById("rsvp-guests").removeAttribute("max"), "")`)
	q.Fill("#rsvp-guests", "9")
	q.Click("#rsvp-submit")
	q.WaitText("#form-error", re(`guests: максимум гостей: 5`))

	// An unknown page: 404, and the shell says so in Russian.
	q.Open(r.base + "/nope")
	q.WaitText("h1", re(`^Страница не найдена$`))

	// A Norwegian browser ("no", not "nb") gets Bokmål.
	n := b.NewPage("nora", browsertest.Phone)
	n.Languages("no,en;q=0.5", "nb_NO")
	n.Open(r.base + "/e/vigil-berlin")
	waitLang(n, "nb")
	n.WaitText("#att-h", re(`^Deltakelse$`))
}

// The switch in the footer changes the language on every page, remembered on the
// device; ?hl= wins over it for the tab; clearing Rally from the device forgets it.
func TestLanguageSwitchPersists(t *testing.T) {
	r := startRally(t)
	r.event(t, r.campaign(t, "kz-solidarity"), "vigil-berlin", "Vigil at the Embassy of Kazakhstan", "Berlin", "DE", 10)
	b := browsertest.Start(t)
	p := b.NewPage("jonas", browsertest.Desktop)
	p.Open(r.base + "/")
	waitLang(p, "en")
	p.WaitText("h1", re(`^Campaigns$`))
	if got := p.Eval(`document.querySelector('meta[name="description"]').content`); !strings.HasPrefix(got, "Rally: find and join") {
		t.Errorf("meta description %q", got)
	}
	names := p.Eval(`[...document.querySelectorAll("#lang-switch option")].map((o) => o.value + "=" + o.textContent).join(" ")`)
	if names != "en=English ru=Русский kk=Қазақ тілі de=Deutsch fr=Français nb=Norsk bokmål" {
		t.Errorf("the switch offers %s", names)
	}

	p.Eval(`(() => { const s = document.getElementById("lang-switch"); s.value = "de"; s.dispatchEvent(new Event("change")); return ""; })()`)
	waitLang(p, "de")
	p.WaitText("h1", re(`^Kampagnen$`))
	if got := p.Eval(`document.querySelector('meta[name="description"]').content`); !strings.HasPrefix(got, "Rally: Finden Sie") {
		t.Errorf("meta description in German: %q", got)
	}
	// Another page, opened anew: still German.
	p.Open(r.base + "/e/vigil-berlin")
	waitLang(p, "de")
	p.WaitText("#att-h", re(`^Teilnahme$`))
	p.WaitText("#attendance", re(`^0 kommen \(10 Plätze\)$`))
	p.WaitText("#clear-device", re(`^Rally von diesem Gerät löschen$`))

	// ?hl= wins for this tab, without changing the device's choice.
	p.Open(r.base + "/e/vigil-berlin?hl=fr")
	waitLang(p, "fr")
	p.WaitText("#att-h", re(`^Participation$`))
	if got := p.Eval(`localStorage.getItem("rally.lang")`); got != "de" {
		t.Errorf("the device's choice is %q after ?hl=fr, want de", got)
	}

	// Clearing Rally from the device forgets the choice too.
	p.Click("#clear-device")
	p.Click("#clear-device-confirm")
	p.WaitText("#cleared-note", regexp.MustCompile(`.`))
	if got := p.Eval(`String(localStorage.getItem("rally.lang"))`); got != "null" {
		t.Errorf("after clearing, the choice is %q", got)
	}
}
