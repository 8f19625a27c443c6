package doctor

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/keystore"
)

// KeyAgeWarn is when a stored access key counts as old: break-glass keys
// should be rotated regularly and after every use.
const KeyAgeWarn = 90 * 24 * time.Hour

// Config checks the AWS config file's bg-agent profiles.
func (r *Report) Config(file string, profiles []*config.Profile, errs []error) {
	for _, e := range errs {
		// The error's own hint names the fix (for an approver's key: paste
		// the line approver init printed); the generic one only the file.
		fix := "fix the key named above in " + file
		if h := bgerr.HintsOf(e); len(h) > 0 {
			fix = h[0] + " (in " + file + ")"
		}
		r.Add(Fail, "config", e.Error(), fix)
	}
	if len(profiles) == 0 && len(errs) == 0 {
		r.Add(Fail, "config", "no bg-agent profiles in "+file, "write them with: bg-agent setup --kit KIT (or add bg_* keys)")
		return
	}
	if len(profiles) > 0 {
		r.Add(OK, "config", fmt.Sprintf("%d bg-agent profile(s) in %s", len(profiles), file), "")
	}
}

// Secrets checks that every profile's user has a stored key, and its age.
func (r *Report) Secrets(profiles []*config.Profile, entries []keystore.Entry, listErr error, backend string, now time.Time) {
	if listErr != nil {
		r.Add(Fail, "keystore", listErr.Error(), "check BG_AGENT_BACKEND and that the keychain is unlocked")
		return
	}
	have := map[string]keystore.Entry{}
	for _, e := range entries {
		have[e.User] = e
	}
	users := map[string][]string{}
	dual := map[string]string{} // user → a profile that demands dual control
	for _, p := range profiles {
		users[p.User] = append(users[p.User], p.Name)
		if p.DualControl {
			dual[p.User] = p.Name
		}
	}
	names := make([]string, 0, len(users))
	for u := range users {
		names = append(names, u)
	}
	sort.Strings(names)
	for _, u := range names {
		e, ok := have[u]
		switch {
		case !ok:
			r.Add(Fail, "secret "+u, fmt.Sprintf("not in the %s keystore (used by %s)", backend, strings.Join(users[u], ", ")),
				"store it: bg-agent add "+u)
		case dual[u] != "" && !e.Dual:
			// The gate alone is this laptop's policy; only the dual-sealed
			// item makes an approver's release necessary.
			r.Add(Fail, "secret "+u, fmt.Sprintf("profile %s demands dual control, and the key is stored without it", dual[u]),
				"store it again with: bg-agent add --seal --dual "+u)
		case !e.Added.IsZero() && now.Sub(e.Added) > KeyAgeWarn:
			r.Add(Warn, "secret "+u, fmt.Sprintf("key %s stored %d days ago", e.AccessKeyID, int(now.Sub(e.Added).Hours()/24)),
				"rotate the IAM user's access key, then: bg-agent add "+u)
		default:
			r.Add(OK, "secret "+u, fmt.Sprintf("key %s in the %s keystore", e.AccessKeyID, backend), "")
		}
	}
}

// MFA checks each profile's code source can run.
func (r *Report) MFA(profiles []*config.Profile, haveTerminal bool, lookPath func(string) (string, error)) {
	if lookPath == nil {
		lookPath = exec.LookPath
	}
	for _, p := range profiles {
		name := "mfa " + p.Name
		switch p.MFA {
		case config.MFACommand:
			fields := strings.Fields(p.MFACommand)
			if len(fields) == 0 {
				r.Add(Fail, name, "bg_mfa_command is empty", "set bg_mfa_command")
				continue
			}
			if _, err := lookPath(fields[0]); err != nil && !strings.ContainsAny(p.MFACommand, ";|&$`") {
				r.Add(Fail, name, fmt.Sprintf("bg_mfa_command runs %s, which is not on PATH", fields[0]),
					"install it or give its full path in bg_mfa_command")
				continue
			}
			r.Add(OK, name, "command: "+fields[0], "")
		case config.MFAPrompt:
			if !haveTerminal {
				r.Add(Warn, name, "asks on the terminal, and this run has none", "run AWS tools from a terminal, or use bg_mfa = yubikey / command")
				continue
			}
			r.Add(OK, name, "asks on the terminal", "")
		default:
			r.Add(Info, name, "bg_mfa = "+string(p.MFA), "")
		}
	}
}

// Clock reports whether the system clock is NTP-synchronised: TOTP codes
// and request signatures depend on it, and the YubiKey has no clock.
func (r *Report) Clock(run func(name string, args ...string) (string, error)) {
	out, err := run("timedatectl", "show", "-p", "NTPSynchronized", "--value")
	switch {
	case err != nil:
		r.Add(Info, "clock", "cannot tell whether the clock is synchronised (no timedatectl)", "")
	case strings.TrimSpace(out) == "yes":
		r.Add(OK, "clock", "NTP-synchronised", "")
	default:
		r.Add(Warn, "clock", "not NTP-synchronised: MFA codes and signatures fail when the clock is off by more than a minute or two",
			"enable time sync: timedatectl set-ntp true")
	}
}

