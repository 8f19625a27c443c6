package yubikey

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ebfe/scard"
	"github.com/go-piv/piv-go/v2/piv"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// Tests in this file need no card and no pcscd.

func TestTLV(t *testing.T) {
	long := bytes.Repeat([]byte{7}, 300)
	b := appendTLV(nil, 0x71, []byte("name"))
	b = appendTLV(b, 0x75, bytes.Repeat([]byte{1}, 0x90))
	b = appendTLV(b, 0x53, long)
	ts, err := parseTLVs(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 3 || string(ts[0].value) != "name" || len(ts[1].value) != 0x90 || !bytes.Equal(ts[2].value, long) {
		t.Fatalf("parsed %+v", ts)
	}
	if !bytes.Equal(b[6:9], []byte{0x75, 0x81, 0x90}) || !bytes.Equal(b[9+0x90:9+0x90+4], []byte{0x53, 0x82, 0x01, 0x2C}) {
		t.Fatalf("lengths not minimal: % x", b[:12])
	}
	for _, bad := range [][]byte{{0x71}, {0x71, 0x05, 1}, {0x71, 0x81}, {0x71, 0x82, 0x01}, {0x71, 0x85, 1}} {
		if _, err := parseTLVs(bad); err == nil {
			t.Errorf("parseTLVs(% x) accepted", bad)
		}
	}
	if v, ok := findTLV(ts, 0x75); !ok || len(v) != 0x90 {
		t.Fatal("findTLV")
	}
}

func TestFormatCode(t *testing.T) {
	for _, c := range []struct {
		v    []byte
		want string
	}{
		{[]byte{8, 0x05, 0x9E, 0xB4, 0xEA}, "94287082"}, // RFC 6238 T=59, as a YubiKey reduces it
		{[]byte{6, 0x00, 0x00, 0x00, 0x07}, "000007"},
		{[]byte{6, 0xFF, 0xFF, 0xFF, 0xFF}, "483647"}, // sign bit masked as yubikit does
	} {
		got, err := formatCode(Code{Serial: 1}, c.v)
		if err != nil || got.Value != c.want || got.Digits != int(c.v[0]) {
			t.Errorf("formatCode(% x) = %+v, %v; want %s", c.v, got, err, c.want)
		}
	}
	_, err := formatCode(Code{Serial: 13000001}, []byte{6, 1, 2})
	wantErr(t, err, bgerr.KindMFA, nil, "malformed OATH code from YubiKey 13000001", "unplug and re-plug the YubiKey, then retry")
}

func TestPick(t *testing.T) {
	have := []string{"GitHub:a", "60/Slow:a", "Amazon Web Services:a@1"}
	for _, c := range []struct {
		want   []string
		name   string
		period int
		ok     bool
	}{
		{[]string{"x", "Amazon Web Services:a@1"}, "Amazon Web Services:a@1", 30, true},
		{[]string{"Slow:a"}, "60/Slow:a", 60, true},
		{[]string{"github:a"}, "", 0, false}, // names are exact
		{nil, "", 0, false},
	} {
		n, p, ok := pick(c.want, have)
		if n != c.name || p != c.period || ok != c.ok {
			t.Errorf("pick(%q) = %q %d %v", c.want, n, p, ok)
		}
	}
	if got := totpChallenge(time.Unix(59, 0), 30); !bytes.Equal(got, []byte{0, 0, 0, 0, 0, 0, 0, 1}) {
		t.Fatalf("challenge % x", got)
	}
}

func TestAccountNames(t *testing.T) {
	for _, c := range []struct {
		serial, user string
		want         []string
	}{
		{"arn:aws:iam::111111111111:mfa/alice-bg", "alice-bg",
			[]string{"arn:aws:iam::111111111111:mfa/alice-bg", "Amazon Web Services:alice-bg@111111111111"}},
		{"arn:aws-us-gov:iam::222222222222:mfa/team/alice-yubikey", "alice-bg",
			[]string{"arn:aws-us-gov:iam::222222222222:mfa/team/alice-yubikey",
				"Amazon Web Services:alice-bg@222222222222", "Amazon Web Services:alice-yubikey@222222222222"}},
		{"GAHT12345678", "alice-bg", []string{"GAHT12345678"}},
	} {
		if got := OATHAccountNames(c.serial, c.user); !reflect.DeepEqual(got, c.want) {
			t.Errorf("OATHAccountNames(%s) = %q\nwant %q", c.serial, got, c.want)
		}
	}
}

func TestPCSCErrors(t *testing.T) {
	cases := []struct {
		err      error
		sentinel error
		msg      string
		hint     string
	}{
		{scard.ErrNoService, ErrNoService, "cannot reach the smart card service (pcscd) to talk to the YubiKey", serviceHint(runtime.GOOS)},
		{scard.ErrNoReadersAvailable, ErrNoKey, "no YubiKey is plugged in (the smart card service sees no reader)", "plug in the YubiKey and retry"},
		{scard.ErrSharingViolation, ErrBusy, "YubiKey 42 is in use by another program",
			"close the program that holds it (yubikey-agent: send it SIGHUP; gpg: gpgconf --kill scdaemon), then retry"},
		{scard.ErrResetCard, ErrReset, "YubiKey 42 was reset by another program during the operation",
			"retry; if it keeps happening, close other programs that use the YubiKey"},
		{scard.ErrRemovedCard, ErrRemoved, "YubiKey 42 was removed during the operation", "plug it back in and retry"},
		{scard.ErrNoSmartcard, ErrRemoved, "YubiKey 42 was removed during the operation", "plug it back in and retry"},
		// piv-go only passes on the message of the PC/SC code.
		{fmt.Errorf("connecting to smart card: %w", errors.New("the smart card cannot be accessed because of other connections outstanding")),
			ErrBusy, "YubiKey 42 is in use by another program",
			"close the program that holds it (yubikey-agent: send it SIGHUP; gpg: gpgconf --kill scdaemon), then retry"},
		{errors.New("command failed: scard response too short: 0"), ErrRemoved, "YubiKey 42 was removed during the operation", "plug it back in and retry"},
		{errors.New("something else"), nil, "reading slot 9d failed on YubiKey 42: something else", "unplug and re-plug the YubiKey, then retry"},
	}
	for _, c := range cases {
		err := cardError(bgerr.KindMFA, 42, "reading slot 9d", c.err)
		wantErr(t, err, bgerr.KindMFA, c.sentinel, c.msg, c.hint)
		if !errors.Is(err, c.err) {
			t.Errorf("%v: the cause is not kept", c.err)
		}
	}
	if !strings.Contains(serviceHint("linux"), "systemctl start pcscd.socket") {
		t.Error("linux hint")
	}
	// An error that already explains itself passes through.
	own := bgerr.New(bgerr.KindKeystore, "mine")
	if cardError(bgerr.KindMFA, 1, "x", own) != own {
		t.Error("cardError rewrapped a bgerr")
	}
}

func TestNotifier(t *testing.T) {
	// Certain: the line at once, the desktop after the delay.
	var n notices
	stop := (&n).notifier(60*time.Millisecond).touch(7, "do it", true)
	if lines, desktop := n.get(); len(lines) != 1 || lines[0] != "touch your YubiKey 7 to do it" || len(desktop) != 0 {
		t.Fatalf("at once: %q %q", lines, desktop)
	}
	time.Sleep(150 * time.Millisecond)
	stop()
	if lines, desktop := n.get(); len(lines) != 1 || len(desktop) != 1 || desktop[0] != "bg-agent: touch your YubiKey | YubiKey 7 is waiting: touch it to do it" {
		t.Fatalf("after the delay: %q %q", lines, desktop)
	}

	// Uncertain and over quickly: nothing at all.
	var quiet notices
	stop = (&quiet).notifier(100*time.Millisecond).touch(7, "do it", false)
	time.Sleep(20 * time.Millisecond)
	stop()
	time.Sleep(150 * time.Millisecond)
	if lines, desktop := quiet.get(); len(lines)+len(desktop) != 0 {
		t.Fatalf("a quick touch was announced: %q %q", lines, desktop)
	}

	// Uncertain and slow: the line and the desktop notice after the delay.
	var slow notices
	stop = (&slow).notifier(30*time.Millisecond).touch(0, "do it", false)
	time.Sleep(100 * time.Millisecond)
	stop()
	if lines, desktop := slow.get(); len(lines) != 1 || lines[0] != "touch your YubiKey to do it" ||
		len(desktop) != 1 || desktop[0] != "bg-agent: touch your YubiKey | YubiKey is waiting: touch it to do it" {
		t.Fatalf("slow: %q %q", lines, desktop)
	}

	// nil Notifier is silent.
	var none *Notifier
	none.touch(1, "x", true)()
}

func TestParseSlot(t *testing.T) {
	for in, want := range map[string]piv.Slot{"9d": piv.SlotKeyManagement, "9A": piv.SlotAuthentication, "0x9c": piv.SlotSignature,
		"9e": piv.SlotCardAuthentication, "82": {Key: 0x82, Object: 0x5fc10d}, "95": {Key: 0x95, Object: 0x5fc120}} {
		got, err := ParseSlot(in)
		if err != nil || got != want {
			t.Errorf("ParseSlot(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "9b", "f9", "96", "zz"} {
		_, err := ParseSlot(bad)
		wantErr(t, err, bgerr.KindUsage, nil, fmt.Sprintf("%q is not a PIV key slot", bad), "use 9d (the default), 9a, 9c, 9e or a retired slot 82-95")
	}
	if SlotName(piv.SlotKeyManagement) != "9d" {
		t.Fatal("SlotName")
	}
	k := SlotKey{PINPolicy: piv.PINPolicyAlways, TouchPolicy: piv.TouchPolicyNever}
	if k.PolicyString() != "PIN always, touch never" || (SlotKey{}).PolicyString() != "PIN unknown, touch unknown" {
		t.Fatal("PolicyString")
	}
}

// TestNoService runs the PC/SC client against a socket where no pcscd
// listens (PCSCLITE_CSOCK_NAME), in a child process because libpcsclite
// reads that variable once.
func TestNoService(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("PCSCLITE_CSOCK_NAME is pcsc-lite's")
	}
	if os.Getenv("BG_YUBIKEY_TEST_CHILD") == "1" {
		_, err := (&OATH{}).Code(context.Background(), CodeRequest{Names: []string{"x"}, For: "x"})
		fmt.Printf("oath: %v | %v | %v\n", err, bgerr.KindOf(err), errors.Is(err, ErrNoService))
		_, err = (&PIV{}).Key(context.Background(), 0, piv.SlotKeyManagement)
		fmt.Printf("piv: %v | %v | %v\n", err, bgerr.KindOf(err), errors.Is(err, ErrNoService))
		_, err = List(context.Background(), ListOptions{})
		fmt.Printf("list: %v\n", err)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNoService$")
	cmd.Env = append(os.Environ(), "BG_YUBIKEY_TEST_CHILD=1", "PCSCLITE_CSOCK_NAME="+t.TempDir()+"/no-pcscd.comm")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	const msg = "cannot reach the smart card service (pcscd) to talk to the YubiKey"
	for _, want := range []string{
		"oath: " + msg + " | mfa | true",
		"piv: " + msg + " | keystore | true",
		"list: " + msg,
	} {
		if !strings.Contains(string(out), want+"\n") {
			t.Errorf("child output lacks %q:\n%s", want, out)
		}
	}
}

// onCard hands a result back only while the caller waits; one that comes
// after the caller gave up goes to discard before the card is released.
func TestOnCard(t *testing.T) {
	const touchHint = "run the command again and touch the YubiKey while it blinks"
	for _, c := range []struct {
		name   string
		cancel bool
		kind   bgerr.Kind
		target error
		msg    string
		hint   string
	}{
		{"touch timeout", false, bgerr.KindKeystore, ErrTouchTimeout, "YubiKey 42 was not touched in time", touchHint},
		// A cancellation names the YubiKey asked for (here any).
		{"canceled", true, bgerr.KindCanceled, context.Canceled, "gave up waiting for the YubiKey", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			d := 50 * time.Millisecond
			if c.cancel {
				d = time.Minute
			}
			secret := []byte("the shared secret")
			finish := make(chan struct{})
			var discarded []byte
			got, err := onCard(ctx, bgerr.KindKeystore, 0, d, func(b []byte) { discarded = b; clear(b) },
				func(touching func(uint32)) ([]byte, error) {
					touching(42)
					if c.cancel {
						cancel()
					}
					<-finish
					return secret, nil
				})
			wantErr(t, err, c.kind, c.target, c.msg, c.hint)
			if got != nil {
				t.Errorf("result %q returned with the error", got)
			}
			close(finish)
			release, err := acquire(context.Background()) // waits for the abandoned work
			if err != nil {
				t.Fatal(err)
			}
			release()
			if len(discarded) == 0 || &discarded[0] != &secret[0] || !bytes.Equal(secret, make([]byte, len(secret))) {
				t.Fatalf("late result not discarded: discard got %q, secret now %q", discarded, secret)
			}
		})
	}

	t.Run("answered", func(t *testing.T) {
		got, err := onCard(context.Background(), bgerr.KindMFA, 0, time.Minute, func(string) { t.Error("discard called") },
			func(touching func(uint32)) (string, error) {
				touching(42)
				return "partial", errors.New("card error")
			})
		if got != "partial" || err == nil || err.Error() != "card error" {
			t.Fatalf("onCard = %q, %v", got, err)
		}
	})

	t.Run("card busy", func(t *testing.T) {
		release, err := acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err = onCard(ctx, bgerr.KindMFA, 7, time.Minute, nil, func(func(uint32)) (int, error) {
			t.Error("work ran without the card lock")
			return 0, nil
		})
		wantErr(t, err, bgerr.KindCanceled, context.DeadlineExceeded, "gave up waiting for YubiKey 7", "")
	})
}
