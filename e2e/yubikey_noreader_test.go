package e2e

import (
	"runtime"
	"strings"
	"testing"

	"github.com/bg-agent/bg-agent/internal/vyubikey/vyubikeytest"
)

// A pcscd that sees no reader at all (gpg's scdaemon may have taken the
// key with its own CCID driver): bg_mfa = yubikey names scdaemon and the
// fix. With readers present but empty it does not (TestYubiKeyChain).
func TestYubiKeyNoReader(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("PCSCLITE_CSOCK_NAME is pcsc-lite's")
	}
	sock := vyubikeytest.NoReaderPCSCD(t)
	o := newOperator(t)
	o.store()
	o.profile("bg-yk", "eu-west-1", "bg_mfa = yubikey")
	o.extraEnv = append(o.extraEnv, "PCSCLITE_CSOCK_NAME="+sock, "BG_AGENT_DIRECT=1")
	if onPath("ykman") {
		if r := o.run("", "ykman", "list", "--readers"); r.code != 0 || r.stdout != "" {
			t.Skipf("the private pcscd sees a reader of this machine: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	}
	r := o.bgAgent("process", "bg-yk")
	wantError(t, r, "",
		"plug in the YubiKey and retry",
		"if it is plugged in, gpg's scdaemon may hold it with its own CCID driver: add disable-ccid to ~/.gnupg/scdaemon.conf, then run: gpgconf --kill scdaemon")
	if !strings.Contains(r.stderr, "no YubiKey is plugged in (the smart card service sees no reader)\n") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}
