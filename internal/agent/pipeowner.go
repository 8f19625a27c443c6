package agent

import (
	"errors"
	"fmt"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// pipeServerError decides whether the process serving the agent's named
// pipe may be told anything: only one of our own user. The pipe's name is
// predictable (paths.AgentSocket), and another user who creates it first
// would be sent our request and, on need_secret, the IAM secret; the
// pipe's ACL protects the agent's pipe, not a pipe someone else made.
// server and us are SIDs in string form; server is "" when the server's
// user could not be read (lookup says why), which is refused as well.
// It is the portable half of the Windows client's check (dial), so it
// runs in every test, not on Windows only.
func pipeServerError(pipe string, pid uint32, server, us string, lookup error) error {
	if server == "" && lookup == nil {
		lookup = errors.New("no user SID")
	}
	switch {
	case lookup != nil:
		return bgerr.Wrap(bgerr.KindConfig, lookup, fmt.Sprintf(
			"cannot tell who serves the agent pipe %s (process %d): %v; bg-agent sends it nothing", pipe, pid, lookup),
			"if it is your agent, stop it (bg-agent agent stop) and retry; if not, find it with: Get-Process -Id "+fmt.Sprint(pid)+" -IncludeUserName")
	case server != us:
		return bgerr.New(bgerr.KindConfig, fmt.Sprintf(
			"the agent pipe %s is served by process %d of another user (%s), not by you (%s); bg-agent sends it nothing", pipe, pid, server, us),
			"another user's program holds the agent's pipe name: find it with: Get-Process -Id "+fmt.Sprint(pid)+" -IncludeUserName, and report it to your security team",
			"until it is gone, credentials come without the agent (direct mode)")
	}
	return nil
}
