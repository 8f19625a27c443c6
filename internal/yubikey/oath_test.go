package yubikey

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/vyubikey"
	"github.com/bg-agent/bg-agent/internal/vyubikey/vyubikeytest"
)

// rfc6238 are the test vectors of RFC 6238 appendix B (8 digits).
var rfc6238 = []struct {
	t                    int64
	sha1, sha256, sha512 string
}{
	{59, "94287082", "46119246", "90693936"},
	{1111111109, "07081804", "68084774", "25091201"},
	{1111111111, "14050471", "67062674", "99943326"},
	{1234567890, "89005924", "91819424", "93441116"},
	{2000000000, "69279037", "90698825", "38618901"},
	{20000000000, "65353130", "77737706", "47863826"},
}

func rfcCard(c *vyubikey.Card) error {
	seed := "1234567890"
	for _, cr := range []struct {
		name   string
		secret string
		opt    vyubikey.OATHOption
	}{
		{"rfc6238-sha1", strings.Repeat(seed, 2), nil},
		{"rfc6238-sha256", strings.Repeat(seed, 3) + "12", vyubikey.OATHSHA256()},
		{"rfc6238-sha512", strings.Repeat(seed, 6) + "1234", vyubikey.OATHSHA512()},
	} {
		opts := []vyubikey.OATHOption{vyubikey.OATHDigits(8)}
		if cr.opt != nil {
			opts = append(opts, cr.opt)
		}
		if err := c.AddOATH(cr.name, []byte(cr.secret), false, opts...); err != nil {
			return err
		}
	}
	return nil
}

func TestOATHRFC6238(t *testing.T) {
	startCard(t, vyubikeytest.Options{Serial: 13000101, Setup: rfcCard})
	for _, v := range rfc6238 {
		now := time.Unix(v.t, 0)
		o := &OATH{Now: func() time.Time { return now }}
		for _, c := range []struct{ name, want string }{
			{"rfc6238-sha1", v.sha1}, {"rfc6238-sha256", v.sha256}, {"rfc6238-sha512", v.sha512},
		} {
			got, err := o.Code(context.Background(), CodeRequest{Names: []string{"missing", c.name}, For: "test"})
			if err != nil {
				t.Fatalf("T=%d %s: %v", v.t, c.name, err)
			}
			if got.Value != c.want || got.Digits != 8 || got.Name != c.name || got.Serial != 13000101 || got.Touched {
				t.Errorf("T=%d %s: got %+v, want %s", v.t, c.name, got, c.want)
			}
		}
	}
}

// totp6 computes an RFC 6238 SHA-1 code independently of the card.
func totp6(secret []byte, t time.Time) string {
	m := hmac.New(sha1.New, secret)
	m.Write(binary.BigEndian.AppendUint64(nil, uint64(t.Unix()/30)))
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0F
	v := binary.BigEndian.Uint32(sum[off:]) & 0x7FFFFFFF
	return fmt.Sprintf("%06d", v%1_000_000)
}

const awsName = "Amazon Web Services:alice-bg@111111111111"

var awsSecret = []byte("break-glass-totp-seed")

func TestOATHTouch(t *testing.T) {
	card := startCard(t, vyubikeytest.Options{Serial: 13000102,
		Touch: vyubikey.TouchPolicy{Mode: vyubikey.TouchAuto, Delay: 400 * time.Millisecond},
		Setup: func(c *vyubikey.Card) error { return c.AddOATH(awsName, awsSecret, true) }})
	var n notices
	o := &OATH{Notify: n.notifier(100 * time.Millisecond)}
	start := time.Now()
	got, err := o.Code(context.Background(), CodeRequest{Serial: 13000102, Names: []string{awsName}, For: "x", Purpose: "get the test code"})
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if got.Value != totp6(awsSecret, time.Now()) && got.Value != totp6(awsSecret, time.Now().Add(-30*time.Second)) {
		t.Fatalf("code %q does not match RFC 6238", got.Value)
	}
	if !got.Touched || took < 400*time.Millisecond {
		t.Fatalf("did not wait for the touch: %+v after %v", got, took)
	}
	lines, desktop := n.get()
	if len(lines) != 1 || lines[0] != "touch your YubiKey 13000102 to get the test code" {
		t.Errorf("notices %q", lines)
	}
	if len(desktop) != 1 || desktop[0] != "bg-agent: touch your YubiKey | YubiKey 13000102 is waiting: touch it to get the test code" {
		t.Errorf("desktop notifications %q", desktop)
	}
	if card.TouchPending() {
		t.Fatal("card still waits for a touch")
	}
}

