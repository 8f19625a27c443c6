package main

import (
	"github.com/bg-agent/bg-agent/internal/secmem"

	"context"
	"fmt"
	"os"
	"os/exec"
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
	}
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
