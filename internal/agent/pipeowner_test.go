package agent

import (
	"errors"
	"strings"
	"testing"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// The Windows client talks to the pipe's server only when its user is
// ours; any other user, or one that cannot be read, is refused with the
// process and users named.
func TestPipeServerError(t *testing.T) {
	const pipe, us, other = `\\.\pipe\bg-agent-alice`, "S-1-5-21-1-2-3-1001", "S-1-5-21-1-2-3-1002"
	if err := pipeServerError(pipe, 4242, us, us, nil); err != nil {
		t.Fatalf("our own agent refused: %v", err)
	}
	err := pipeServerError(pipe, 4242, other, us, nil)
	want := `the agent pipe \\.\pipe\bg-agent-alice is served by process 4242 of another user (S-1-5-21-1-2-3-1002), not by you (S-1-5-21-1-2-3-1001); bg-agent sends it nothing`
	if err == nil || err.Error() != want || bgerr.KindOf(err) != bgerr.KindConfig {
		t.Fatalf("another user's server: %v\nwant %s", err, want)
	}
	if h := bgerr.HintsOf(err); len(h) != 2 || !strings.Contains(h[0], "Get-Process -Id 4242 -IncludeUserName") {
		t.Fatalf("hints %q", h)
	}
	denied := errors.New("Access is denied.")
	for _, tc := range []struct {
		server string
		lookup error
	}{{"", denied}, {us, denied}, {"", nil}} {
		err := pipeServerError(pipe, 4242, tc.server, us, tc.lookup)
		if err == nil || !strings.HasPrefix(err.Error(), `cannot tell who serves the agent pipe \\.\pipe\bg-agent-alice (process 4242)`) {
			t.Fatalf("server %q, lookup %v: %v", tc.server, tc.lookup, err)
		}
		if tc.lookup != nil && !errors.Is(err, denied) {
			t.Errorf("the cause is lost: %v", err)
		}
	}
	if pipeServerError(pipe, 4242, "", "", nil) == nil {
		t.Fatal("an unknown user matched an unknown user")
	}
}