func TestOATHNoTouch(t *testing.T) {
	card := startCard(t, vyubikeytest.Options{Serial: 13000103,
		Touch: vyubikey.TouchPolicy{Mode: vyubikey.TouchNever, Timeout: time.Second},
		Setup: func(c *vyubikey.Card) error { return c.AddOATH(awsName, awsSecret, true) }})
	req := CodeRequest{Names: []string{awsName}, For: "x", Purpose: "get the test code"}
	const msg, hint = "YubiKey 13000103 was not touched in time", "run the command again and touch the YubiKey while it blinks"

	// The card gives up (6982) after its timeout.
	start := time.Now()
	_, err := (&OATH{}).Code(context.Background(), req)
	wantErr(t, err, bgerr.KindMFA, ErrTouchTimeout, msg, hint)
	if took := time.Since(start); took < time.Second || took > 5*time.Second {
		t.Errorf("gave up after %v, want about the card's 1 s", took)
	}

	// The client gives up first when the card would wait longer.
	card.SetTouch(vyubikey.TouchPolicy{Mode: vyubikey.TouchNever, Timeout: time.Minute})
	start = time.Now()
	_, err = (&OATH{TouchTimeout: 300 * time.Millisecond}).Code(context.Background(), req)
	wantErr(t, err, bgerr.KindMFA, ErrTouchTimeout, msg, hint)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("gave up after %v, want about 300ms", took)
	}
	// The abandoned exchange ends when the card answers, and frees the card.
	card.SetTouch(vyubikey.TouchPolicy{Mode: vyubikey.TouchAuto, Delay: time.Millisecond})
	if _, err := (&OATH{}).Code(context.Background(), req); err != nil {
		t.Fatalf("after the touch came: %v", err)
	}

	// A cancelled context stops the wait too.
	card.SetTouch(vyubikey.TouchPolicy{Mode: vyubikey.TouchNever, Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = (&OATH{}).Code(ctx, req)
	wantErr(t, err, bgerr.KindCanceled, nil, "gave up waiting for the YubiKey", "")
	card.SetTouch(vyubikey.TouchPolicy{Mode: vyubikey.TouchAuto, Delay: time.Millisecond})
}

func TestOATHRemovedMidOperation(t *testing.T) {
	card := startCard(t, vyubikeytest.Options{Serial: 13000104,
		Touch: vyubikey.TouchPolicy{Mode: vyubikey.TouchManual, Timeout: time.Minute},
		Setup: func(c *vyubikey.Card) error { return c.AddOATH(awsName, awsSecret, true) }})
	req := CodeRequest{Serial: 13000104, Names: []string{awsName}, For: "x", Purpose: "get the test code"}
	o := &OATH{}
	done := make(chan error, 1)
	go func() { _, err := o.Code(context.Background(), req); done <- err }()
	waitFor(t, "the card to wait for a touch", card.TouchPending)
	card.Disconnect()
	select {
	case err := <-done:
		wantErr(t, err, bgerr.KindMFA, ErrRemoved, "YubiKey 13000104 was removed during the operation", "plug it back in and retry")
	case <-time.After(15 * time.Second):
		t.Fatal("Code did not return after the card was removed")
	}

	if err := vyubikeytest.WaitRemoved(); err != nil {
		t.Fatal(err)
	}
	_, err := o.Code(context.Background(), req)
	wantErr(t, err, bgerr.KindMFA, ErrNoKey, "YubiKey 13000104 is not plugged in", "plug in YubiKey 13000104 and retry")
	req0 := req
	req0.Serial = 0
	_, err = o.Code(context.Background(), req0)
	wantErr(t, err, bgerr.KindMFA, ErrNoKey, "no YubiKey is plugged in", "plug in the YubiKey and retry")

	card.Reconnect()
	if err := vyubikeytest.WaitPresent(card); err != nil {
		t.Fatal(err)
	}
	card.SetTouch(vyubikey.TouchPolicy{Mode: vyubikey.TouchAuto, Delay: time.Millisecond})
	got, err := o.Code(context.Background(), req)
	if err != nil {
		t.Fatalf("after the card came back: %v", err)
	}
	if got.Value != totp6(awsSecret, time.Now()) && got.Value != totp6(awsSecret, time.Now().Add(-30*time.Second)) {
		t.Fatalf("code %q", got.Value)
	}
}

func TestOATHAccounts(t *testing.T) {
	startCard(t, vyubikeytest.Options{Serial: 13000105, Setup: func(c *vyubikey.Card) error {
		if err := c.AddOATH("GitHub:alice", []byte("gh-seed-12345"), false); err != nil {
			return err
		}
		if err := c.AddOATH("60/Slow:alice", awsSecret, false); err != nil {
			return err
		}
		if err := c.AddOATH("hotp:alice", awsSecret, false, vyubikey.OATHHOTP(0)); err != nil {
			return err
		}
		return c.AddOATH(awsName, awsSecret, false)
	}})
	o := &OATH{}
	ctx := context.Background()

	_, err := o.Code(ctx, CodeRequest{Names: []string{"arn:aws:iam::111111111111:mfa/bob-bg"}, For: "arn:aws:iam::111111111111:mfa/bob-bg"})
	wantErr(t, err, bgerr.KindMFA, ErrNotFound, "YubiKey 13000105 has no OATH account for arn:aws:iam::111111111111:mfa/bob-bg",
		"accounts on it: GitHub:alice, 60/Slow:alice, hotp:alice, "+awsName)

	_, err = o.Code(ctx, CodeRequest{Names: []string{"hotp:alice"}, For: "x"})
	wantErr(t, err, bgerr.KindMFA, nil, `OATH account "hotp:alice" on YubiKey 13000105 is counter-based (HOTP)`,
		"AWS needs a time-based (TOTP) account: add it again with ykman oath accounts add --oath-type TOTP")

	// A 60-s account is found by its name and computed with its period.
	got, err := o.Code(ctx, CodeRequest{Names: []string{"Slow:alice"}, For: "x"})
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha1.New, awsSecret)
	now := time.Now()
	m.Write(binary.BigEndian.AppendUint64(nil, uint64(now.Unix()/60)))
	sum := m.Sum(nil)
	off := sum[19] & 0x0F
	want := fmt.Sprintf("%06d", (binary.BigEndian.Uint32(sum[off:])&0x7FFFFFFF)%1_000_000)
	if got.Name != "60/Slow:alice" || (got.Value != want && now.Unix()%60 > 1) {
		t.Fatalf("60-s account: %+v, want %s", got, want)
	}

	// The MFA source: default names, 6 digits, exact code.
	src := &MFA{OATH: o}
	code, err := src.Code(ctx, mfaRequest("arn:aws:iam::111111111111:mfa/alice-bg", "alice-bg"))
	if err != nil {
		t.Fatal(err)
	}
	if code != totp6(awsSecret, time.Now()) && code != totp6(awsSecret, time.Now().Add(-30*time.Second)) {
		t.Fatalf("MFA code %q", code)
	}
	_, err = src.Code(ctx, mfaRequest("arn:aws:iam::111111111111:mfa/carol", "carol-bg"))
	wantErr(t, err, bgerr.KindMFA, ErrNotFound, "YubiKey 13000105 has no OATH account for arn:aws:iam::111111111111:mfa/carol",
		`set bg_oath_account = NAME in profile bg-test to the account's name (bg-agent looked for "arn:aws:iam::111111111111:mfa/carol", `+
			`"Amazon Web Services:carol-bg@111111111111", "Amazon Web Services:carol@111111111111")`)
	src.Account = "GitHub:alice"
	if code, err := src.Code(ctx, mfaRequest("arn:aws:iam::111111111111:mfa/carol", "carol-bg")); err != nil || !regexp.MustCompile(`^\d{6}$`).MatchString(code) {
		t.Fatalf("bg_oath_account: %q %v", code, err)
	}
}

