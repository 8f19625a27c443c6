package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/testworld"
)

// TestMotoCompatibility runs the chain against moto_server, an independent
// STS implementation, behind the same proxy and hostnames: what passes here
// does not depend on our fake's reading of the STS API.
func TestMotoCompatibility(t *testing.T) {
	t.Parallel()
	requireTool(t, onPath("moto_server"), "moto_server")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	moto := exec.Command("moto_server", "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	moto.Env = append(os.Environ(), "MOTO_ALLOW_NONEXISTENT_REGION=true")
	check(t, moto.Start())
	t.Cleanup(func() { moto.Process.Kill(); moto.Wait() })
	upstream := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(upstream + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server did not start: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	w, err := testworld.Start(testworld.Options{Upstream: upstream})
	check(t, err)
	defer w.Close()
	o := newOperatorIn(t, w)
	o.store()
	// moto checks neither MFA codes nor trust; a code that changes every
	// second keeps bg-agent's single-use guard from waiting.
	o.profile("bg-moto", "eu-west-1", "bg_mfa_command = date +%H%M%S")
	r := o.bgAgent("process", "bg-moto")
	if r.code != 0 {
		t.Fatalf("bg-agent process against moto: exit %d\n%s", r.code, r.stderr)
	}
	if !onPath("aws") {
		return
	}
	r = o.run("", "aws", "sts", "get-caller-identity", "--profile", "bg-moto", "--output", "json")
	if r.code != 0 {
		t.Fatalf("aws cli: %d %s", r.code, r.stderr)
	}
	if got := callerARN(t, r); got != o.finalARN() {
		t.Fatalf("moto says %s, want %s", got, o.finalARN())
	}
	var actions []string
	for _, c := range w.Calls() {
		if c.ErrorCode != "" {
			t.Errorf("%s: %s", c.Action, c.ErrorCode)
		}
		actions = append(actions, c.Action+"@"+c.Region)
	}
	// One chain of three; the AWS CLI's credential_process is served from the
	// agent's cache; then the CLI's own GetCallerIdentity.
	if len(actions) != 4 {
		t.Errorf("calls: %v", actions)
	}
}
