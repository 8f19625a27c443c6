package e2e

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/bg-agent/bg-agent/internal/testworld"
	"github.com/bg-agent/bg-agent/internal/vyubikey/vyubikeytest"
)

// signingHelperVersion is AWS's own Roles Anywhere client, used as an
// implementation of SigV4-X509 that is not ours: if it gets credentials
// from the fake, the fake reads the wire as AWS does (issue 15).
const signingHelperVersion = "v1.4.0"

var (
	helperOnce sync.Once
	helperBin  string
	helperWhy  string
)

// signingHelper builds aws_signing_helper from the Go module proxy once per
// machine (os.UserCacheDir()/bg-agent-bench/aws_signing_helper-VERSION),
// from a copy of the module so nothing of ours is touched; "" and why if
// that is impossible here.
func signingHelper(t *testing.T) string {
	t.Helper()
	helperOnce.Do(func() { helperBin, helperWhy = buildSigningHelper(t.TempDir()) })
	requireTool(t, helperBin != "", "aws_signing_helper "+signingHelperVersion+" ("+helperWhy+")")
	return helperBin
}

func buildSigningHelper(tmp string) (string, string) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	bin := filepath.Join(cache, "bg-agent-bench", "aws_signing_helper-"+signingHelperVersion)
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return bin, ""
	}
	mod := "github.com/aws/rolesanywhere-credential-helper@" + signingHelperVersion
	dl := exec.Command("go", "mod", "download", "-json", mod)
	dl.Dir = tmp
	dl.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	out, err := dl.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); err != nil || jerr != nil || info.Dir == "" {
		return "", fmt.Sprintf("go mod download %s failed: %v %s %s", mod, err, info.Error, stderrOf(err))
	}
	src := filepath.Join(tmp, "helper")
	if err := copyTree(info.Dir, src); err != nil {
		return "", "copying " + info.Dir + ": " + err.Error()
	}
	built := filepath.Join(tmp, "aws_signing_helper")
	gb := exec.Command("go", "build", "-trimpath", "-o", built, ".")
	gb.Dir = src
	gb.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := gb.CombinedOutput(); err != nil {
		return "", fmt.Sprintf("go build in a copy of %s failed: %v\n%s", info.Dir, err, out)
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return built, ""
	}
	staged := bin + fmt.Sprintf(".%d", os.Getpid())
	if copyFile(built, staged, 0o755) == nil && os.Rename(staged, bin) == nil {
		return bin, ""
	}
	return built, ""
}

// raPKI is a CA and the files of leaves it issued, for the helper's flags.
type raPKI struct {
	dir  string
	cert *x509.Certificate
	key  crypto.Signer
}

func newRAPKI(t *testing.T, cn string) *raPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-24 * time.Hour), NotAfter: time.Now().Add(30 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	check(t, err)
	c, err := x509.ParseCertificate(der)
	check(t, err)
	return &raPKI{dir: t.TempDir(), cert: c, key: key}
}

func serial(t *testing.T) *big.Int {
	b := make([]byte, 16)
	_, err := rand.Read(b)
	check(t, err)
	b[0] = 0x70 | b[0]&0x0f
	return new(big.Int).SetBytes(b)
}

// leaf writes an end-entity certificate and its PKCS #8 key as PEM files.
func (p *raPKI) leaf(t *testing.T, name, cn, alg string, notBefore, notAfter time.Time) (certFile, keyFile string, c *x509.Certificate) {
	t.Helper()
	var key crypto.Signer
	var err error
	if alg == "rsa" {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	check(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: cn, Organization: []string{"Example Ops"}},
		NotBefore: notBefore, NotAfter: notAfter, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, key.Public(), p.key)
	check(t, err)
	c, err = x509.ParseCertificate(der)
	check(t, err)
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	check(t, err)
	certFile, keyFile = filepath.Join(p.dir, name+".crt"), filepath.Join(p.dir, name+".key")
	check(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	check(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600))
	return certFile, keyFile, c
}

