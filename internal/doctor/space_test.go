package doctor

import (
	"errors"
	"strings"
	"testing"

	"github.com/bg-agent/bg-agent/internal/diskspace"
	"github.com/bg-agent/bg-agent/internal/diskspace/diskspacetest"
)

func TestSpace(t *testing.T) {
	const gib = 1 << 30
	fix := "      fix: free some space on the disk that holds /s (or set BG_AGENT_HOME to a directory on another disk); " +
		`in an emergency, BG_AGENT_AUDIT_OVERRIDE="why" issues anyway, the records shown instead of written` + "\n"
	for _, tc := range []struct {
		name string
		s    diskspace.Space
		err  error
		want string
	}{
		{"plenty", diskspace.Space{Avail: 70 * gib, Total: 250 * gib}, nil, "ok    disk space: 70.0 GiB free of 250.0 GiB on the disk that holds /s\n"},
		{"under 1%", diskspace.Space{Avail: 2 * gib, Total: 250 * gib}, nil,
			"WARN  disk space: 2.0 GiB free of 250.0 GiB on the disk that holds /s; warned below 2.5 GiB\n" + fix},
		{"under 1 MiB", diskspace.Space{Avail: 600 << 10, Total: 64 << 20}, nil,
			"WARN  disk space: 600.0 KiB free of 64.0 MiB on the disk that holds /s; warned below 1.0 MiB\n" + fix},
		{"full", diskspace.Space{Avail: 0, Total: 250 * gib}, nil,
			"FAIL  disk space: 0 B free of 250.0 GiB on the disk that holds /s; requests are refused before anything is asked\n" + fix},
		{"no inode", diskspace.Space{Avail: 70 * gib, Total: 250 * gib, Files: 1000}, nil,
			"FAIL  disk space: no inode left (no new file can be made) on the disk that holds /s; requests are refused before anything is asked\n" + fix},
		{"unknown", diskspace.Space{}, errors.New("not here"), "info  disk space: cannot tell the free space of /s: not here\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Report{}
			r.Space("/s", tc.s, tc.err)
			if got := lines(r); got != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// On a real full disk, statfs says so and the check fails.
func TestSpaceFullDisk(t *testing.T) {
	dir := diskspacetest.Mount(t, 256<<10)
	s, err := diskspace.Of(dir)
	if err != nil || s.Total != 256<<10 || s.Avail != s.Total {
		t.Fatalf("%+v %v", s, err)
	}
	diskspacetest.Fill(t, dir)
	s, err = diskspace.Of(dir)
	r := &Report{}
	r.Space(dir, s, err)
	if got := lines(r); !strings.HasPrefix(got, "FAIL  disk space: 0 B free of 256.0 KiB") || r.Failed() != 1 {
		t.Fatalf("%s", got)
	}
}
