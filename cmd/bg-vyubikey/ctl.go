package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/vyubikey"
)

// The control protocol is one line each way over a unix socket: a command
// ("remove", "touch never", …) and "ok …" or "error …".

// maxSocketPath is what sockaddr_un holds on every Unix, with room to spare.
const maxSocketPath = 100

func controlPath(c *cli.Context) string {
	if p := c.String("ctl"); p != "" {
		return p
	}
	return c.String("state") + ".sock"
}

type controlServer struct {
	ln   net.Listener
	card *vyubikey.Card
}

func listenControl(path string, card *vyubikey.Card) (*controlServer, error) {
	if len(path) > maxSocketPath {
		return nil, bgerr.New(bgerr.KindUsage, fmt.Sprintf("control socket path is %d bytes, over the %d a unix socket allows", len(path), maxSocketPath),
			"put the state file in a shorter directory, or pass --ctl /tmp/NAME.sock")
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		os.Remove(path) // left by a card that crashed; we hold the state lock
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, bgerr.Wrap(bgerr.KindConfig, err, fmt.Sprintf("cannot listen on %s: %v", path, err),
			"remove the file if no card is running, or pass another --ctl")
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	s := &controlServer{ln: ln, card: card}
	go s.serve()
	return s, nil
}

func (s *controlServer) Close() error { return s.ln.Close() }

func (s *controlServer) serve() {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			line, err := bufio.NewReader(conn).ReadString('\n')
			if err != nil {
				return
			}
			reply, err := s.do(strings.Fields(line))
			if err != nil {
				reply = "error " + err.Error()
			} else {
				reply = "ok " + reply
			}
			fmt.Fprintln(conn, reply)
		}()
	}
}

// do runs one control command against the card.
func (s *controlServer) do(args []string) (string, error) {
	c := s.card
	if len(args) == 0 {
		return "", errors.New("empty command")
	}
	switch {
	case args[0] == "remove" && len(args) == 1:
		c.Disconnect()
		return "removed", nil
	case args[0] == "insert" && len(args) == 1:
		c.Reconnect()
		return "inserted", nil
	case args[0] == "press" && len(args) == 1:
		c.Touch()
		return "touched", nil
	case args[0] == "status" && len(args) == 1:
		p := c.TouchPolicy()
		return fmt.Sprintf("serial=%d present=%t touch=%s delay=%s timeout=%s touch_pending=%t",
			c.Serial(), c.Present(), p.Mode, p.Delay, p.Timeout, c.TouchPending()), nil
	case args[0] == "touch" && (len(args) == 2 || len(args) == 3):
		mode, err := vyubikey.ParseTouchMode(args[1])
		if err != nil {
			return "", err
		}
		p := c.TouchPolicy()
		p.Mode = mode
		if len(args) == 3 {
			if p.Delay, err = time.ParseDuration(args[2]); err != nil {
				return "", fmt.Errorf("bad delay %q", args[2])
			}
		}
		c.SetTouch(p)
		return "touch " + mode.String(), nil
	}
	return "", fmt.Errorf("unknown command %q", strings.Join(args, " "))
}

func ctlCommand() *cli.Command {
	return &cli.Command{
		Name:      "ctl",
		Usage:     "change a running card: remove, insert, press, status, touch auto|never|manual [DELAY]",
		ArgsUsage: "COMMAND…",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "state", Usage: "the running card's state file"},
			&cli.StringFlag{Name: "ctl", Usage: "its control socket (default: the state file + .sock)"},
		},
		Action: func(c *cli.Context) error {
			if c.String("state") == "" && c.String("ctl") == "" {
				return bgerr.New(bgerr.KindUsage, "which card?", "pass --state FILE (or --ctl SOCKET)")
			}
			if c.NArg() == 0 {
				return bgerr.New(bgerr.KindUsage, "no control command", "e.g. bg-vyubikey ctl --state FILE remove")
			}
			reply, err := sendControl(controlPath(c), strings.Join(c.Args().Slice(), " "))
			if err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, reply)
			return nil
		},
	}
}

// sendControl sends one command line and returns the reply after "ok".
func sendControl(path, line string) (string, error) {
	conn, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return "", bgerr.Wrap(bgerr.KindConfig, err, fmt.Sprintf("no running card at %s", path),
			"start it with: bg-vyubikey run --state FILE")
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintln(conn, line); err != nil {
		return "", err
	}
	reply, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("reading control reply: %w", err)
	}
	reply = strings.TrimSpace(reply)
	if msg, ok := strings.CutPrefix(reply, "error "); ok {
		return "", bgerr.New(bgerr.KindUsage, msg, "commands: remove, insert, press, status, touch auto|never|manual [DELAY]")
	}
	return strings.TrimPrefix(reply, "ok "), nil
}