func TestOATHPassword(t *testing.T) {
	const password = "correct horse"
	startCard(t, vyubikeytest.Options{Serial: 13000106, Setup: func(c *vyubikey.Card) error {
		return c.AddOATH(awsName, awsSecret, false)
	}})
	// Yubico's ykman sets the password, so that the key derivation and the
	// unlock are checked against another implementation than ours.
	if _, err := vyubikeytest.Ykman(t, "--device", "13000106", "oath", "access", "change", "-n", password); err != nil {
		t.Fatal(err)
	}
	var asked atomic.Int32
	answer := "wrong horse"
	o := &OATH{Password: func(serial uint32) (string, error) {
		if serial != 13000106 {
			t.Errorf("password asked for %d", serial)
		}
		asked.Add(1)
		return answer, nil
	}}
	req := CodeRequest{Names: []string{awsName}, For: "x"}
	_, err := o.Code(context.Background(), req)
	wantErr(t, err, bgerr.KindMFA, ErrPassword, "wrong OATH password for YubiKey 13000106",
		"run the command again and enter the password set with: ykman oath access change")
	if asked.Load() != 1 {
		t.Fatalf("password asked %d times, want 1", asked.Load())
	}
	answer = password
	for i := 0; i < 2; i++ {
		got, err := o.Code(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if got.Value != totp6(awsSecret, time.Now()) && got.Value != totp6(awsSecret, time.Now().Add(-30*time.Second)) {
			t.Fatalf("code %q", got.Value)
		}
	}
	if asked.Load() != 2 {
		t.Fatalf("password asked %d times in all, want 2 (the key is remembered)", asked.Load())
	}
	_, err = (&OATH{}).Code(context.Background(), req)
	wantErr(t, err, bgerr.KindMFA, ErrPassword, "the OATH applet of YubiKey 13000106 is password-protected",
		"run bg-agent from a terminal (or with a desktop session) to be asked for the password")
}

func TestOATHSeveralKeys(t *testing.T) {
	otherSecret := []byte("the-other-key-seed")
	startCard(t, vyubikeytest.Options{Serial: 13000107, Setup: func(c *vyubikey.Card) error { return c.AddOATH(awsName, awsSecret, false) }})
	plugSecond(t, 13000108, func(c *vyubikey.Card) error { return c.AddOATH(awsName, otherSecret, false) })

	o := &OATH{}
	_, err := o.Code(context.Background(), CodeRequest{Names: []string{awsName}, For: "x"})
	wantErr(t, err, bgerr.KindMFA, ErrSeveral, "several YubiKeys are plugged in (13000107, 13000108)",
		"set bg_yubikey_serial in the profile to the one to use, or unplug the others")

	for serial, secret := range map[uint32][]byte{13000107: awsSecret, 13000108: otherSecret} {
		got, err := o.Code(context.Background(), CodeRequest{Serial: serial, Names: []string{awsName}, For: "x"})
		if err != nil {
			t.Fatal(err)
		}
		if got.Serial != serial || (got.Value != totp6(secret, time.Now()) && got.Value != totp6(secret, time.Now().Add(-30*time.Second))) {
			t.Fatalf("serial %d: %+v", serial, got)
		}
	}
	_, err = o.Code(context.Background(), CodeRequest{Serial: 13000109, Names: []string{awsName}, For: "x"})
	wantErr(t, err, bgerr.KindMFA, ErrNoKey, "YubiKey 13000109 is not plugged in (found: 13000107, 13000108)",
		"plug in YubiKey 13000109 and retry")

	keys, err := List(context.Background(), ListOptions{})
	if err != nil || len(keys) != 2 || keys[0].Serial != 13000107 || keys[1].Serial != 13000108 ||
		keys[0].VersionString() != "5.4.3" || keys[1].Reader != secondReader {
		t.Fatalf("List = %+v, %v", keys, err)
	}
}

// Yubico's ykman, talking to the same card through pcscd, computes the
// same codes as bg-agent.
func TestOATHMatchesYkman(t *testing.T) {
	startCard(t, vyubikeytest.Options{Serial: 13000110, Setup: func(c *vyubikey.Card) error {
		if err := c.AddOATH(awsName, awsSecret, false); err != nil {
			return err
		}
		if err := c.AddOATH("Amazon Web Services:bob-bg@222222222222", []byte("bob-seed-0123456789"), true); err != nil {
			return err
		}
		return c.AddOATH("eight", []byte("eight-digit-seed"), false, vyubikey.OATHDigits(8))
	}})
	// `code --single` computes touch accounts too (the card auto-touches).
	for _, n := range []string{awsName, "Amazon Web Services:bob-bg@222222222222", "eight"} {
		for attempt := 0; ; attempt++ {
			before := time.Now().Unix() / 30
			out, err := vyubikeytest.Ykman(t, "--device", "13000110", "oath", "accounts", "code", "--single", n)
			if err != nil {
				t.Fatal(err)
			}
			ours, err := (&OATH{}).Code(context.Background(), CodeRequest{Names: []string{n}, For: n})
			if err != nil {
				t.Fatal(err)
			}
			if time.Now().Unix()/30 != before && attempt < 3 {
				continue // a window boundary fell between the two: again
			}
			if theirs := strings.TrimSpace(out); theirs != ours.Value {
				t.Errorf("%s: ykman %q, bg-agent %q", n, theirs, ours.Value)
			}
			break
		}
	}
}
