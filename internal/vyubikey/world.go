package vyubikey

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"
)

// ReaderName is the PC/SC reader the card appears in when connected to
// DefaultVPCDAddr under scripts/pcsc-world.sh, whose reader config names
// vpcd like a YubiKey so name filters ("yubikey") match. vpcd always makes
// a second, empty reader ("… 00 01", port 35964), which is why ykman needs
// `--reader ReaderName` there: without it ykman counts two YubiKeys.
const ReaderName = "Yubico YubiKey OTP+FIDO+CCID 00 00"

// LockVPCD takes a machine-wide lock on the vpcd reader at addr, so test
// packages that run at the same time (go test ./...) take turns with the
// one reader instead of plugging two cards into it. unlock releases it.
func LockVPCD(ctx context.Context, addr string) (unlock func(), err error) {
	if addr == "" {
		addr = DefaultVPCDAddr
	}
	name := "bg-vyubikey-" + strings.NewReplacer(":", "-", "/", "-").Replace(addr) + ".lock"
	fl := flock.New(filepath.Join(os.TempDir(), name), flock.SetPermissions(0o666))
	locked, err := fl.TryLockContext(ctx, 50*time.Millisecond)
	if err != nil {
		return nil, fmt.Errorf("locking vpcd reader %s: %w", addr, err)
	}
	if !locked {
		return nil, fmt.Errorf("locking vpcd reader %s: %w", addr, ctx.Err())
	}
	return func() { fl.Unlock() }, nil
}
