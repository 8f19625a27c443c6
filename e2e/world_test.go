// Package e2e runs the built bg-agent binary the way users do: as
// credential_process under the real AWS CLI, boto3, the Go SDK and the JS
// SDK v3, against the fake AWS (internal/testworld) reached only through
// HTTPS_PROXY and a CA bundle.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/bg-agent/bg-agent/internal/testworld"
)

var (
	world  *testworld.World
	binDir string
	repo   string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	repo, err = filepath.Abs("..")
	if err != nil {
		panic(err)
	}
	// Short paths: sockets later live under these dirs.
	binDir, err = os.MkdirTemp("", "bgbin")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(binDir)
	for _, pkg := range []string{"./cmd/bg-agent", "./cmd/bg-agent-core", "./cmd/bg-testworld", "./e2e/goconsumer"} {
		// The release build tag (see packaging/build.sh): drops urfave/cli's
		// markdown/man code, whose package init costs every process start.
		// bgtest lets the core trust the virtual YubiKey's attestation CAs
		// named by BG_AGENT_TEST_ATTESTATION_ROOTS (attestationRoots).
		cmd := exec.Command("go", "build", "-tags", "urfave_cli_no_docs,bgtest", "-o", binDir, pkg)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", pkg, err, out)
			return 1
		}
	}
	world, err = testworld.Start(testworld.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer world.Close()
	if err := testworld.Demo(world); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

var seq atomic.Int64

// operator is one break-glass user with its own MFA device, operator role and
// workload role in the shared world, plus its own state dir and AWS config,
// so tests run in parallel without sharing TOTP codes.
type operator struct {
	t         testing.TB
	w         *testworld.World
	user      testworld.User
	opRole    string
	workload  string
	home      string // BG_AGENT_HOME
	config    string // AWS_CONFIG_FILE
	extraEnv  []string
	profiles  map[string]string
	profOrder []string
}

func newOperator(t *testing.T) *operator { t.Helper(); return newOperatorIn(t, world) }

func newOperatorB(b *testing.B) *operator { b.Helper(); return newOperatorIn(b, world) }

// newOperatorIn makes an operator in a world of its own (for tests that
// change the world's clock).
func newOperatorIn(t testing.TB, world *testworld.World) *operator {
	t.Helper()
	n := seq.Add(1)
	name := fmt.Sprintf("e2e%d-bg", n)
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "e2e", AccountName: name})
	if err != nil {
		t.Fatal(err)
	}
	u := testworld.User{Account: "111111111111", Name: name,
		AccessKeyID:     fmt.Sprintf("AKIAE2ETEST%09d", n),
		SecretAccessKey: fmt.Sprintf("E2eSecretKey/%027d", n),
		MFASerial:       "arn:aws:iam::111111111111:mfa/" + name, TOTPSecret: key.Secret()}
	o := &operator{t: t, w: world, user: u,
		opRole:   fmt.Sprintf("arn:aws:iam::111111111111:role/E2EOperator%d", n),
		workload: fmt.Sprintf("arn:aws:iam::222222222222:role/E2EOps%d", n),
		profiles: map[string]string{}}
	check(t, world.AddUser(u))
	check(t, world.AddRole(testworld.Role{ARN: o.opRole, Trust: []string{u.ARN()}, RequireMFA: true, MaxSessionDuration: 12 * time.Hour}))
	check(t, world.AddRole(testworld.Role{ARN: o.workload, Trust: []string{o.opRole}}))
	o.home, err = os.MkdirTemp("", "bg")
	check(t, err)
	t.Cleanup(func() { os.RemoveAll(o.home) })
	o.config = filepath.Join(o.home, "aws-config")
	// process auto-starts an agent in this home; stop it with the test.
	t.Cleanup(func() { o.bgAgent("agent", "stop") })
	return o
}

