// Package dbusgate stops 99designs/keyring from dialing the D-Bus session
// bus at every start of bg-agent when the keystore in use does not need it.
//
// keyring's secret-service and kwallet inits call dbus.SessionBus(): on a
// desktop that is a connection and handshake; without DBUS_SESSION_BUS_ADDRESS
// godbus looks the user up and runs dbus-launch if it is installed (which
// starts a bus daemon) — in every `bg-agent process` the AWS CLI execs,
// although only the secret-service and kwallet backends use the bus. The
// backend is known from the environment before any init runs
// (BG_AGENT_BACKEND, else secret-service when DBUS_SESSION_BUS_ADDRESS is
// set, as keystore.DefaultBackend decides), so this init points keyring's
// probes at an address that fails at once (and sets DISABLE_KWALLET, which
// keyring's kwallet init honours) unless that backend needs the bus.
//
// Order: this package imports nothing keyring does, and its import path
// sorts before every dependency of keyring (godbus, jose2go, go-libsecret…);
// the Go spec initialises, at each step, the first package by import path
// whose imports are all initialised ("Package initialization"), so this init
// runs before keyring's. keystore, which imports both, calls Restore from
// its own init, after keyring's: children never see the change. The e2e
// test TestKeystoreSkipsUnusedSessionBus holds this to account.
package dbusgate

import (
	"os"
	"runtime"
)

const (
	busVar     = "DBUS_SESSION_BUS_ADDRESS"
	kwalletVar = "DISABLE_KWALLET"
	// noBus is an address godbus refuses at once (unknown transport).
	noBus = "disabled:"
)

type saved struct {
	name, value string
	had         bool
}

var changed []saved

func set(name, value string) {
	old, had := os.LookupEnv(name)
	if os.Setenv(name, value) == nil {
		changed = append(changed, saved{name, old, had})
	}
}

// DefaultBackend is the keystore backend used when BG_AGENT_BACKEND is not
// set: the OS's own store on macOS and Windows; on Linux and other unix
// systems the Secret Service when a session bus is reachable (a desktop
// session), else the encrypted file, since servers and CI machines have no
// keyring daemon. It lives here because init needs it before keyring's;
// keystore.DefaultBackend is this.
func DefaultBackend(goos string, haveSessionBus bool) string {
	switch goos {
	case "darwin", "ios":
		return "keychain"
	case "windows":
		return "wincred"
	}
	if haveSessionBus {
		return "secret-service"
	}
	return "file"
}

// NeedsBus reports whether the keystore backend bg-agent will open talks to
// the session bus; backend is BG_AGENT_BACKEND, bus DBUS_SESSION_BUS_ADDRESS.
func NeedsBus(goos, backend, bus string) bool {
	if backend == "" {
		backend = DefaultBackend(goos, bus != "")
	}
	return backend == "secret-service" || backend == "kwallet"
}

func init() {
	backend := os.Getenv("BG_AGENT_BACKEND")
	if backend != "kwallet" && os.Getenv(kwalletVar) == "" {
		set(kwalletVar, "1")
	}
	if !NeedsBus(runtime.GOOS, backend, os.Getenv(busVar)) {
		set(busVar, noBus)
	}
}

// Restore puts back what init changed; keystore calls it from its init.
func Restore() {
	for _, s := range changed {
		if s.had {
			os.Setenv(s.name, s.value)
		} else {
			os.Unsetenv(s.name)
		}
	}
	changed = nil
}
