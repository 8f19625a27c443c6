package main

import (
	"context"
	"crypto/ecdh"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/broker"
	"github.com/bg-agent/bg-agent/internal/chain"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/issue"
	"github.com/bg-agent/bg-agent/internal/keystore"
	"github.com/bg-agent/bg-agent/internal/mfa"
	"github.com/bg-agent/bg-agent/internal/paths"
	"github.com/bg-agent/bg-agent/internal/prompt"
	"github.com/bg-agent/bg-agent/internal/yubikey"
)

// This file is the only place that reads bg-agent's environment variables
// (DESIGN.md §3) and turns them into the internal packages' options.

// stateDir resolves and secures the state directory once per run: a
// credential_process call needs it several times (declaration, audit log,
// locks) and should stat and chmod it only once.
func (a *appCtx) stateDir() (string, error) {
	if a.state != "" {
		return a.state, nil
	}
	dir, err := paths.StateDir(a.env.Getenv, runtime.GOOS)
	if err != nil {
		return "", err
	}
	if err := paths.EnsureDir(dir); err != nil {
		return "", err
	}
	a.state = dir
	return dir, nil
}

func (a *appCtx) configFile() (string, error) { return paths.AWSConfigFile(a.env.Getenv) }

func (a *appCtx) openStore() (*keystore.Store, error) {
	dir, err := a.stateDir()
	if err != nil {
		return nil, err
	}
	return keystore.Open(keystore.Options{
		Backend:        a.env.Getenv("BG_AGENT_BACKEND"),
		Dir:            dir,
		HaveSessionBus: a.env.Getenv("DBUS_SESSION_BUS_ADDRESS") != "",
		Collection:     a.env.Getenv("BG_AGENT_SECRET_SERVICE_COLLECTION"),
		FilePassphrase: a.filePassphrase,
		SlotECDH:       a.slotECDH,
		DualShare:      a.dualShare,
	})
}

// filePassphrase unlocks the encrypted file keystore: from
// BG_AGENT_FILE_PASSPHRASE on headless machines, else asked on the terminal.
func (a *appCtx) filePassphrase(prompt string) (string, error) {
	if p := a.env.Getenv("BG_AGENT_FILE_PASSPHRASE"); p != "" {
		return p, nil
	}
	if a.env.ReadSecret != nil {
		if p, err := a.env.ReadSecret("bg-agent: " + prompt + " "); err == nil {
			return p, nil
		}
	}
	return "", bgerr.New(bgerr.KindKeystore, "the file keystore needs a passphrase and there is no terminal to ask for it",
		"set BG_AGENT_FILE_PASSPHRASE, or run from a terminal")
}

// mfaSource picks the profile's code source.
func (a *appCtx) mfaSource(p *config.Profile) (mfa.Source, error) {
	switch p.MFA {
	case config.MFACommand:
		return &mfa.Command{Line: p.MFACommand, StderrFor: sync.OnceValue(a.operatorWriter)}, nil
	case config.MFAPrompt:
		return a.promptSource(p)
	case config.MFAYubiKey:
		return &yubikey.MFA{OATH: a.oath(p), Serial: p.YubiKeySerial, Account: p.OATHAccount}, nil
	}
	return nil, bgerr.New(bgerr.KindConfig,
		"bg_mfa = "+string(p.MFA)+" of profile "+p.Name+" is not available in this build",
		"use bg_mfa = command with bg_mfa_command = ykman oath accounts code -s NAME, or bg_mfa = prompt")
}

// operatorWriter is where output of helper programs the operator must see
// goes: the terminal when stderr is being captured by an SDK, else stderr.
// Called when the helper runs: a run served from the agent's cache opens no
// terminal.
func (a *appCtx) operatorWriter() io.Writer {
	if !a.env.StderrIsTerminal && a.env.Terminal != nil {
		if t, err := a.env.Terminal(); err == nil {
			return t // closed at exit; one per process
		}
	}
	return a.env.Stderr
}

// directBroker runs the chain in this process: no cache, so every run
// asks for a new MFA session.
func (a *appCtx) directBroker(set issue.Settings) *broker.Broker {
	return &broker.Broker{StateDir: set.StateDir, Clients: &chain.ClientCache{}}
}

