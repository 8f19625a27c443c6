package yubikey

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/vyubikey/vyubikeytest"
)

// TestNoReader runs the clients against a pcscd that sees no reader at
// all (in a child process: libpcsclite reads PCSCLITE_CSOCK_NAME once):
// the error names gpg's scdaemon, which takes readers away from pcscd.
func TestNoReader(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("PCSCLITE_CSOCK_NAME is pcsc-lite's")
	}
	if os.Getenv("BG_YUBIKEY_TEST_CHILD") == "noreader" {
		if !noReader() {
			fmt.Println("skip: this pcscd sees a reader")
			return
		}
		_, err := (&OATH{}).Code(context.Background(), CodeRequest{Names: []string{"x"}, For: "x"})
		fmt.Printf("oath: %v | %q | %v\n", err, bgerr.HintsOf(err), errors.Is(err, ErrNoKey))
		_, err = (&PIV{}).Key(context.Background(), 13000001, piv.SlotKeyManagement)
		fmt.Printf("piv: %v | %q | %v\n", err, bgerr.HintsOf(err), errors.Is(err, ErrNoKey))
		return
	}
	sock := vyubikeytest.NoReaderPCSCD(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestNoReader$")
	cmd.Env = append(os.Environ(), "BG_YUBIKEY_TEST_CHILD=noreader", "PCSCLITE_CSOCK_NAME="+sock)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.Contains(string(out), "skip: ") {
		t.Skipf("the private pcscd sees a reader of this machine:\n%s", out)
	}
	hint := `"` + scdaemonHint + `"`
	if !strings.Contains(scdaemonHint, "add disable-ccid to ~/.gnupg/scdaemon.conf, then run: gpgconf --kill scdaemon") {
		t.Errorf("hint %q", scdaemonHint)
	}
	for _, want := range []string{
		`oath: no YubiKey is plugged in (the smart card service sees no reader) | ["plug in the YubiKey and retry" ` + hint + `] | true`,
		`piv: YubiKey 13000001 is not plugged in (the smart card service sees no reader) | ["plug in YubiKey 13000001 and retry" ` + hint + `] | true`,
	} {
		if !strings.Contains(string(out), want+"\n") {
			t.Errorf("child output lacks %q:\n%s", want, out)
		}
	}
}