func check(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// finalARN is what GetCallerIdentity shows at the end of the chain.
func (o *operator) finalARN() string {
	return "arn:aws:sts::222222222222:assumed-role/" + o.workload[strings.LastIndex(o.workload, "/")+1:] +
		"/breakglass-" + strings.TrimSuffix(o.user.Name, "-bg")
}

// profile adds a bg profile; extra lines override the defaults.
func (o *operator) profile(name, regions string, extra ...string) {
	lines := []string{
		"region = " + strings.Fields(regions)[0],
		"credential_process = " + filepath.Join(binDir, "bg-agent") + " process " + name,
		"bg_user = " + o.user.Name,
		"bg_mfa_serial = " + o.user.MFASerial,
		"bg_mfa = command",
		"bg_mfa_command = " + filepath.Join(binDir, "bg-testworld") + " totp " + o.user.MFASerial,
		"bg_roles = " + o.opRole + " " + o.workload,
		"bg_regions = " + regions,
	}
	for _, e := range extra {
		k, _, _ := strings.Cut(e, "=")
		replaced := false
		for i, l := range lines {
			if strings.HasPrefix(l, k) {
				lines[i], replaced = e, true
			}
		}
		if !replaced {
			lines = append(lines, e)
		}
	}
	if _, ok := o.profiles[name]; !ok {
		o.profOrder = append(o.profOrder, name)
	}
	o.profiles[name] = strings.Join(lines, "\n")
	var b strings.Builder
	b.WriteString("# written by the e2e tests\n[default]\nregion = us-west-2\n\n")
	for _, p := range o.profOrder {
		fmt.Fprintf(&b, "[profile %s]\n%s\n\n", p, o.profiles[p])
	}
	check(o.t, os.WriteFile(o.config, []byte(b.String()), 0o600))
}

// env is the environment of every child: the world's proxy and CA (all of
// AWS_CA_BUNDLE, SSL_CERT_FILE, REQUESTS_CA_BUNDLE overridden, since the
// image sets them globally), this operator's state and config, nothing else
// of the developer's AWS setup.
func (o *operator) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "BG_") || strings.Contains(strings.ToLower(k), "proxy") ||
			k == "SSL_CERT_FILE" || k == "REQUESTS_CA_BUNDLE" || k == "NODE_EXTRA_CA_CERTS" || k == "HOME" {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, o.w.Env()...)
	env = append(env,
		"HOME="+o.home,
		"AWS_CONFIG_FILE="+o.config,
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(o.home, "no-credentials"),
		"AWS_STS_REGIONAL_ENDPOINTS=regional",
		"AWS_EC2_METADATA_DISABLED=true",
		"BG_AGENT_HOME="+o.home,
		"BG_AGENT_BACKEND=file",
		"BG_AGENT_FILE_PASSPHRASE=e2e-passphrase",
		"BG_TESTWORLD_ADMIN="+o.w.AdminURL(),
		"PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
	)
	return append(env, o.extraEnv...)
}

type result struct {
	stdout, stderr string
	code           int
	took           time.Duration
}

func (o *operator) run(stdin string, name string, args ...string) result {
	o.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = o.env()
	cmd.Dir = o.home
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		o.t.Fatalf("%s: %v", name, err)
	}
	return r
}

func (o *operator) bgAgent(args ...string) result {
	o.t.Helper()
	return o.run("", filepath.Join(binDir, "bg-agent"), args...)
}

// store puts the operator's key in the file keystore through stdin, as a user would.
func (o *operator) store() {
	o.t.Helper()
	r := o.run(o.user.AccessKeyID+"\n"+o.user.SecretAccessKey+"\n", filepath.Join(binDir, "bg-agent"), "add", o.user.Name)
	if r.code != 0 {
		o.t.Fatalf("bg-agent add: %d\n%s", r.code, r.stderr)
	}
}

// callerARN parses {"Arn": …} from a consumer's stdout.
func callerARN(t *testing.T, r result) string {
	t.Helper()
	var v struct{ Arn string }
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &v); err != nil {
		t.Fatalf("not JSON (%v): %q\nstderr: %s", err, r.stdout, r.stderr)
	}
	return v.Arn
}

// callsBy returns the world's calls signed with the operator's long-term key
// or with any session that descends from it (by source identity).
func (o *operator) calls() []testworld.Call {
	var out []testworld.Call
	si := strings.TrimSuffix(o.user.Name, "-bg")
	for _, c := range o.w.Calls() {
		if c.AccessKeyID == o.user.AccessKeyID || c.SerialNumber == o.user.MFASerial ||
			c.SourceIdentity == si || strings.HasSuffix(c.Caller, "/breakglass-"+si) || strings.HasSuffix(c.Caller, ":user/"+o.user.Name) {
			out = append(out, c)
		}
	}
	return out
}