// lazyStore opens the keystore when the chain first needs a secret: a
// request the agent serves from its cache never opens it.
func (a *appCtx) lazyStore() broker.Secrets {
	return lazyStore(sync.OnceValues(a.openStore))
}

type lazyStore func() (*keystore.Store, error)

func (l lazyStore) Get(user string) (keystore.Secret, error) {
	s, err := l()
	if err != nil {
		return keystore.Secret{}, err
	}
	return s.Get(user)
}

// promptEnv says how the operator can be asked: the terminal, and on a
// desktop (DISPLAY/WAYLAND_DISPLAY on Linux; always on macOS and Windows)
// a dialog program.
func (a *appCtx) promptEnv() prompt.Env {
	display := runtime.GOOS == "darwin" || runtime.GOOS == "windows" ||
		a.env.Getenv("DISPLAY") != "" || a.env.Getenv("WAYLAND_DISPLAY") != ""
	return prompt.Env{GOOS: runtime.GOOS, Terminal: a.env.Terminal, ReadSecret: a.env.ReadSecret,
		Display: display, LookPath: exec.LookPath}
}

// prompter is the prompt driver: bg_prompt of profile p when set, else
// BG_AGENT_PROMPT, else auto (the terminal when there is one, else a
// desktop dialog). The PIN that unseals a key follows the profile the run
// serves (appCtx.profile); outside one (add --seal, yubikey setup) p is nil.
func (a *appCtx) prompter(p *config.Profile) (prompt.Driver, error) {
	mode, where, err := a.promptMode(p)
	if err != nil {
		return nil, err
	}
	return a.promptDriver(mode, where)
}

// promptMode is the profile's bg_prompt, else BG_AGENT_PROMPT, and where
// it was set.
func (a *appCtx) promptMode(p *config.Profile) (mode, where string, err error) {
	v, key, where := a.env.Getenv("BG_AGENT_PROMPT"), "BG_AGENT_PROMPT", "BG_AGENT_PROMPT"
	if p != nil && p.Prompt != config.PromptUnset {
		v, key, where = string(p.Prompt), "bg_prompt", "bg_prompt of profile "+p.Name
	}
	if mode, err = prompt.ParseMode(v); err != nil {
		return "", "", bgerr.Wrap(bgerr.KindConfig, err, fmt.Sprintf("%s %q%s is not one of terminal, gui, auto", key, v,
			strings.TrimPrefix(where, key)), "set it to terminal, gui or auto")
	}
	return mode, where, nil
}

// promptDriver finds the terminal or desktop dialog for mode (a PATH search
// and a look at the terminal).
func (a *appCtx) promptDriver(mode, where string) (prompt.Driver, error) {
	d, err := prompt.New(mode, a.promptEnv())
	if err != nil {
		return nil, bgerr.Wrap(bgerr.KindConfig, err, where+" is gui but there is no desktop dialog: "+err.Error(),
			"install zenity or kdialog (Linux) and run in a desktop session, or set it to terminal or auto")
	}
	return d, nil
}

// promptSource is bg_mfa = prompt: the terminal prompt, or a desktop
// dialog when bg_prompt says gui or (auto) there is no terminal. A bad
// bg_prompt fails at once; the driver is looked for only when a code is
// asked, so a run the agent serves from its cache does no PATH search and
// opens no terminal.
func (a *appCtx) promptSource(p *config.Profile) (mfa.Source, error) {
	mode, where, err := a.promptMode(p)
	if err != nil {
		return nil, err
	}
	return lazySource(sync.OnceValues(func() (mfa.Source, error) {
		d, err := a.promptDriver(mode, where)
		if err != nil {
			return nil, err
		}
		if d.Name() == "terminal" || !prompt.Available(d) {
			return &mfa.Prompt{Terminal: a.env.Terminal}, nil
		}
		return &prompt.MFA{Driver: d}, nil
	})), nil
}

// lazySource is an MFA source built on its first Code.
type lazySource func() (mfa.Source, error)

func (l lazySource) Code(ctx context.Context, r mfa.Request) (string, error) {
	src, err := l()
	if err != nil {
		return "", err
	}
	return src.Code(ctx, r)
}

