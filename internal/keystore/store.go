package keystore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/99designs/keyring"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/iam"
	"github.com/bg-agent/bg-agent/internal/paths"
)

// Put stores sec for user, replacing any previous key. Added defaults to now.
func (s *Store) Put(user string, sec Secret) error {
	sec.AccessKeyID = strings.TrimSpace(sec.AccessKeyID)
	sec.SecretAccessKey = strings.TrimSpace(sec.SecretAccessKey)
	if err := checkUser(user); err != nil {
		return err
	}
	if err := checkSecret(sec); err != nil {
		return err
	}
	if sec.Added.IsZero() {
		sec.Added = time.Now().UTC().Truncate(time.Second)
	}
	return s.set(user, sec, "bg-agent: "+user, "AWS access key of break-glass IAM user "+user)
}

// set writes user's item (a Secret or a sealedItem as JSON) under the
// store's lock, after the file backend's passphrase check.
func (s *Store) set(user string, item any, label, description string) error {
	data, err := json.Marshal(item)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkFiles(); err != nil {
		return err
	}
	if err := s.checkPassphrase(); err != nil {
		return err
	}
	err = s.ring.Set(keyring.Item{Key: s.prefix + user, Data: data, Label: label, Description: description})
	if err != nil {
		return s.fail("store the key of", user, err)
	}
	return nil
}

// Get returns user's secret; a sealed one is opened with Options.SlotECDH,
// a dual-controlled one with Options.DualShare too (outside the store's
// lock: they may wait for a PIN or a touch).
func (s *Store) Get(user string) (Secret, error) {
	if err := checkUser(user); err != nil {
		return Secret{}, err
	}
	s.mu.Lock()
	it, err := s.get(user)
	s.mu.Unlock()
	switch {
	case err != nil:
		return Secret{}, err
	case it.Dual != nil:
		return s.openDual(user, *it.Dual)
	case it.Sealed != nil:
		return s.unseal(user, *it.Sealed)
	}
	return it.Secret, nil
}

// item is a stored item: a plain Secret, a sealed one (see sealedItem) or
// a dual-controlled one (see dualItem).
type item struct {
	Secret
	Sealed *SealedSecret `json:"sealed,omitempty"`
	Dual   *DualSecret   `json:"dual,omitempty"`
}

func (s *Store) get(user string) (item, error) {
	if err := s.checkFiles(); err != nil {
		return item{}, err
	}
	ring, err := s.ring.Get(s.prefix + user)
	if err != nil {
		return item{}, s.fail("read the key of", user, err)
	}
	var it item
	if err := json.Unmarshal(ring.Data, &it); err != nil || (it.AccessKeyID == "" && it.Sealed == nil && it.Dual == nil) {
		return item{}, bgerr.Wrap(bgerr.KindKeystore, err,
			"the keystore item for "+user+" is damaged",
			"remove it with: bg-agent rm "+user, "then store the key again with: bg-agent add "+user)
	}
	return it, nil
}

// List returns the stored users sorted by name, with masked key ids.
func (s *Store) List() ([]Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	users, err := s.users()
	if err != nil {
		return nil, err
	}
	entries := make([]Entry, 0, len(users))
	for _, u := range users {
		it, err := s.get(u)
		if err != nil {
			return nil, err
		}
		e := Entry{User: u, AccessKeyID: mask(it.AccessKeyID), Added: it.Added}
		if it.Sealed != nil {
			e.AccessKeyID, e.Sealed, e.SealedTo = it.Sealed.KeyID, it.Sealed.To(), it.Sealed.Serial
			e.Attested = it.Sealed.Attested
		}
		if d := it.Dual; d != nil {
			e.AccessKeyID, e.Sealed, e.SealedTo = d.Operator.KeyID, d.To(), d.Operator.Serial
			e.Attested, e.Dual = d.Operator.Attested, true
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// Remove deletes user's secret.
func (s *Store) Remove(user string) error {
	if err := checkUser(user); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	users, err := s.users()
	if err != nil {
		return err
	}
	if i := sort.SearchStrings(users, user); i == len(users) || users[i] != user {
		return noSecret(user)
	}
	if err := s.ring.Remove(s.prefix + user); err != nil {
		return s.fail("remove the key of", user, err)
	}
	return nil
}

// users lists stored user names, sorted, without reading any secret.
func (s *Store) users() ([]string, error) {
	if err := s.checkFiles(); err != nil {
		return nil, err
	}
	keys, err := s.ring.Keys()
	if err != nil {
		return nil, s.fail("list", "", err)
	}
	var users []string
	for _, k := range keys {
		if u, ok := strings.CutPrefix(k, s.prefix); ok && iam.ValidName(u, 64) {
			users = append(users, u)
		}
	}
	sort.Strings(users)
	return users, nil
}

// checkFiles refuses links and other users' files among the file
// backend's items before keyring reads or writes them: it opens them
// itself (os.ReadFile, os.WriteFile) and would follow a link, truncating
// its target on a write.
func (s *Store) checkFiles() error {
	if s.dir == "" {
		return nil
	}
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil // keyring says why
	}
	for _, e := range ents {
		if err := paths.CheckPrivate(filepath.Join(s.dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// checkPassphrase makes a file-backend Put fail on a wrong passphrase
// rather than store an item no other item's passphrase opens.
func (s *Store) checkPassphrase() error {
	if s.backend != "file" {
		return nil
	}
	users, err := s.users()
	if err != nil || len(users) == 0 {
		return err
	}
	_, err = s.get(users[0])
	return err
}

func noSecret(user string) error {
	return bgerr.New(bgerr.KindNoSecret, "no secret stored for "+user,
		"store it with: bg-agent add "+user)
}

// fail maps a keyring error to a bgerr kind. A file backend that saw a bad
// passphrase is reopened so that the next call asks again.
func (s *Store) fail(what, user string, err error) error {
	if errors.Is(err, keyring.ErrKeyNotFound) || (errors.Is(err, fs.ErrNotExist) && user != "") {
		return noSecret(user)
	}
	if s.backend == "file" {
		if e, ok := fileError(user, err); ok {
			if ring, oerr := keyring.Open(s.cfg); oerr == nil {
				s.ring = ring
			}
			return e
		}
	}
	target := "the " + s.backend + " keystore"
	if user != "" {
		target = user + " in " + target
	}
	return bgerr.Wrap(bgerr.KindKeystore, err,
		fmt.Sprintf("cannot %s %s: %v", what, target, err), backendHint(s.backend, s.dir))
}

func backendHint(backend, dir string) string {
	switch backend {
	case "keychain":
		return "unlock the login keychain (Keychain Access) and retry"
	case "secret-service":
		return "unlock the desktop keyring (creating bg-agent's collection needs a password dialog); without a desktop, set BG_AGENT_SECRET_SERVICE_COLLECTION=login"
	case "kwallet":
		return "unlock the desktop keyring (it may be waiting for a password dialog) and retry"
	case "pass":
		return "check that pass and gpg work: pass ls"
	case "file":
		return "check that " + dir + " is readable and writable by you"
	}
	return "retry, or set BG_AGENT_BACKEND to another keystore backend"
}

func isJSONError(err error) bool {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	return errors.As(err, &se) || errors.As(err, &te)
}
