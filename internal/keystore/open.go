package keystore

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/99designs/keyring"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/keystore/dbusgate"
	"github.com/bg-agent/bg-agent/internal/paths"
)

const defaultService = "bg-agent"

// DefaultBackend is the backend used when none is configured (see
// dbusgate.DefaultBackend, which decides it before package init is over).
func DefaultBackend(goos string, haveSessionBus bool) string {
	return dbusgate.DefaultBackend(goos, haveSessionBus)
}

// Open opens the configured backend. It prompts for nothing: the file
// backend asks FilePassphrase on first use of an item.
func Open(opts Options) (*Store, error) {
	backend := opts.Backend
	if backend == "" {
		backend = DefaultBackend(runtime.GOOS, opts.HaveSessionBus)
	}
	if !slices.Contains(Backends, backend) {
		return nil, bgerr.New(bgerr.KindConfig,
			fmt.Sprintf("unknown keystore backend %q", backend),
			"set BG_AGENT_BACKEND to one of: "+strings.Join(Backends, ", "))
	}
	service := opts.ServiceName
	if service == "" {
		service = defaultService
	}
	s := &Store{backend: backend, prefix: itemPrefix(backend, runtime.GOOS),
		slotECDHFn: opts.SlotECDH, dualShareFn: opts.DualShare}
	s.cfg = keyring.Config{
		AllowedBackends: []keyring.BackendType{keyring.BackendType(backend)},
		ServiceName:     service,
		// Never synced to iCloud; readable by this binary without a dialog
		// while the login keychain is unlocked.
		KeychainSynchronizable:         false,
		KeychainTrustApplication:       true,
		KeychainAccessibleWhenUnlocked: true,
		LibSecretCollectionName:        collection(opts.Collection, service),
		KWalletAppID:                   service,
		KWalletFolder:                  service,
		KeyCtlScope:                    "user",
		PassPrefix:                     service,
		WinCredPrefix:                  service,
	}
	if backend == "file" {
		if opts.Dir == "" {
			return nil, bgerr.New(bgerr.KindConfig, "the file keystore needs a state directory",
				"set BG_AGENT_HOME to a directory for bg-agent state")
		}
		s.dir = filepath.Join(opts.Dir, "keystore")
		if err := paths.EnsureDir(s.dir); err != nil {
			return nil, err
		}
		s.cfg.FileDir = s.dir
		s.cfg.FilePasswordFunc = passphraseFunc(opts.FilePassphrase)
	}
	ring, err := keyring.Open(s.cfg)
	if err != nil {
		return nil, unavailable(backend, err)
	}
	s.ring = ring
	return s, nil
}

// itemPrefix is "user:" everywhere except file items on Windows, where the
// key is a file name and ":" would name an NTFS alternate data stream.
func itemPrefix(backend, goos string) string {
	if backend == "file" && goos == "windows" {
		return "user="
	}
	return "user:"
}

func unavailable(backend string, err error) error {
	hint := map[string]string{
		"keychain":       "the keychain backend exists only on macOS",
		"wincred":        "the wincred backend exists only on Windows",
		"secret-service": "start a Secret Service provider (gnome-keyring-daemon, KeePassXC) in this session",
		"kwallet":        "start kwalletd in this KDE session",
		"pass":           "install pass and set it up with: pass init GPG-KEY-ID",
		"keyctl":         "the keyctl backend needs the Linux kernel keyring",
	}[backend]
	msg := fmt.Sprintf("the %s keystore is not available on this machine", backend)
	if !errors.Is(err, keyring.ErrNoAvailImpl) {
		msg = fmt.Sprintf("cannot open the %s keystore: %v", backend, err)
	}
	hints := []string{"or set BG_AGENT_BACKEND=file to keep secrets in a passphrase-encrypted file (BG_AGENT_FILE_PASSPHRASE on headless machines)"}
	if hint != "" {
		hints = append([]string{hint}, hints...)
	} else {
		hints[0] = strings.TrimPrefix(hints[0], "or ")
	}
	return bgerr.Wrap(bgerr.KindKeystore, err, msg, hints...)
}

// collection is the Secret Service collection: bg-agent's own by default (a
// separate password guards break-glass keys, as aws-vault does); "login"
// uses the desktop's default keyring, which needs no creation dialog.
func collection(configured, service string) string {
	if configured != "" {
		return configured
	}
	return service
}
