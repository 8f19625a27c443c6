package doctor

import (
	"testing"

	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/keystore"
)

func TestYubiKeyChoice(t *testing.T) {
	ps := []*config.Profile{
		{Name: "bg-a", User: "alice-bg", MFA: config.MFAYubiKey},                        // names none: warned
		{Name: "bg-b", User: "bob-bg", MFA: config.MFAYubiKey, YubiKeySerial: 17000002}, // names one: fine
		{Name: "bg-c", User: "carol-bg", MFA: config.MFAYubiKey},                        // sealed to a plugged-in key: that one is suggested
		{Name: "bg-d", User: "dave-bg", MFA: config.MFAPrompt},                          // sealed, names its key itself: fine
		{Name: "bg-e", User: "erin-bg", MFA: config.MFAPrompt},                          // sealed to a key without serial: warned
		{Name: "bg-f", User: "frank-bg", MFA: config.MFAPrompt},                         // no YubiKey at all
	}
	entries := []keystore.Entry{
		{User: "carol-bg", Sealed: "YubiKey 17000002 slot 9d", SealedTo: 17000002},
		{User: "dave-bg", Sealed: "YubiKey 17000001 slot 9d", SealedTo: 17000001},
		{User: "erin-bg", Sealed: "YubiKey 0 slot 9d"},
		{User: "frank-bg"},
	}
	r := &Report{}
	r.YubiKeyChoice("/home/a/.aws/config", ps, entries, []uint32{17000002, 17000001})
	want := "WARN  profile bg-a: takes its MFA code from a YubiKey without naming it, and 2 are plugged in (17000001, 17000002): it fails until one is named\n" +
		"      fix: add to [profile bg-a] in /home/a/.aws/config: bg_yubikey_serial = SERIAL (one of 17000001, 17000002)\n" +
		"WARN  profile bg-c: takes its MFA code from a YubiKey without naming it, and 2 are plugged in (17000001, 17000002): it fails until one is named\n" +
		"      fix: add to [profile bg-c] in /home/a/.aws/config: bg_yubikey_serial = 17000002 (the YubiKey its secret is sealed to; plugged in: 17000001, 17000002)\n" +
		"WARN  profile bg-e: the key of erin-bg is sealed to a YubiKey that has no serial, and 2 are plugged in (17000001, 17000002): bg-agent cannot tell which one opens it\n" +
		"      fix: unplug the other YubiKeys while using profile bg-e\n"
	if got := lines(r); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}

	// One YubiKey (or none): nothing to choose.
	for _, serials := range [][]uint32{nil, {17000001}} {
		r = &Report{}
		r.YubiKeyChoice("cfg", ps, entries, serials)
		if len(r.Checks) != 0 {
			t.Errorf("%v plugged in: %s", serials, lines(r))
		}
	}

	// YubiKeys leaves "any YubiKey" to YubiKeyChoice when there are several.
	r = &Report{}
	r.YubiKeys(map[uint32][]string{0: {"MFA of bg-a"}, 17000001: {"the sealed key of dave-bg"}}, []uint32{17000001, 17000002}, nil)
	if got := lines(r); got != "ok    yubikey 17000001: plugged in (for the sealed key of dave-bg)\n" {
		t.Errorf("YubiKeys with two plugged in:\n%s", got)
	}
}
