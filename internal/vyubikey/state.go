package vyubikey

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Factory defaults of a YubiKey PIV applet.
const (
	DefaultPIN     = "123456"
	DefaultPUK     = "12345678"
	defaultRetries = 3
)

// DefaultManagementKey is the factory PIV management key (3DES on firmware
// before 5.7, usable as AES-192 too).
var DefaultManagementKey = []byte{
	1, 2, 3, 4, 5, 6, 7, 8,
	1, 2, 3, 4, 5, 6, 7, 8,
	1, 2, 3, 4, 5, 6, 7, 8,
}

// state is everything a YubiKey keeps across power cycles; it is what the
// JSON file holds. Maps are keyed by lowercase hex (slot "9a", object
// "5fc105") so the file stays readable.
type state struct {
	Format int    `json:"format"`
	Serial uint32 `json:"serial"`
	// The Profile; a file without firmware (written before profiles) is
	// DefaultProfile.
	Firmware    [3]byte   `json:"firmware"`
	PIVDisabled bool      `json:"piv_disabled,omitempty"`
	PIV         pivState  `json:"piv"`
	OATH        oathState `json:"oath"`
}

type pivState struct {
	PIN           string             `json:"pin"`
	PUK           string             `json:"puk"`
	PINRetries    int                `json:"pin_retries"`
	PINMaxRetries int                `json:"pin_max_retries"`
	PUKRetries    int                `json:"puk_retries"`
	PUKMaxRetries int                `json:"puk_max_retries"`
	MgmtAlg       byte               `json:"mgmt_alg"`
	MgmtKey       []byte             `json:"mgmt_key"`
	MgmtTouch     byte               `json:"mgmt_touch"`
	Keys          map[string]*pivKey `json:"keys"`
	Objects       map[string][]byte  `json:"objects"`
	// The fake "Yubico PIV Root CA" that signs the device attestation
	// certificate in object 5fff01 (its key lives in slot f9).
	AttestRootKey  []byte `json:"attest_root_key"`
	AttestRootCert []byte `json:"attest_root_cert"`
	// The CAs between that root and the device certificate, root side
	// first (the 5.7 chain has two; the 2018 one none).
	AttestIntermediates [][]byte `json:"attest_intermediates,omitempty"`
}

type pivKey struct {
	Alg         byte   `json:"alg"`
	PINPolicy   byte   `json:"pin_policy"`
	TouchPolicy byte   `json:"touch_policy"`
	Origin      byte   `json:"origin"`
	D           []byte `json:"d"`
}

type oathState struct {
	Salt  []byte      `json:"salt"`
	Key   []byte      `json:"key,omitempty"` // access key; empty when no password
	Creds []*oathCred `json:"creds"`
}

type oathCred struct {
	Name    string `json:"name"`
	Kind    byte   `json:"kind"` // oathTOTP or oathHOTP
	Alg     byte   `json:"alg"`  // oathSHA1, oathSHA256, oathSHA512
	Digits  int    `json:"digits"`
	Secret  []byte `json:"secret"`
	Touch   bool   `json:"touch"`
	Counter uint32 `json:"counter,omitempty"`
}

const stateFormat = 1

func readState(path string) (*state, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("virtual yubikey state %s: %w", path, err)
	}
	if st.Format != stateFormat {
		return nil, fmt.Errorf("virtual yubikey state %s: format %d, want %d", path, st.Format, stateFormat)
	}
	if st.PIV.Keys == nil {
		st.PIV.Keys = map[string]*pivKey{}
	}
	if st.PIV.Objects == nil {
		st.PIV.Objects = map[string][]byte{}
	}
	return &st, nil
}

// writeState replaces path atomically so a crash never leaves half a card.
func writeState(path string, st *state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".vyubikey-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
