package broker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/bg-agent/bg-agent/internal/chain"
)

func secretSession(exp time.Time) *chain.Session {
	return &chain.Session{ARN: "arn:x", Credentials: aws.Credentials{AccessKeyID: "ASIAEXPIRYTEST000001",
		SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", SessionToken: "FwoGZXIvYXdzE" + strings.Repeat("Tok3n", 40),
		Expires: exp}}
}

// entrySecrets are the cache's own bytes of key's session (views of them).
func entrySecrets(t *testing.T, c *Cache, key string) (secret, token string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		t.Fatalf("no entry %q", key)
	}
	return e.s.Credentials.SecretAccessKey, e.s.Credentials.SessionToken
}

func zeroed(s string) bool { return strings.Trim(s, "\x00") == "" }

// A session is wiped when it expires, in the cache's own buffers, though
// no request comes to replace it; what a caller got before stays its own.
func TestExpiredSessionWiped(t *testing.T) {
	c := &Cache{}
	cleared := make(chan struct{}, 4)
	c.Clear = func() { cleared <- struct{}{} }
	got, err := c.get(context.Background(), "k", 0, 0, quiet, func(context.Context) (*chain.Session, error) {
		return secretSession(time.Now().Add(200 * time.Millisecond)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	secret, token := entrySecrets(t, c, "k")
	if zeroed(secret) || zeroed(token) {
		t.Fatal("the entry holds no secret before it expires")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !zeroed(secret) || !zeroed(token) {
		if time.Now().After(deadline) {
			t.Fatalf("5 s after expiry the cache still holds the secret %q and token %.20q…", secret, token)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.mu.Lock()
	_, kept := c.entries["k"]
	c.mu.Unlock()
	if kept || !c.stale("k", 0, 0) {
		t.Errorf("expired entry kept %v, stale %v", kept, c.stale("k", 0, 0))
	}
	waitFor(t, cleared, "the heap to be cleared after the expiry")
	if want := secretSession(time.Time{}).Credentials; got.Credentials.SecretAccessKey != want.SecretAccessKey || got.Credentials.SessionToken != want.SessionToken {
		t.Errorf("the caller's copy was wiped too: %q", got.Credentials.SecretAccessKey)
	}
}

// Dropping a session any other way (refreshed, forgotten, locked) wipes
// it at once, and the copies callers hold are their own.
func TestDroppedSessionWiped(t *testing.T) {
	now := time.Now()
	c := &Cache{Now: func() time.Time { return now }}
	fetch := func(context.Context) (*chain.Session, error) { return secretSession(now.Add(time.Hour)), nil }
	held, _ := c.get(context.Background(), "mfa", time.Minute, 0, quiet, fetch)
	s1, _ := entrySecrets(t, c, "mfa")
	now = now.Add(59*time.Minute + 30*time.Second) // under a minute left: refreshed
	if _, err := c.get(context.Background(), "mfa", time.Minute, 0, quiet, fetch); err != nil {
		t.Fatal(err)
	}
	s2, _ := entrySecrets(t, c, "mfa")
	c.get(context.Background(), "mfa|role", 0, 0, quiet, fetch)
	s3, _ := entrySecrets(t, c, "mfa|role")
	c.Forget("mfa")
	c.get(context.Background(), "other", 0, 0, quiet, fetch)
	s4, _ := entrySecrets(t, c, "other")
	c.Lock()
	for i, s := range []string{s1, s2, s3, s4} {
		if !zeroed(s) {
			t.Errorf("session %d not wiped: %q", i+1, s)
		}
	}
	if held.Credentials.SecretAccessKey != secretSession(now).Credentials.SecretAccessKey {
		t.Errorf("the caller's copy was wiped: %q", held.Credentials.SecretAccessKey)
	}
}
