package main

import (
	"github.com/bg-agent/bg-agent/internal/secmem"

	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/bg-agent/bg-agent/internal/agent"
	"github.com/bg-agent/bg-agent/internal/audit"
	"github.com/bg-agent/bg-agent/internal/awsconfig"
	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/diskspace"
	"github.com/bg-agent/bg-agent/internal/doctor"
	"github.com/bg-agent/bg-agent/internal/keystore"
	"github.com/bg-agent/bg-agent/internal/prompt"
	"github.com/bg-agent/bg-agent/internal/yubikey"
)

func (a *appCtx) doctorCommand() *cli.Command {
	return &cli.Command{
		Name:  "doctor",
		Usage: "check, offline, that break-glass access would work now; one line per check with its fix",
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, ""); err != nil {
				return err
			}
			rep := a.doctor()
			if err := rep.Write(a.env.Stdout); err != nil {
				return err
			}
			if n := rep.Failed(); n > 0 {
				return bgerr.New(bgerr.KindConfig, fmt.Sprintf("%d check(s) failed", n), "apply the fixes above, then run bg-agent doctor again")
			}
			return nil
		},
	}
}

func (a *appCtx) doctor() *doctor.Report {
	rep := &doctor.Report{}
	dir, err := a.stateDir()
	if err != nil {
		rep.Add(doctor.Fail, "state dir", err.Error(), "check BG_AGENT_HOME")
		return rep
	}
	rep.StateDir(dir)
	space, err := diskspace.Of(dir)
	rep.Space(dir, space, err)
	file, err := a.configFile()
	if err != nil {
		rep.Add(doctor.Fail, "config", err.Error(), "set AWS_CONFIG_FILE or create ~/.aws/config")
		return rep
	}
	profiles, errs := config.LoadAll(file)
	rep.Config(file, profiles, errs)
	if data, err := os.ReadFile(file); err == nil {
		blocks, err := awsconfig.Read(file, data)
		rep.Kits(file, blocks, err)
		rep.Approvals(profiles, blocks)
	}
	store, err := a.openStore()
	if err != nil {
		rep.Add(doctor.Fail, "keystore", err.Error(), "check BG_AGENT_BACKEND")
	} else {
		entries, lerr := store.List()
		rep.Secrets(iamUserProfiles(profiles), entries, lerr, store.Backend(), time.Now())
		a.doctorYubiKeys(rep, file, profiles, entries)
	}
	rep.MFA(iamUserProfiles(profiles), (&prompt.Terminal{Open: a.env.Terminal}).Available(), nil)
	rep.Clock(func(name string, args ...string) (string, error) {
		out, err := exec.Command(name, args...).Output()
		return string(out), err
	})
	rep.Network(a.env.Getenv)
	a.doctorAgent(rep)
	rep.MemoryLock(secmem.CanLock())
	if n, err := audit.Verify(dir); err != nil {
		rep.Add(doctor.Fail, "audit log", err.Error(), "keep the damaged log for the investigation (mv it aside); a new one starts on the next use")
	} else {
		rep.Add(doctor.OK, "audit log", fmt.Sprintf("%d records, chain intact", n), "")
	}
	return rep
}

func (a *appCtx) doctorAgent(rep *doctor.Report) {
	sock, err := a.socket()
	if err != nil {
		rep.Add(doctor.Fail, "agent", err.Error(), "check BG_AGENT_HOME / XDG_RUNTIME_DIR")
		return
	}
	info, err := agent.Ping(sock)
	switch {
	case err == nil:
		rep.Add(doctor.OK, "agent", fmt.Sprintf("running (pid %d, %s) on %s", info.PID, info.Version, sock), "")
	case agent.NotRunning(err):
		rep.Add(doctor.Info, "agent", "not running; bg-agent process starts it on demand", "")
	default:
		rep.Add(doctor.Warn, "agent", "does not answer on "+sock+": "+err.Error(),
			"bg-agent agent stop, or kill it; the next bg-agent process starts a new one")
	}
}

