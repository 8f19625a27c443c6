package keystore

import (
	"errors"
	"io/fs"
	"strings"

	"github.com/99designs/keyring"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// Private item names: bg-agent's own secrets, beside the IAM users' keys.
const (
	// ApproverKey is this machine's software approver key (approval.SoftKey).
	ApproverKey = "approver-key"
	// RequestKey is the pending declaration's request key: dual-control
	// shares released by approvers are encrypted to it, so it lives in the
	// keystore, never in the declaration file, and goes when the
	// declaration ends.
	RequestKey = "request-key"
)

// privatePrefix keeps these items out of the user namespace (users() reads
// only s.prefix, "user:"), whatever the IAM users are called.
func (s *Store) privateKey(name string) string {
	return strings.Replace(s.prefix, "user", "bg", 1) + name
}

// PutPrivate stores one of bg-agent's own secrets under name.
func (s *Store) PutPrivate(name string, data []byte, label string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkFiles(); err != nil {
		return err
	}
	if err := s.checkPassphrase(); err != nil {
		return err
	}
	if err := s.ring.Set(keyring.Item{Key: s.privateKey(name), Data: data, Label: "bg-agent: " + label, Description: label}); err != nil {
		return s.fail("store the "+label+" in", "", err)
	}
	return nil
}

// GetPrivate returns the secret stored under name; ErrNoPrivate if none.
func (s *Store) GetPrivate(name string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkFiles(); err != nil {
		return nil, err
	}
	it, err := s.ring.Get(s.privateKey(name))
	if errors.Is(err, keyring.ErrKeyNotFound) || errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoPrivate
	}
	if err != nil {
		return nil, s.fail("read "+name+" from", "", err)
	}
	return it.Data, nil
}

// RemovePrivate deletes the secret under name; none there is not an error.
func (s *Store) RemovePrivate(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.ring.Remove(s.privateKey(name))
	if err == nil || errors.Is(err, keyring.ErrKeyNotFound) || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return s.fail("remove "+name+" from", "", err)
}

// ErrNoPrivate is GetPrivate's answer when nothing is stored under the name.
var ErrNoPrivate = bgerr.New(bgerr.KindNoSecret, "nothing stored under that name")
