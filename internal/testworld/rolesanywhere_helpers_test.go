package testworld

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"
)

// raCA is a tiny test CA for Roles Anywhere tests: a CA certificate and
// its key, which can issue leaves and intermediate CAs.
type raCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// nextSerial is a random 16-byte serial with a letter in its leading hex
// digit, so the hex and decimal forms are plainly different.
func nextSerial() *big.Int {
	b := make([]byte, 16)
	rand.Read(b)
	b[0] = 0xa0 | b[0]&0x0f
	return new(big.Int).SetBytes(b)
}

func newKey(t *testing.T, alg string) crypto.Signer {
	t.Helper()
	var k crypto.Signer
	var err error
	if alg == "rsa" {
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newRACA makes a self-signed root CA valid around the real clock.
func newRACA(t *testing.T, cn string) *raCA {
	t.Helper()
	key := newKey(t, "ecdsa")
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: cn, Organization: []string{"testworld"}},
		NotBefore: time.Now().Add(-24 * time.Hour), NotAfter: time.Now().Add(10 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	return &raCA{cert: mustCert(t, tmpl, tmpl, key.Public(), key), key: key}
}

// intermediate issues a CA under ca.
func (ca *raCA) intermediate(t *testing.T, cn string) *raCA {
	t.Helper()
	key := newKey(t, "ecdsa")
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(5 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	return &raCA{cert: mustCert(t, tmpl, ca.cert, key.Public(), ca.key), key: key}
}

// leafOpts describe an end-entity certificate; zero times mean valid now.
type leafOpts struct {
	CN        string
	Alg       string // "ecdsa" (P-256) or "rsa" (2048)
	NotBefore time.Time
	NotAfter  time.Time
	DNS       []string
}

// leaf issues an end-entity certificate and its key.
func (ca *raCA) leaf(t *testing.T, o leafOpts) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key := newKey(t, o.Alg)
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().Add(24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: o.CN, Organization: []string{"Example Ops"}, Country: []string{"DE"}},
		NotBefore: o.NotBefore, NotAfter: o.NotAfter, DNSNames: o.DNS,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return mustCert(t, tmpl, ca.cert, key.Public(), ca.key), key
}

func mustCert(t *testing.T, tmpl, parent *x509.Certificate, pub any, key crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// raSign is a TEST-ONLY client-side SigV4-X509 signer, written from the
// Roles Anywhere user guide's "Signing process" so the world's verifier is
// checked against a second reading of it (aws_signing_helper, in e2e, is
// the independent one). It signs Content-Type, Host, X-Amz-Date, X-Amz-X509
// and, when chain is set, X-Amz-X509-Chain.
func raSign(t *testing.T, req *http.Request, body []byte, leaf *x509.Certificate, key crypto.Signer, chain []*x509.Certificate, region string, now time.Time) {
	t.Helper()
	alg := raAlgECDSA
	if _, ok := key.Public().(*rsa.PublicKey); ok {
		alg = raAlgRSA
	}
	amzDate := now.UTC().Format(amzDateLayout)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Amz-Date", amzDate)
	req.Header.Set("X-Amz-X509", base64.StdEncoding.EncodeToString(leaf.Raw))
	if len(chain) > 0 {
		parts := make([]string, len(chain))
		for i, c := range chain {
			parts[i] = base64.StdEncoding.EncodeToString(c.Raw)
		}
		req.Header.Set("X-Amz-X509-Chain", strings.Join(parts, ","))
	}
	hdrs := map[string]string{"host": req.URL.Host}
	for k := range req.Header {
		hdrs[strings.ToLower(k)] = req.Header.Get(k)
	}
	names := make([]string, 0, len(hdrs))
	for k := range hdrs {
		names = append(names, k)
	}
	sort.Strings(names)
	var canon bytes.Buffer
	canon.WriteString(req.Method + "\n" + req.URL.EscapedPath() + "\n")
	canon.WriteString(strings.ReplaceAll(req.URL.Query().Encode(), "+", "%20") + "\n")
	for _, n := range names {
		canon.WriteString(n + ":" + strings.TrimSpace(hdrs[n]) + "\n")
	}
	bodySum := sha256.Sum256(body)
	canon.WriteString("\n" + strings.Join(names, ";") + "\n" + hex.EncodeToString(bodySum[:]))
	crSum := sha256.Sum256(canon.Bytes())
	scope := now.UTC().Format("20060102") + "/" + region + "/rolesanywhere/aws4_request"
	sts := alg + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(crSum[:])
	digest := sha256.Sum256([]byte(sts))
	sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", alg+" Credential="+leaf.SerialNumber.String()+"/"+scope+
		", SignedHeaders="+strings.Join(names, ";")+", Signature="+hex.EncodeToString(sig))
}

// raCall is one CreateSession attempt and what came back.
type raCall struct {
	Region     string
	Query      string // raw query; the ARNs go in the body when empty
	Body       map[string]any
	Leaf       *x509.Certificate
	Key        crypto.Signer
	Chain      []*x509.Certificate
	SignTime   time.Time                             // world clock if zero
	Tamper     func(req *http.Request, body *[]byte) // after signing
	HTTPClient *http.Client
}

type raReply struct {
	Status    int
	ErrorType string
	Message   string
	Out       struct {
		CredentialSet []struct {
			AssumedRoleUser  struct{ Arn, AssumedRoleID string }
			Credentials      struct{ AccessKeyID, SecretAccessKey, SessionToken, Expiration string }
			PackedPolicySize int
			RoleArn          string
			SourceIdentity   string
		}
		SubjectArn string
	}
}

func createSession(t *testing.T, w *World, c raCall) raReply {
	t.Helper()
	body, err := json.Marshal(c.Body)
	if err != nil {
		t.Fatal(err)
	}
	u := "https://rolesanywhere." + c.Region + ".amazonaws.com/sessions"
	if c.Query != "" {
		u += "?" + c.Query
	}
	req, err := http.NewRequest(http.MethodPost, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := c.SignTime
	if st.IsZero() {
		st = w.Now()
	}
	raSign(t, req, body, c.Leaf, c.Key, c.Chain, c.Region, st)
	if c.Tamper != nil {
		c.Tamper(req, &body)
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	hc := c.HTTPClient
	if hc == nil {
		hc = httpClient(t, w, 5*time.Second)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := raReply{Status: resp.StatusCode, ErrorType: resp.Header.Get("x-amzn-ErrorType")}
	if resp.StatusCode == http.StatusCreated {
		if err := json.Unmarshal(raw, &r.Out); err != nil {
			t.Fatalf("CreateSession body %q: %v", raw, err)
		}
		return r
	}
	var e struct{ Message string }
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("CreateSession error body %q is not {\"message\":…}: %v", raw, err)
	}
	r.Message = e.Message
	return r
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