// doctorYubiKeys checks the YubiKeys that bg_mfa = yubikey profiles,
// Roles Anywhere profiles and sealed secrets need are present, and that profiles name their YubiKey
// when several are plugged in.
func (a *appCtx) doctorYubiKeys(rep *doctor.Report, file string, profiles []*config.Profile, entries []keystore.Entry) {
	needs := map[uint32][]string{}
	for _, p := range profiles {
		switch {
		case p.MFA == config.MFAYubiKey:
			needs[p.YubiKeySerial] = append(needs[p.YubiKeySerial], "MFA of "+p.Name)
		case p.Start == config.StartRolesAnywhere:
			needs[p.YubiKeySerial] = append(needs[p.YubiKeySerial], "the certificate of "+p.Name)
		}
	}
	for _, e := range entries {
		if e.SealedTo != 0 {
			needs[e.SealedTo] = append(needs[e.SealedTo], "the sealed key of "+e.User)
		} else if e.Sealed != "" {
			needs[0] = append(needs[0], "the sealed key of "+e.User)
		}
	}
	if len(needs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	infos, err := yubikey.List(ctx, yubikey.ListOptions{})
	var serials []uint32
	for _, i := range infos {
		if i.Busy {
			// Held by another program, it cannot say which key it is.
			rep.Add(doctor.Warn, "yubikey", "a YubiKey in "+i.Reader+" is in use by another program: doctor cannot tell which one it is",
				"close the program that holds it (gpg: gpgconf --kill scdaemon), then run bg-agent doctor again")
			continue
		}
		serials = append(serials, i.Serial)
	}
	rep.YubiKeys(needs, serials, err)
	if err == nil {
		rep.YubiKeyChoice(file, profiles, entries, serials)
		a.doctorCertificates(ctx, rep, file, profiles, serials)
	}
}

// doctorCertificates checks the certificate of each (YubiKey, slot) that
// Roles Anywhere profiles sign in with, on the YubiKeys plugged in
// (serials: one that is not was reported by YubiKeys already). The
// certificate and key are read without PIN or touch, so doctor never
// asks for either; the chain and CA are those import-cert kept.
func (a *appCtx) doctorCertificates(ctx context.Context, rep *doctor.Report, file string, profiles []*config.Profile, serials []uint32) {
	type use struct {
		serial uint32
		slot   string
	}
	uses := map[use][]string{}
	for _, p := range profiles {
		if p.Start != config.StartRolesAnywhere {
			continue
		}
		u := use{p.YubiKeySerial, p.RASlot}
		if u.serial == 0 && len(serials) == 1 {
			u.serial = serials[0] // the only one, as the profile would use it
		}
		if (u.serial == 0 && len(serials) == 0) || (u.serial != 0 && !slices.Contains(serials, u.serial)) {
			continue
		}
		uses[u] = append(uses[u], p.Name)
	}
	keys := slices.SortedFunc(maps.Keys(uses), func(x, y use) int {
		if c := cmp.Compare(x.serial, y.serial); c != 0 {
			return c
		}
		return cmp.Compare(x.slot, y.slot)
	})
	for _, u := range keys {
		s := doctor.SlotCert{Serial: u.serial, Slot: u.slot, Profiles: uses[u]}
		if u.serial == 0 {
			// Several plugged in and the profiles name none: so would they fail.
			list := make([]string, len(serials))
			for i, n := range slices.Sorted(slices.Values(serials)) {
				list[i] = fmt.Sprint(n)
			}
			sections := make([]string, len(s.Profiles))
			for i, p := range s.Profiles {
				sections[i] = "[profile " + p + "]"
			}
			rep.Certificate(s, nil, bgerr.New(bgerr.KindConfig,
				fmt.Sprintf("no YubiKey is named (bg_yubikey_serial), and %d are plugged in (%s): signing in fails until one is", len(serials), strings.Join(list, ", ")),
				fmt.Sprintf("add bg_yubikey_serial = SERIAL (the YubiKey that holds the certificate) to %s in %s", strings.Join(sections, ", "), file)))
			continue
		}
		status, err := a.slotCertStatus(ctx, u.serial, u.slot)
		rep.Certificate(s, status, err)
	}
}

// slotCertStatus reads the certificate and key of slot on the YubiKey
// serial and checks them with the chain and CA kept in the state dir. A
// slot without a certificate is nil, nil.
func (a *appCtx) slotCertStatus(ctx context.Context, serial uint32, slotName string) (*yubikey.CertReport, error) {
	slot, err := yubikey.ParseSlot(slotName)
	if err != nil {
		return nil, err
	}
	p := a.piv()
	certs, err := p.Certificates(ctx, serial, slot)
	if err != nil {
		return nil, err
	}
	leaf := certs[slot]
	if leaf == nil {
		return nil, nil
	}
	k, err := p.Key(ctx, serial, slot)
	if errors.Is(err, yubikey.ErrNotFound) {
		return nil, bgerr.Wrap(bgerr.KindConfig, err,
			fmt.Sprintf("slot %s of YubiKey %d holds a certificate for %q but no key: Roles Anywhere cannot sign with it", slotName, serial, leaf.Subject.CommonName),
			fmt.Sprintf("make a key and request with bg-agent yubikey setup --cert --yubikey-serial %d --slot %s, then bg-agent kit ca sign and bg-agent yubikey import-cert", serial, slotName))
	}
	if err != nil {
		return nil, err
	}
	chain, ca, err := a.kept(k.Serial, slot)
	if err != nil {
		return nil, err
	}
	status := yubikey.CertStatus(leaf, chain, ca, k.Public, time.Now())
	return &status, nil
}

// iamUserProfiles are the profiles with a stored key and an MFA source to
// check: a Roles Anywhere profile has neither (its certificate is the
// card's, checked with the YubiKeys).
func iamUserProfiles(profiles []*config.Profile) []*config.Profile {
	var out []*config.Profile
	for _, p := range profiles {
		if p.Start != config.StartRolesAnywhere {
			out = append(out, p)
		}
	}
	return out
}
