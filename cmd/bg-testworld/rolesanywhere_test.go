package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/testworld"
)

func TestRolesAnywhereCommands(t *testing.T) {
	w, err := testworld.Start(testworld.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	t.Setenv(adminEnv, w.AdminURL())

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "cli root"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	anchor := "arn:aws:rolesanywhere:eu-west-1:333333333333:trust-anchor/cli"
	profile := "arn:aws:rolesanywhere:eu-west-1:333333333333:profile/cli"
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"trust-anchor", anchor, caFile}, 0, ""},
		{[]string{"trust-anchor", "--region", "eu-west-2", anchor, caFile}, 1, "the world refused POST /trust-anchors"},
		{[]string{"trust-anchor", anchor, caFile + ".missing"}, 1, "cannot read the CA bundle"},
		{[]string{"trust-anchor", anchor}, 1, "usage: bg-testworld trust-anchor ARN CA_PEM"},
		{[]string{"ra-profile", "--duration", "7200", profile, "arn:aws:iam::333333333333:role/R"}, 0, ""},
		{[]string{"ra-profile", "--duration", "60", profile, "arn:aws:iam::333333333333:role/R"}, 1, "outside 900..43200"},
		{[]string{"ra-profile", profile}, 1, "usage: bg-testworld ra-profile ARN ROLE_ARN..."},
	} {
		code, _, stderr := run(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.err) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, stderr, tc.code, tc.err)
		}
	}
}
