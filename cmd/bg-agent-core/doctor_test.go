package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/pki"
)

// keptCerts: nothing kept is no certificate and no error; a damaged file
// is one error whose hint is the import that rewrites it.
func TestKeptCerts(t *testing.T) {
	dir := t.TempDir()
	certs, err := keptCerts(filepath.Join(dir, "absent.pem"), "CA certificate", 13000491, "9a")
	if certs != nil || err != nil {
		t.Fatalf("absent: %v %v", certs, err)
	}

	ca, err := pki.New("Example CA", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "13000491-9a-ca.pem")
	if err := os.WriteFile(good, ca.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	certs, err = keptCerts(good, "CA certificate", 13000491, "9a")
	if err != nil || len(certs) != 1 || certs[0].Subject.CommonName != "Example CA" {
		t.Fatalf("kept: %v %v", certs, err)
	}

	damaged := filepath.Join(dir, "13000491-9a-chain.pem")
	if err := os.WriteFile(damaged, []byte("-----BEGIN CERTIFICATE-----\ncut short"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = keptCerts(damaged, "certificate chain", 13000491, "9a")
	if err == nil || bgerr.KindOf(err) != bgerr.KindConfig {
		t.Fatalf("damaged: %v", err)
	}
	wantHint := "import the certificate again (it rewrites " + damaged + "): bg-agent yubikey import-cert --yubikey-serial 13000491 --slot 9a --ca CA.pem CERT.pem"
	if h := bgerr.HintsOf(err); len(h) != 1 || h[0] != wantHint {
		t.Errorf("damaged: %v, hints %q", err, h)
	}
	t.Log(err)
}
