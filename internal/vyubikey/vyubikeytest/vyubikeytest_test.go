package vyubikeytest

import (
	"fmt"
	"os"
	"testing"
)

// recorder is a testing.TB that records Fatalf and Skipf instead of
// ending the test.
type recorder struct {
	testing.TB
	fatal, skip []string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = append(r.fatal, fmt.Sprintf(format, args...))
}

func (r *recorder) Skipf(format string, args ...any) {
	r.skip = append(r.skip, fmt.Sprintf(format, args...))
}

// A missing part of the world skips a test, except in CI as root.
func TestMissing(t *testing.T) {
	const why = "pcscd is not installed; run: sudo scripts/pcsc-world.sh install"
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		r := &recorder{TB: t}
		missing(r, "pcscd is not installed; run: sudo %s install", "scripts/pcsc-world.sh")
		if ci != "" && os.Geteuid() == 0 {
			if len(r.skip) != 0 || len(r.fatal) != 1 || r.fatal[0] != "in CI as root (scripts/deps.sh should have installed it): "+why {
				t.Errorf("CI=%q as root: fatal %q, skip %q", ci, r.fatal, r.skip)
			}
			continue
		}
		if len(r.fatal) != 0 || len(r.skip) != 1 || r.skip[0] != why {
			t.Errorf("CI=%q, euid %d: fatal %q, skip %q", ci, os.Geteuid(), r.fatal, r.skip)
		}
	}
}
