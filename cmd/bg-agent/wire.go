package main

import (
	"context"
	"io"
	"runtime"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/broker"
	"github.com/bg-agent/bg-agent/internal/chain"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/keystore"
	"github.com/bg-agent/bg-agent/internal/mfa"
	"github.com/bg-agent/bg-agent/internal/paths"
	"github.com/bg-agent/bg-agent/internal/prompt"
	"github.com/bg-agent/bg-agent/internal/yubikey"
)

// This file is the only place that reads bg-agent's environment variables
// (DESIGN.md §3) and turns them into the internal packages' options.

func (a *appCtx) stateDir() (string, error) {
	dir, err := paths.StateDir(a.env.Getenv, runtime.GOOS)
	if err != nil {
		return "", err
	}
	return dir, paths.EnsureDir(dir)
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
		FilePassphrase: a.filePassphrase,
		Unseal:         a.unseal,
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

func (a *appCtx) loadProfile(name string) (*config.Profile, error) {
	file, err := a.configFile()
	if err != nil {
		return nil, err
	}
	return config.Load(file, name)
}

// mfaSource picks the profile's code source.
func (a *appCtx) mfaSource(p *config.Profile) (mfa.Source, error) {
	switch p.MFA {
	case config.MFACommand:
		return &mfa.Command{Line: p.MFACommand, Stderr: a.operatorWriter()}, nil
	case config.MFAPrompt:
		return a.promptSource(p)
	case config.MFAYubiKey:
		serial, err := yubikeySerial(p)
		if err != nil {
			return nil, err
		}
		return &yubikey.MFA{OATH: a.oath(p), Serial: serial, Account: p.Keys["bg_oath_account"]}, nil
	}
	return nil, bgerr.New(bgerr.KindConfig,
		"bg_mfa = "+string(p.MFA)+" of profile "+p.Name+" is not available in this build",
		"use bg_mfa = command with bg_mfa_command = ykman oath accounts code -s NAME, or bg_mfa = prompt")
}

// operatorWriter is where output of helper programs the operator must see
// goes: the terminal when stderr is being captured by an SDK, else stderr.
func (a *appCtx) operatorWriter() io.Writer {
	if !a.env.StderrIsTerminal && a.env.Terminal != nil {
		if t, err := a.env.Terminal(); err == nil {
			return t // closed at exit; one per process
		}
	}
	return a.env.Stderr
}

func (a *appCtx) broker() (*broker.Broker, error) {
	dir, err := a.stateDir()
	if err != nil {
		return nil, err
	}
	file, err := a.configFile()
	if err != nil {
		return nil, err
	}
	return &broker.Broker{
		StateDir: dir,
		Clients: func(ctx context.Context, p *config.Profile) (*chain.Clients, error) {
			return chain.NewClients(ctx, chain.ClientOptions{ConfigFile: file, Profile: p.Name})
		},
	}, nil
}
