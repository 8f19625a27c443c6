package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/testworld"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run a world until SIGINT/SIGTERM; print and write (DIR/env.sh) the env that reaches it",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "demo", Usage: "seed the demo accounts, users (alice-bg, bob-bg) and roles"},
			&cli.StringFlag{Name: "dir", Usage: "where ca.pem and env.sh go (created if missing; default: a new temporary directory)"},
			&cli.DurationFlag{Name: "cap", Usage: "cap every issued session at this duration, to watch expiry quickly (e.g. 2m)"},
		},
		Action: serve,
	}
}

func serve(c *cli.Context) error {
	dir := c.String("dir")
	var err error
	if dir == "" {
		dir, err = os.MkdirTemp("", "bg-testworld")
	} else {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return bgerr.Wrap(bgerr.KindConfig, err, "cannot create the world's directory: "+err.Error(), "pass a writable --dir")
	}
	w, err := testworld.Start(testworld.Options{Dir: dir, SessionDurationCap: c.Duration("cap")})
	if err != nil {
		return bgerr.Wrap(bgerr.KindUnknown, err, "cannot start the world: "+err.Error())
	}
	defer w.Close()
	if c.Bool("demo") {
		if err := testworld.Demo(w); err != nil {
			return err
		}
	}
	env := envScript(w)
	envFile := filepath.Join(dir, "env.sh")
	if err := os.WriteFile(envFile, []byte(env), 0o644); err != nil {
		return bgerr.Wrap(bgerr.KindConfig, err, "cannot write "+envFile+": "+err.Error(), "pass a writable --dir")
	}
	fmt.Fprint(c.App.Writer, env)
	if c.Bool("demo") {
		for _, u := range testworld.DemoUsers() {
			infof(c, "demo user %s (public, demo only): key %s secret %s mfa %s (code: bg-testworld totp %s)",
				u.Name, u.AccessKeyID, u.SecretAccessKey, u.MFASerial, u.MFASerial)
		}
		for _, r := range testworld.DemoRoles() {
			infof(c, "demo role %s", r.ARN)
		}
	}
	infof(c, "serving; the env above is in %s (source it), stop with Ctrl-C", envFile)
	<-c.Context.Done()
	infof(c, "stopping")
	return nil
}

// envScript is env.sh: export lines for the world's Env and admin URL.
func envScript(w *testworld.World) string {
	var b strings.Builder
	b.WriteString("# bg-testworld: source this file to reach the fake AWS\n")
	for _, kv := range append(w.Env(), adminEnv+"="+w.AdminURL()) {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&b, "export %s=%s\n", k, shellQuote(v))
	}
	return b.String()
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
