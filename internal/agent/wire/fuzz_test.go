package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"
)

// chunked hands out its bytes a few at a time, as a socket may, and
// counts what was read.
type chunked struct {
	b    []byte
	n    int
	read int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.n)], c.b)
	c.b, c.read = c.b[n:], c.read+n
	return n, nil
}

func (c *chunked) Write(p []byte) (int, error) { return len(p), nil }

// FuzzConn: Conn reads any bytes without panicking and as a plain split on
// newlines would: each line within the limit gives its Head, or a
// MalformedError when it is not one, and Decode fills any line struct or
// says MalformedError; a line over the limit gives ErrLineTooLong, having
// read no more than the limit and one buffer beyond the lines before it; an
// unterminated last line is io.ErrUnexpectedEOF.
func FuzzConn(f *testing.F) {
	for _, v := range []any{
		IssueRequest{Head: NewHead(TIssue), Profile: "bg-prod-ops", ConfigFile: "/home/a/.aws/config", StateDir: "/s",
			NetEnv: NetEnv{"HTTPS_PROXY": "http://p:3128"}, Reason: "idp down", CanAnswer: true, PID: 42},
		Credentials{Head: NewHead(TCredentials), AccessKeyID: "ASIA", SecretAccessKey: "s", SessionToken: "t",
			Expiration: time.Date(2026, 11, 5, 13, 0, 0, 0, time.UTC), ARN: "arn:aws:sts::222222222222:assumed-role/R/x", Region: "us-west-2", Fresh: true},
		Error{Head: NewHead(TError), Error: ErrorInfo{Kind: "auth", Message: "denied", Hints: []string{"retry"}}},
		NeedMFA{Head: NewHead(TNeedMFA), Profile: "p", User: "u", Serial: "arn:aws:iam::1:mfa/u", Retry: true},
		Status{Head: NewHead(TStatusReply), Sessions: []Session{{Key: "k", ARN: "a"}}},
	} {
		b, _ := json.Marshal(v)
		f.Add(append(b, '\n'), uint8(0), uint8(200))
		f.Add(append(append(b, '\n'), b...), uint8(1), uint8(3))
	}
	f.Add([]byte("{\"v\":2,\"type\":\"ping\"}\n\n{\"v\":\"2\"}\nGET / HTTP/1.1\r\n"), uint8(2), uint8(1))
	f.Add(bytes.Repeat([]byte("x"), 5000), uint8(2), uint8(255))
	f.Add(append(bytes.Repeat([]byte(" "), 4200), "{\"v\":2}\n"...), uint8(2), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, sel, step uint8) {
		max := []int{64, 300, 4200, MaxRequestLine}[sel%4]
		in := &chunked{b: data, n: 1 + int(step)}
		c := NewConn(in, max)
		rest, done := data, 0 // bytes not yet read as lines, bytes of the lines read
		for {
			h, err := c.Next()
			line, tail, found := bytes.Cut(rest, []byte{'\n'})
			size := len(line)
			if found {
				size++
			}
			switch {
			case size > max:
				if !errors.Is(err, ErrLineTooLong) {
					t.Fatalf("a line of %d bytes over the limit %d: %v", size, max, err)
				}
				if in.read > done+max+4096 {
					t.Fatalf("read %d bytes for a line over %d after %d bytes of lines", in.read, max, done)
				}
				return
			case len(rest) == 0:
				if err != io.EOF {
					t.Fatalf("at the end: %v", err)
				}
				return
			case !found:
				if err != io.ErrUnexpectedEOF {
					t.Fatalf("an unterminated last line: %v", err)
				}
				return
			}
			var want Head
			if jerr := json.Unmarshal(line, &want); jerr != nil {
				if !errors.As(err, new(*MalformedError)) {
					t.Fatalf("line %q: %v, want a MalformedError", line, err)
				}
			} else if err != nil || h != want {
				t.Fatalf("line %q: %+v, %v; want %+v", line, h, err, want)
			} else {
				for _, v := range []any{&IssueRequest{}, &Secret{}, &Code{}, &Refusal{}, &Credentials{}, &Status{}, &AgentInfo{}, &NeedMFA{}} {
					derr := c.Decode(v)
					ref := reflect.New(reflect.TypeOf(v).Elem()).Interface()
					if jerr := json.Unmarshal(line, ref); (jerr == nil) != (derr == nil) || (derr != nil && !errors.As(derr, new(*MalformedError))) {
						t.Fatalf("Decode %T of %q: %v; json says %v", v, line, derr, jerr)
					}
				}
			}
			rest, done = tail, done+size
		}
	})
}
