package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/mfa"
)

// bg_mfa = prompt through the agent: a bad bg_prompt fails at once, but the
// terminal and the desktop are looked at only when a code is asked, so a
// run served from the agent's cache does neither.
func TestPromptSourceIsLazy(t *testing.T) {
	var opened int
	var read []string
	a := &appCtx{env: &Env{
		Getenv:   func(k string) string { read = append(read, k); return "" },
		Terminal: func() (io.ReadWriteCloser, error) { opened++; return nil, errors.New("no terminal") },
	}}
	p := &config.Profile{Name: "bg-ops", MFA: config.MFAPrompt, Prompt: config.PromptAuto}
	src, err := a.promptSource(p)
	if err != nil {
		t.Fatal(err)
	}
	if opened != 0 || strings.Contains(strings.Join(read, " "), "DISPLAY") {
		t.Fatalf("before a code is asked: terminal opened %d times, env read %q", opened, read)
	}
	if _, err := src.Code(context.Background(), mfa.Request{Profile: "bg-ops"}); err == nil {
		t.Fatal("a code without a terminal or a dialog")
	}
	if opened == 0 || !strings.Contains(strings.Join(read, " "), "DISPLAY") {
		t.Fatalf("asking for a code looked at neither: terminal opened %d times, env read %q", opened, read)
	}

	p.Prompt = "sometimes" // not from config.Load, which refuses it
	if _, err := a.promptSource(p); err == nil || !strings.Contains(err.Error(), `bg_prompt "sometimes" of profile bg-ops is not one of terminal, gui, auto`) {
		t.Fatalf("bad bg_prompt: %v", err)
	}
}
