package keystore

import (
	"errors"
	"strings"

	"github.com/99designs/keyring"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// promptError marks a failure to obtain the passphrase, so that it is not
// mistaken for a wrong one.
type promptError struct{ err error }

func (e *promptError) Error() string { return e.err.Error() }
func (e *promptError) Unwrap() error { return e.err }

func passphraseFunc(f func(string) (string, error)) keyring.PromptFunc {
	return func(prompt string) (string, error) {
		if f == nil {
			return "", &promptError{errors.New("no passphrase source")}
		}
		p, err := f(prompt)
		if err != nil {
			return "", &promptError{err}
		}
		if p == "" {
			return "", &promptError{errors.New("the passphrase is empty")}
		}
		return p, nil
	}
}

const passphraseHint = "set BG_AGENT_FILE_PASSPHRASE to the file keystore's passphrase, or run bg-agent in a terminal to be asked for it"

// fileError explains a file-backend failure to read an item: no passphrase,
// a wrong passphrase, or a damaged item. ok is false for other errors.
func fileError(user string, err error) (error, bool) {
	var pe *promptError
	switch {
	case errors.As(err, &pe):
		return bgerr.Wrap(bgerr.KindKeystore, err,
			"cannot open the file keystore: "+pe.Error(), passphraseHint), true
	case strings.Contains(err.Error(), "integrity check failed"):
		// jose2go's AES key unwrap: the passphrase-derived key is wrong.
		return bgerr.Wrap(bgerr.KindKeystore, err,
			"cannot open the file keystore: wrong passphrase", passphraseHint), true
	case strings.HasPrefix(err.Error(), "jwt.") || isJSONError(err):
		return bgerr.Wrap(bgerr.KindKeystore, err,
			"the file keystore item for "+user+" is damaged",
			"remove it with: bg-agent rm "+user, "then store the key again with: bg-agent add "+user), true
	}
	return nil, false
}
