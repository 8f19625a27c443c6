package e2e

import (
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The chain with the key in a real keychain: Secret Service provided by
// gnome-keyring-daemon inside a private D-Bus session.
func TestKeystoreSecretService(t *testing.T) {
	t.Parallel()
	requireTool(t, onPath("gnome-keyring-daemon") && onPath("dbus-run-session"), "gnome-keyring-daemon")
	o := newOperator(t)
	o.profile("bg-ops", "eu-west-1")
	o.extraEnv = append(o.extraEnv, "BG_AGENT_BACKEND=secret-service", "BG_AGENT_SECRET_SERVICE_COLLECTION=login", "BG_AGENT_DIRECT=1")
	script := `set -e
eval "$(printf 'keyring-password' | gnome-keyring-daemon --unlock --components=secrets --daemonize)"
# The daemon claims org.freedesktop.secrets a moment after it forks; asking
# before then makes D-Bus activate a second, locked instance.
i=0
until dbus-send --session --print-reply --dest=org.freedesktop.DBus / org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true'; do
	i=$((i+1)); [ $i -lt 100 ] || { echo "gnome-keyring did not claim org.freedesktop.secrets" >&2; exit 1; }
	sleep 0.05
done
printf '%s\n%s\n' "$KEY_ID" "$KEY_SECRET" | bg-agent add "$KEY_USER"
bg-agent ls
bg-agent process bg-ops
`
	o.extraEnv = append(o.extraEnv, "KEY_ID="+o.user.AccessKeyID, "KEY_SECRET="+o.user.SecretAccessKey, "KEY_USER="+o.user.Name)
	r := o.run("", "dbus-run-session", "--", "sh", "-c", script)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "stored the access key of "+o.user.Name+" in the secret-service keystore") ||
		!strings.Contains(r.stdout, o.user.Name) || !strings.Contains(r.stdout, `"AccountId":"222222222222"`) {
		t.Fatalf("stdout %s\nstderr %s", r.stdout, r.stderr)
	}
	noSecretOnDisk(t, o)
}

// The chain with the key in pass, encrypted to a throwaway GnuPG key.
func TestKeystorePass(t *testing.T) {
	t.Parallel()
	requireTool(t, onPath("pass") && onPath("gpg"), "pass")
	o := newOperator(t)
	o.profile("bg-ops", "eu-west-2")
	gnupg := filepath.Join(o.home, "gnupg")
	check(t, os.MkdirAll(gnupg, 0o700))
	o.extraEnv = append(o.extraEnv, "GNUPGHOME="+gnupg, "BG_AGENT_BACKEND=pass", "BG_AGENT_DIRECT=1",
		"KEY_ID="+o.user.AccessKeyID, "KEY_SECRET="+o.user.SecretAccessKey, "KEY_USER="+o.user.Name)
	script := `set -e
gpg --batch --quiet --passphrase '' --quick-gen-key bg-e2e@example.invalid default default never
pass init bg-e2e@example.invalid >/dev/null
printf '%s\n%s\n' "$KEY_ID" "$KEY_SECRET" | bg-agent add "$KEY_USER"
bg-agent process bg-ops
pass ls
gpgconf --kill gpg-agent
`
	r := o.run("", "sh", "-c", script)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, `"AccountId":"222222222222"`) || !strings.Contains(r.stdout, "bg-agent") {
		t.Fatalf("stdout %s\nstderr %s", r.stdout, r.stderr)
	}
	noSecretOnDisk(t, o)
}

// noSecretOnDisk walks the operator's whole home (state dir, keyrings, the
// password store) for the IAM secret in plaintext.
func noSecretOnDisk(t *testing.T, o *operator) {
	t.Helper()
	n := 0
	check(t, filepath.WalkDir(o.home, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		n++
		if strings.Contains(string(b), o.user.SecretAccessKey) {
			t.Errorf("the secret is in plaintext in %s", p)
		}
		return nil
	}))
	if n == 0 {
		t.Error("walked no files")
	}
}

// TestKeystoreSkipsUnusedSessionBus: 99designs/keyring's init dials the D-Bus
// session bus; bg-agent lets it only when the keystore backend uses the bus
// (internal/keystore/dbusgate), and commands it runs see the environment as
// it was.
func TestKeystoreSkipsUnusedSessionBus(t *testing.T) {
	o := newOperator(t)
	ln, err := net.Listen("unix", filepath.Join(o.home, "bus"))
	check(t, err)
	t.Cleanup(func() { ln.Close() })
	var dials atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			dials.Add(1)
			c.Close()
		}
	}()
	addr := "unix:path=" + filepath.Join(o.home, "bus")
	o.extraEnv = append(o.extraEnv, "DBUS_SESSION_BUS_ADDRESS="+addr)

	// The file keystore (o.env's backend): no dial, at start or in use.
	o.store()
	o.profile("bg-ops", "us-west-2")
	ex := o.bgAgent("exec", "--direct", "bg-ops", "--", "env")
	if ex.code != 0 {
		t.Fatalf("exec: %d\n%s", ex.code, ex.stderr)
	}
	if n := dials.Load(); n != 0 {
		t.Fatalf("the file keystore dialed the session bus %d times", n)
	}
	env := "\n" + ex.stdout
	if !strings.Contains(env, "\nDBUS_SESSION_BUS_ADDRESS="+addr+"\n") || strings.Contains(env, "DISABLE_KWALLET") {
		t.Fatalf("the command's environment was changed:\n%s", ex.stdout)
	}

	// The secret-service backend needs the bus: keyring's init dials it (and
	// so this probe would see a dial by any other backend too).
	o.extraEnv = append(o.extraEnv, "BG_AGENT_BACKEND=secret-service")
	if r := o.bgAgent("version"); r.code != 0 {
		t.Fatalf("version: %d\n%s", r.code, r.stderr)
	}
	deadline := time.Now().Add(5 * time.Second)
	for dials.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if dials.Load() == 0 {
		t.Fatal("with BG_AGENT_BACKEND=secret-service keyring's init did not dial the bus: the probe sees nothing")
	}
}