// Network checks proxy and CA settings as the AWS SDK will read them.
func (r *Report) Network(getenv func(string) string) {
	for _, k := range []string{"HTTPS_PROXY", "https_proxy"} {
		if v := getenv(k); v != "" {
			if u, err := url.Parse(v); err != nil || u.Host == "" {
				r.Add(Fail, "proxy", fmt.Sprintf("%s=%q is not a URL", k, v), "set it like http://proxy.example:3128")
			} else {
				r.Add(OK, "proxy", fmt.Sprintf("%s=%s://%s", k, u.Scheme, u.Host), "")
			}
			break
		}
	}
	for _, k := range []string{"NO_PROXY", "no_proxy"} {
		if v := getenv(k); strings.Contains(v, "amazonaws.com") || strings.Contains(v, "aws.amazon.com") {
			r.Add(Info, "proxy", k+" bypasses the proxy for AWS endpoints", "")
		}
	}
	if f := getenv("AWS_CA_BUNDLE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			r.Add(Fail, "ca bundle", "AWS_CA_BUNDLE: "+err.Error(), "point AWS_CA_BUNDLE at your proxy's CA certificate (PEM), or unset it")
			return
		}
		n := 0
		for rest := b; ; {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				break
			}
			if _, err := x509.ParseCertificate(blk.Bytes); err == nil {
				n++
			}
		}
		if n == 0 {
			r.Add(Fail, "ca bundle", "AWS_CA_BUNDLE "+f+" holds no PEM certificate", "point it at a PEM file")
			return
		}
		r.Add(OK, "ca bundle", fmt.Sprintf("AWS_CA_BUNDLE %s (%d certificates)", f, n), "")
	}
}

// StateDir checks the state directory is private.
func (r *Report) StateDir(dir string) {
	st, err := os.Stat(dir)
	if err != nil {
		r.Add(Fail, "state dir", err.Error(), "check BG_AGENT_HOME")
		return
	}
	if st.Mode().Perm()&0o077 != 0 {
		r.Add(Fail, "state dir", fmt.Sprintf("%s is mode %v, readable by others", dir, st.Mode().Perm()), "chmod 700 "+dir)
		return
	}
	r.Add(OK, "state dir", dir+" (private)", "")
}

// YubiKeys checks that the keys profiles and sealed secrets need are
// plugged in and answer over PC/SC. needs maps a wanted serial (0: any
// YubiKey) to what needs it. It reads only the card list: no touch, no PIN.
func (r *Report) YubiKeys(needs map[uint32][]string, serials []uint32, listErr error) {
	if len(needs) == 0 {
		return
	}
	if listErr != nil {
		r.Add(Fail, "yubikey", listErr.Error(), "plug the YubiKey in and check the smart card service (pcscd on Linux)")
		return
	}
	have := map[uint32]bool{}
	for _, s := range serials {
		have[s] = true
	}
	keys := make([]uint32, 0, len(needs))
	for s := range needs {
		keys = append(keys, s)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, s := range keys {
		who := strings.Join(needs[s], ", ")
		switch {
		case s == 0 && len(serials) == 0:
			r.Add(Fail, "yubikey", "no YubiKey is plugged in (needed by "+who+")", "plug in the YubiKey that holds the MFA account")
		case s == 0 && len(serials) > 1:
			// Not OK and not a failure by itself: YubiKeyChoice says which
			// profile must name its YubiKey.
		case s == 0:
			r.Add(OK, "yubikey", fmt.Sprintf("%d YubiKey(s) plugged in (for %s)", len(serials), who), "")
		case !have[s]:
			r.Add(Fail, fmt.Sprintf("yubikey %d", s), "not plugged in (needed by "+who+")", fmt.Sprintf("plug in YubiKey %d", s))
		default:
			r.Add(OK, fmt.Sprintf("yubikey %d", s), "plugged in (for "+who+")", "")
		}
	}
}

// MemoryLock reports whether the agent can keep the IAM secret it is sent
// in locked memory (never written to swap); err is secmem.CanLock's.
func (r *Report) MemoryLock(err error) {
	if err != nil {
		r.Add(Warn, "memory lock", "the agent cannot lock secrets in memory ("+err.Error()+"): the IAM secret could reach swap while it is held",
			"raise the locked-memory limit (ulimit -l 64 or more; LimitMEMLOCK=64K in the systemd unit), or encrypt swap")
		return
	}
	r.Add(OK, "memory lock", "the agent keeps the IAM secret in locked memory while it uses it", "")
}