// touchNotifier tells the operator to touch the YubiKey: a notice on
// stderr (and the terminal when stderr is captured), and a desktop
// notification when a touch is still awaited after a moment.
func (a *appCtx) touchNotifier() *yubikey.Notifier {
	return &yubikey.Notifier{
		Notice:  func(msg string) { a.ui.Noticef("%s", msg) },
		Desktop: prompt.Notifier(a.promptEnv()),
	}
}

// oath is the YubiKey OATH client; a password-protected applet's password
// is asked with the profile's prompt driver.
func (a *appCtx) oath(p *config.Profile) *yubikey.OATH {
	return &yubikey.OATH{
		Notify: a.touchNotifier(),
		Password: func(serial uint32) (string, error) {
			d, err := a.prompter(p)
			if err != nil {
				return "", err
			}
			return d.Ask(context.Background(), prompt.Question{Title: "bg-agent: OATH password", Secret: true,
				Text: fmt.Sprintf("OATH password of YubiKey %d", serial)})
		},
	}
}

// piv is the YubiKey PIV client that unseals keystore items. It never
// sends a PIN with one try left unless BG_AGENT_ALLOW_LAST_PIN_TRY=1, and
// asks for one YubiKey's PIN once at a time across bg-agent processes
// (lock files in the state dir's locks directory, as for MFA devices).
func (a *appCtx) piv() *yubikey.PIV {
	var lockDir string
	if dir, err := a.stateDir(); err == nil {
		lockDir = filepath.Join(dir, "locks")
	}
	return &yubikey.PIV{
		LockDir: lockDir,
		// A wrong PIN another bg-agent enters after this run began stops
		// it before it asks: the operator typed the same PIN for both.
		Since:        a.started,
		Notify:       a.touchNotifier(),
		AllowLastTry: a.env.Getenv("BG_AGENT_ALLOW_LAST_PIN_TRY") == "1",
		LastTryHint:  "to use the last try anyway, set BG_AGENT_ALLOW_LAST_PIN_TRY=1 and retry",
		Attestation:  a.trust(),
		PIN: func(r yubikey.PINRequest) (string, error) {
			d, err := a.prompter(a.profile)
			if err != nil {
				return "", err
			}
			tries := "tries"
			if r.Retries == 1 {
				tries = "try"
			}
			return d.Ask(context.Background(), prompt.Question{Title: "bg-agent: YubiKey PIN", Secret: true,
				Text: fmt.Sprintf("PIN of YubiKey %d to %s (%d %s left)", r.Serial, r.Purpose, r.Retries, tries)})
		},
	}
}

// slotECDH is the YubiKey half of opening a sealed or dual-controlled
// keystore item (keystore.Options.SlotECDH): the slot key's ECDH with the
// item's ephemeral key, on the card that sealed it. The keystore decrypts.
func (a *appCtx) slotECDH(user string, s keystore.SealedSecret) ([]byte, error) {
	fail := func(err error) ([]byte, error) {
		kind := bgerr.KindOf(err)
		if kind == bgerr.KindUnknown {
			kind = bgerr.KindKeystore
		}
		return nil, bgerr.Wrap(kind, err, "cannot unseal the key of "+user+": "+err.Error())
	}
	slot, err := yubikey.ParseSlot(s.Slot)
	if err != nil {
		return fail(err)
	}
	eph, err := s.EphemeralKey()
	if err != nil {
		return fail(err)
	}
	// The YubiKey the attestation named at sealing (bound to the
	// ciphertext) is the one asked for; older items name GET SERIAL's.
	serial := s.Serial
	if s.Attested != nil {
		serial = s.Attested.Serial
	}
	shared, err := a.piv().ECDH(context.Background(), yubikey.ECDHRequest{
		Serial: serial, Slot: slot, Peer: eph,
		Recipient: func(pub *ecdh.PublicKey) bool { return keystore.Fingerprint(pub) == s.Recipient },
		Purpose:   "unseal the access key of " + user,
	})
	if err != nil {
		return fail(err)
	}
	return shared, nil
}

// trust is whom PIV attestation trusts: an in-process test's CAs, else
// attestationTrust (Yubico's roots in a release build).
func (a *appCtx) trust() *yubikey.Trust {
	if a.env.AttestationTrust != nil {
		return a.env.AttestationTrust
	}
	return a.attestationTrust()
}