// TestSigningHelperAgainstWorld runs AWS's aws_signing_helper against the
// world's Roles Anywhere: credentials for a good certificate (ECDSA and
// RSA) that work in the world's STS, and AccessDeniedException for an
// expired certificate, an untrusted CA and a role the profile lacks.
func TestSigningHelperAgainstWorld(t *testing.T) {
	bin := signingHelper(t)
	n := seq.Add(1)
	const region, acct = "us-west-2", "444444444444"
	anchor := fmt.Sprintf("arn:aws:rolesanywhere:%s:%s:trust-anchor/helper-%d", region, acct, n)
	profile := fmt.Sprintf("arn:aws:rolesanywhere:%s:%s:profile/helper-%d", region, acct, n)
	role := testworld.DemoRoleARN(acct, fmt.Sprintf("HelperRA-%d", n))
	outside := testworld.DemoRoleARN(acct, fmt.Sprintf("NotInProfile-%d", n))
	pki := newRAPKI(t, "Helper Test Root")
	check(t, world.AddTrustAnchor(testworld.TrustAnchor{ARN: anchor, Region: region, Certs: []*x509.Certificate{pki.cert}}))
	check(t, world.AddRAProfile(testworld.RAProfile{ARN: profile, Region: region, RoleARNs: []string{role}, DurationSeconds: 3600, Enabled: true}))
	check(t, world.AddRole(testworld.Role{ARN: role, Trust: []string{testworld.RolesAnywherePrincipal}}))
	check(t, world.AddRole(testworld.Role{ARN: outside, Trust: []string{testworld.RolesAnywherePrincipal}}))

	run := func(t *testing.T, cert, key, roleARN string) (out []byte, stderr string, err error) {
		cmd := exec.Command(bin, "credential-process", "--certificate", cert, "--private-key", key,
			"--trust-anchor-arn", anchor, "--profile-arn", profile, "--role-arn", roleARN,
			"--region", region, "--with-proxy", "--session-duration", "900")
		cmd.Env = append(world.Env(), "HOME="+t.TempDir(), "PATH="+os.Getenv("PATH"),
			"AWS_CONFIG_FILE="+os.DevNull, "AWS_SHARED_CREDENTIALS_FILE="+os.DevNull)
		var eb bytes.Buffer
		cmd.Stderr = &eb
		out, err = cmd.Output()
		return out, eb.String(), err
	}
	now := time.Now()
	for _, alg := range []string{"ecdsa", "rsa"} {
		t.Run("good "+alg, func(t *testing.T) {
			cn := "helper-" + alg
			cert, key, c := pki.leaf(t, alg, cn, alg, now.Add(-time.Hour), now.Add(24*time.Hour))
			out, stderr, err := run(t, cert, key, role)
			if err != nil {
				t.Fatalf("aws_signing_helper: %v\n%s", err, stderr)
			}
			var cp struct {
				Version                                                int
				AccessKeyId, SecretAccessKey, SessionToken, Expiration string
			}
			if err := json.Unmarshal(out, &cp); err != nil || cp.Version != 1 || cp.AccessKeyId == "" {
				t.Fatalf("credential-process output %q: %v", out, err)
			}
			info, ok := world.Session(cp.AccessKeyId)
			wantARN := "arn:aws:sts::" + acct + ":assumed-role/" + role[strings.LastIndex(role, "/")+1:] + "/" + c.SerialNumber.Text(16)
			if !ok || info.ARN != wantARN || info.SourceIdentity != cn {
				t.Fatalf("session %+v (known %v), want %s with source identity %s", info, ok, wantARN, cn)
			}
			id := callerIdentity(t, aws.Credentials{AccessKeyID: cp.AccessKeyId, SecretAccessKey: cp.SecretAccessKey, SessionToken: cp.SessionToken}, region)
			if id != wantARN {
				t.Fatalf("GetCallerIdentity %s, want %s", id, wantARN)
			}
			var logged bool
			for _, k := range world.Calls() {
				if k.Action == "CreateSession" && k.CertSerial == c.SerialNumber.String() && k.HTTPStatus == 201 && k.TrustAnchorArn == anchor && k.DurationSeconds == 900 {
					logged = true
				}
			}
			if !logged {
				t.Fatal("the world's call log has no successful CreateSession for this certificate")
			}
		})
	}
	other := newRAPKI(t, "Not Our CA")
	for _, tc := range []struct {
		name       string
		files      func(t *testing.T) (string, string)
		role, want string
	}{
		{"expired certificate", func(t *testing.T) (string, string) {
			c, k, _ := pki.leaf(t, "expired", "helper-expired", "ecdsa", now.Add(-48*time.Hour), now.Add(-time.Hour))
			return c, k
		}, role, "expired"},
		{"untrusted CA", func(t *testing.T) (string, string) {
			c, k, _ := other.leaf(t, "stranger", "helper-stranger", "ecdsa", now.Add(-time.Hour), now.Add(time.Hour))
			return c, k
		}, role, "Untrusted signing certificate"},
		{"role not in profile", func(t *testing.T) (string, string) {
			c, k, _ := pki.leaf(t, "outside", "helper-outside", "rsa", now.Add(-time.Hour), now.Add(time.Hour))
			return c, k
		}, outside, "not one of the roles"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cert, key := tc.files(t)
			out, stderr, err := run(t, cert, key, tc.role)
			if err == nil {
				t.Fatalf("aws_signing_helper succeeded: %s", out)
			}
			if !strings.Contains(stderr, "AccessDeniedException") || !strings.Contains(stderr, tc.want) {
				t.Fatalf("aws_signing_helper failed with %q, want AccessDeniedException mentioning %q", stderr, tc.want)
			}
		})
	}
}

