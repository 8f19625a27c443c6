package ui

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

type fakeTTY struct{ bytes.Buffer }

func (f *fakeTTY) Close() error { return nil }

func TestFormatError(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", bgerr.Wrap(bgerr.KindNoSecret,
		bgerr.New(bgerr.KindKeystore, "inner", "inner hint"),
		"no secret stored for alice-bg\nsecond line", "store it with: bg-agent add alice-bg"))
	got := FormatError(err)
	want := "bg-agent: error: wrapped: no secret stored for alice-bg second line\n" +
		"bg-agent: hint: store it with: bg-agent add alice-bg\n" +
		"bg-agent: hint: inner hint\n"
	if got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if got := FormatError(errors.New("plain")); got != "bg-agent: error: plain\n" {
		t.Fatalf("plain error: %q", got)
	}
}

func TestNoticeGoesToTerminalWhenStderrCaptured(t *testing.T) {
	var stderr bytes.Buffer
	tty := &fakeTTY{}
	u := &UI{Stderr: &stderr, Terminal: func() (io.ReadWriteCloser, error) { return tty, nil }}
	u.Noticef("touch your %s", "yubikey")
	if stderr.String() != "bg-agent: touch your yubikey\n" || tty.String() != stderr.String() {
		t.Fatalf("stderr %q tty %q", stderr.String(), tty.String())
	}
	// When stderr is the terminal, the notice is not shown twice.
	stderr.Reset()
	tty.Reset()
	u.StderrIsTerminal = true
	u.Noticef("x")
	if tty.Len() != 0 || stderr.String() != "bg-agent: x\n" {
		t.Fatalf("stderr %q tty %q", stderr.String(), tty.String())
	}
}

func TestQuietDropsInfoOnly(t *testing.T) {
	var stderr bytes.Buffer
	u := &UI{Stderr: &stderr, Quiet: true}
	u.Infof("info")
	u.Warnf("warn")
	if stderr.String() != "bg-agent: warning: warn\n" {
		t.Fatalf("got %q", stderr.String())
	}
}
