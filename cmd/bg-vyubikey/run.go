package main

import (
	"context"
	"fmt"
	"time"

	"github.com/gofrs/flock"
	"github.com/urfave/cli/v2"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/vyubikey"
)

const defaultSerial = 17000001

func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "plug the card into vpcd and serve it until interrupted",
		Flags: []cli.Flag{
			stateFlag,
			&cli.UintFlag{Name: "serial", Value: defaultSerial, Usage: "serial of a new card (an existing state keeps its own)"},
			&cli.StringFlag{Name: "profile", Value: "5.4.3", Usage: "model of a new card: 5.4.3, 5.7.1 or piv-disabled"},
			&cli.StringFlag{Name: "vpcd", Value: vyubikey.DefaultVPCDAddr, Usage: "vpcd's card port"},
			&cli.StringFlag{Name: "touch", Value: "auto", Usage: "simulated user: auto, never or manual"},
			&cli.DurationFlag{Name: "touch-delay", Value: 300 * time.Millisecond, Usage: "how long auto takes to touch"},
			&cli.DurationFlag{Name: "touch-timeout", Value: 15 * time.Second, Usage: "how long the card waits for a touch"},
			&cli.StringFlag{Name: "ctl", Usage: "control socket (default: the state file + .sock)"},
			&cli.BoolFlag{Name: "trace", Usage: "log every APDU on stderr (PINs included)"},
		},
		Action: run,
	}
}

func touchPolicy(c *cli.Context) (vyubikey.TouchPolicy, error) {
	mode, err := vyubikey.ParseTouchMode(c.String("touch"))
	if err != nil {
		return vyubikey.TouchPolicy{}, bgerr.New(bgerr.KindUsage, err.Error(), "use --touch auto, never or manual")
	}
	return vyubikey.TouchPolicy{Mode: mode, Delay: c.Duration("touch-delay"), Timeout: c.Duration("touch-timeout")}, nil
}

// lockState keeps two processes from owning one card: the running card
// holds the lock, offline edits need it.
func lockState(path string) (*flock.Flock, error) {
	fl := flock.New(path + ".lock")
	locked, err := fl.TryLock()
	if err != nil {
		return nil, bgerr.Wrap(bgerr.KindConfig, err, fmt.Sprintf("cannot lock %s.lock", path),
			"check that the state file's directory is writable")
	}
	if !locked {
		return nil, bgerr.New(bgerr.KindConfig, fmt.Sprintf("the card %s is in use by a running bg-vyubikey", path),
			"stop it first, or change the running card with: bg-vyubikey ctl --state "+path+" …")
	}
	return fl, nil
}

func run(c *cli.Context) error {
	path := c.String("state")
	policy, err := touchPolicy(c)
	if err != nil {
		return err
	}
	serial := c.Uint("serial")
	if uint(uint32(serial)) != serial {
		return bgerr.New(bgerr.KindUsage, fmt.Sprintf("serial %d does not fit in 32 bits", serial), "use a smaller --serial")
	}
	fl, err := lockState(path)
	if err != nil {
		return err
	}
	defer fl.Unlock()
	profile, ok := profiles[c.String("profile")]
	if !ok {
		return bgerr.New(bgerr.KindUsage, fmt.Sprintf("unknown profile %q", c.String("profile")),
			"use --profile 5.4.3 (the default), 5.7.1 or piv-disabled")
	}
	card, err := vyubikey.LoadOrCreateProfile(path, uint32(serial), profile)
	if err != nil {
		return bgerr.Wrap(bgerr.KindConfig, err, fmt.Sprintf("cannot load the card: %v", err),
			"delete "+path+" to start from a factory-fresh card")
	}
	defer card.Close()
	if c.IsSet("serial") && card.Serial() != uint32(serial) {
		infof(c, "warning: %s holds card %d; --serial %d ignored", path, card.Serial(), serial)
	}
	card.SetTouch(policy)
	if c.Bool("trace") {
		card.SetTrace(c.App.ErrWriter)
	}
	unlock, err := lockReader(c)
	if err != nil {
		return err
	}
	defer unlock()
	ctlPath := controlPath(c)
	ctl, err := listenControl(ctlPath, card)
	if err != nil {
		return err
	}
	defer ctl.Close()
	if err := card.Connect(c.String("vpcd")); err != nil {
		return bgerr.Wrap(bgerr.KindUnknown, err, err.Error())
	}
	cardSerial := card.Serial()
	infof(c, "card %d plugged into vpcd at %s (reader %q when run with scripts/pcsc-world.sh); touch %s; control %s",
		cardSerial, c.String("vpcd"), vyubikey.ReaderName, policy.Mode, ctlPath)
	<-c.Context.Done()
	// SIGTERM or SIGINT pulls the card out at once, also while an
	// operation waits for a touch (and holds the card's lock, so nothing
	// here may wait for that): pcscd reports the removal to the client, as
	// for a real key, instead of the client waiting out the touch timeout.
	card.Close()
	infof(c, "card %d unplugged", cardSerial)
	return nil
}

// lockReader waits for the vpcd reader, which tests using vyubikeytest
// take too: two cards plugged into one reader would take turns invisibly.
func lockReader(c *cli.Context) (func(), error) {
	addr := c.String("vpcd")
	ctx, cancel := context.WithTimeout(c.Context, 200*time.Millisecond)
	unlock, err := vyubikey.LockVPCD(ctx, addr)
	cancel()
	if err == nil {
		return unlock, nil
	}
	infof(c, "waiting for the vpcd reader at %s: another virtual card (a test or bg-vyubikey run) holds it", addr)
	unlock, err = vyubikey.LockVPCD(c.Context, addr)
	if err != nil {
		return nil, bgerr.Wrap(bgerr.KindCanceled, err, "stopped while waiting for the vpcd reader",
			"stop the other card, or pass another --vpcd (vpcd's second reader is 127.0.0.1:35964)")
	}
	return unlock, nil
}

// profiles are the models `run --profile` makes a new card of.
var profiles = map[string]vyubikey.Profile{
	"5.4.3":        vyubikey.DefaultProfile,
	"5.7.1":        vyubikey.Profile57,
	"piv-disabled": vyubikey.ProfilePIVDisabled,
}
