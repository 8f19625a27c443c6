// Package doctor checks, offline, that break-glass access would work now:
// config, secrets, MFA sources, clock, proxy and CA settings, the agent, the
// audit log, key age. Each check is one line with the fix when it fails —
// run it on a calm day, not during the outage.
package doctor

import (
	"fmt"
	"io"
	"strings"
)

// Status of a check.
type Status int

const (
	OK Status = iota
	Info
	Warn
	Fail
)

func (s Status) String() string { return [...]string{"ok", "info", "WARN", "FAIL"}[s] }

// Check is one finding.
type Check struct {
	Status Status `json:"-"`
	Name   string `json:"name"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Report collects findings.
type Report struct{ Checks []Check }

// Add records a finding.
func (r *Report) Add(s Status, name, detail, fix string) {
	r.Checks = append(r.Checks, Check{Status: s, Name: name, Detail: detail, Fix: fix})
}

// Failed counts FAIL findings.
func (r *Report) Failed() int {
	n := 0
	for _, c := range r.Checks {
		if c.Status == Fail {
			n++
		}
	}
	return n
}

// Write prints one line per check, the fix indented under failures and warnings.
func (r *Report) Write(w io.Writer) error {
	for _, c := range r.Checks {
		if _, err := fmt.Fprintf(w, "%-4s  %s: %s\n", c.Status, c.Name, c.Detail); err != nil {
			return err
		}
		if c.Fix != "" && c.Status >= Warn {
			fmt.Fprintf(w, "      fix: %s\n", strings.ReplaceAll(c.Fix, "\n", "\n           "))
		}
	}
	return nil
}