// callerIdentity asks the world's STS who creds are, through its proxy.
func callerIdentity(t *testing.T, creds aws.Credentials, region string) string {
	t.Helper()
	pemCA, err := os.ReadFile(world.CAFile())
	check(t, err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCA)
	proxy, _ := url.Parse(world.ProxyURL())
	tr := &http.Transport{Proxy: http.ProxyURL(proxy), TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	out, err := sts.New(sts.Options{Region: region, Credentials: credentials.StaticCredentialsProvider{Value: creds},
		HTTPClient: &http.Client{Transport: tr, Timeout: 10 * time.Second}, Retryer: aws.NopRetryer{}}).
		GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	check(t, err)
	return *out.Arn
}

const ykcs11Lib = "/usr/lib/x86_64-linux-gnu/libykcs11.so"

// TestSigningHelperPKCS11 is the same exchange with the key on the virtual
// YubiKey (slot 9a, generated on the card) and aws_signing_helper signing
// through Yubico's PKCS #11 module, ykcs11: the path a YubiKey user of
// Roles Anywhere takes without bg-agent.
func TestSigningHelperPKCS11(t *testing.T) {
	_, err := os.Stat(ykcs11Lib)
	requireTool(t, err == nil, "ykcs11 (Debian package ykcs11)")
	bin := signingHelper(t)
	vyubikeytest.Start(t, vyubikeytest.Options{Serial: 13000431})
	const mgmt = "010203040506070801020304050607080102030405060708" // the card's factory management key
	dir := t.TempDir()
	pubFile, certFile := filepath.Join(dir, "9a.pub"), filepath.Join(dir, "9a.crt")
	if _, err := vyubikeytest.Ykman(t, "piv", "keys", "generate", "--management-key", mgmt, "--algorithm", "ECCP256", "9a", pubFile); err != nil {
		t.Fatal(err)
	}
	pubPEM, err := os.ReadFile(pubFile)
	check(t, err)
	blk, _ := pem.Decode(pubPEM)
	if blk == nil {
		t.Fatalf("ykman wrote no PEM public key: %q", pubPEM)
	}
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	check(t, err)

	n := seq.Add(1)
	const region, acct = "eu-central-1", "555555555555"
	anchor := fmt.Sprintf("arn:aws:rolesanywhere:%s:%s:trust-anchor/yk-%d", region, acct, n)
	profile := fmt.Sprintf("arn:aws:rolesanywhere:%s:%s:profile/yk-%d", region, acct, n)
	role := testworld.DemoRoleARN(acct, fmt.Sprintf("YubiKeyRA-%d", n))
	pki := newRAPKI(t, "YubiKey Ops CA")
	check(t, world.AddTrustAnchor(testworld.TrustAnchor{ARN: anchor, Region: region, Certs: []*x509.Certificate{pki.cert}}))
	check(t, world.AddRAProfile(testworld.RAProfile{ARN: profile, Region: region, RoleARNs: []string{role}, Enabled: true}))
	check(t, world.AddRole(testworld.Role{ARN: role, Trust: []string{testworld.RolesAnywherePrincipal}}))

	tmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: "yk-operator"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, pki.cert, pub, pki.key)
	check(t, err)
	check(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	if _, err := vyubikeytest.Ykman(t, "piv", "certificates", "import", "--management-key", mgmt, "9a", certFile); err != nil {
		t.Fatal(err)
	}

	// The factory PIN of a fresh test card, in the URI as the helper's
	// README shows; a real user's PIN would never go on a command line.
	cmd := exec.Command(bin, "credential-process", "--certificate", "pkcs11:type=cert;object=X.509%20Certificate%20for%20PIV%20Authentication?pin-value=123456", "--pkcs11-lib", ykcs11Lib,
		"--trust-anchor-arn", anchor, "--profile-arn", profile, "--role-arn", role, "--region", region, "--with-proxy")
	cmd.Env = append(world.Env(), "HOME="+t.TempDir(), "PATH="+os.Getenv("PATH"), "AWS_CONFIG_FILE="+os.DevNull, "AWS_SHARED_CREDENTIALS_FILE="+os.DevNull)
	var eb bytes.Buffer
	cmd.Stderr = &eb
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("aws_signing_helper with ykcs11: %v\n%s", err, eb.String())
	}
	var cp struct{ AccessKeyId, SecretAccessKey, SessionToken string }
	check(t, json.Unmarshal(out, &cp))
	info, ok := world.Session(cp.AccessKeyId)
	if !ok || info.SourceIdentity != "yk-operator" || !strings.HasSuffix(info.ARN, "/"+tmpl.SerialNumber.Text(16)) {
		t.Fatalf("session %+v (known %v)", info, ok)
	}
}
