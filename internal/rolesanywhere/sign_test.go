package rolesanywhere

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/logging"
)

func newReq(t *testing.T, url string, body []byte) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json")
	return r
}

// received is r as a server sees it: Host from the URL.
func received(r *http.Request) *http.Request {
	c := r.Clone(context.Background())
	c.Host = r.URL.Host
	return c
}

func TestSignVerifiesIndependently(t *testing.T) {
	ca := newCA(t, "Test Root")
	inter := newCA(t, "Test Intermediate")
	body := []byte(`{"profileArn":"p","roleArn":"r","trustAnchorArn":"a"}`)
	now := time.Date(2026, 12, 2, 6, 30, 0, 0, time.UTC)
	for _, kind := range []string{"ecdsa", "rsa"} {
		for _, withChain := range []bool{false, true} {
			cert, key := leaf(t, ca, kind, "alice")
			r := newReq(t, "https://rolesanywhere.eu-west-1.amazonaws.com/sessions", body)
			var chainArg []*x509.Certificate
			if withChain {
				chainArg = []*x509.Certificate{inter.cert, ca.cert}
			}
			if err := Sign(r, body, cert, chainArg, key, "eu-west-1", now); err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			v, err := verify(received(r), body)
			if err != nil {
				t.Fatalf("%s chain=%v: %v\nAuthorization: %s", kind, withChain, err, r.Header.Get("Authorization"))
			}
			wantAlg := map[string]string{"ecdsa": AlgorithmECDSA, "rsa": AlgorithmRSA}[kind]
			if v.Alg != wantAlg || v.Region != "eu-west-1" || v.Date != "20261202T063000Z" || v.Serial != cert.SerialNumber.String() {
				t.Errorf("%s: read %+v", kind, v)
			}
			if withChain != (len(v.Chain) == 2) {
				t.Errorf("%s chain=%v: chain of %d in the request", kind, withChain, len(v.Chain))
			}
			want := "content-type;host;x-amz-date;x-amz-x509"
			if withChain {
				want += ";x-amz-x509-chain"
			}
			if got := strings.Join(v.SignedHeaders, ";"); got != want {
				t.Errorf("signed headers %s, want %s", got, want)
			}

			// What the signature covers: the body, each signed header, the region.
			if _, err := verify(received(r), []byte(strings.Replace(string(body), `"r"`, `"x"`, 1))); err == nil {
				t.Errorf("%s: a changed body still verifies", kind)
			}
			bad := received(r)
			bad.Header.Set("Content-Type", "text/plain")
			if _, err := verify(bad, body); err == nil {
				t.Errorf("%s: a changed header still verifies", kind)
			}
			bad = received(r)
			bad.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/eu-west-1/", "/eu-west-2/", 1))
			if _, err := verify(bad, body); err == nil {
				t.Errorf("%s: another region's scope still verifies", kind)
			}
		}
	}
}

// TestCanonicalMatchesSDK holds CanonicalRequest to aws-sdk-go-v2's own
// SigV4 canonicalisation on awkward input: a query to sort and escape,
// header values with runs of spaces, a repeated header, an unsigned one.
func TestCanonicalMatchesSDK(t *testing.T) {
	body := []byte(`{"a":1}`)
	r := newReq(t, "https://rolesanywhere.us-east-1.amazonaws.com/sessions?b=2&a=x%20y&a=1&c=%7E*", body)
	r.Header.Set("X-Amz-Date", "20261202T063000Z")
	r.Header.Set("X-Amz-X509", "  AAAA   BBBB ")
	r.Header.Add("X-Custom", "one")
	r.Header.Add("X-Custom", "two  three")
	r.Header.Set("User-Agent", "left out")
	canon, signed := CanonicalRequest(r, body)

	var logged strings.Builder
	cp := r.Clone(context.Background())
	cp.ContentLength = 0
	sum := sha256.Sum256(body)
	at, _ := time.Parse("20060102T150405Z", "20261202T063000Z")
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "k", SecretAccessKey: "s"}, cp,
		hex.EncodeToString(sum[:]), Service, "us-east-1", at, func(o *v4.SignerOptions) {
			o.LogSigning = true
			o.Logger = logging.LoggerFunc(func(_ logging.Classification, f string, a ...interface{}) {
				logged.WriteString(strings.TrimSpace(fmt.Sprintf(f, a...)))
			})
		})
	if err != nil {
		t.Fatal(err)
	}
	if want := sdkCanonical(logged.String()); canon != want {
		t.Errorf("canonical request:\n%s\nthe SDK's:\n%s", canon, want)
	}
	if signed != "content-type;host;x-amz-date;x-amz-x509;x-custom" {
		t.Errorf("signed headers %s", signed)
	}

	// And the string to sign differs from SigV4's only in the algorithm.
	scope := Scope(at, "us-east-1")
	sts := StringToSign(AlgorithmECDSA, at, scope, canon)
	if !strings.HasPrefix(sts, "AWS4-X509-ECDSA-SHA256\n20261202T063000Z\n20261202/us-east-1/rolesanywhere/aws4_request\n") {
		t.Errorf("string to sign:\n%s", sts)
	}
}

// recorder is a crypto.Signer that checks what crypto.Signer promises a
// card: a 32-byte digest and crypto.SHA256 (a crypto.Hash, not PSS), and
// can answer in the raw r||s form some tokens use.
type recorder struct {
	t    *testing.T
	key  *ecdsa.PrivateKey
	raw  bool
	n    int
	fail error
}

func (s *recorder) Public() crypto.PublicKey { return s.key.Public() }

func (s *recorder) Sign(rnd io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s.n++
	if s.fail != nil {
		return nil, s.fail
	}
	if h, ok := opts.(crypto.Hash); !ok || h != crypto.SHA256 || len(digest) != sha256.Size {
		s.t.Errorf("Sign(digest of %d bytes, %#v): want a SHA-256 digest and crypto.SHA256", len(digest), opts)
	}
	if !s.raw {
		return s.key.Sign(rnd, digest, opts)
	}
	r, ss, err := ecdsa.Sign(rnd, s.key, digest)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	ss.FillBytes(out[32:])
	return out, nil
}

func TestSignerContract(t *testing.T) {
	ca := newCA(t, "Test Root")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert := ca.issue(t, "bob", key.Public(), time.Now().Add(time.Hour))
	body := []byte(`{}`)
	for _, raw := range []bool{false, true} {
		s := &recorder{t: t, key: key, raw: raw}
		r := newReq(t, "https://rolesanywhere.us-east-1.amazonaws.com/sessions", body)
		if err := Sign(r, body, cert, nil, s, "us-east-1", time.Now()); err != nil {
			t.Fatalf("raw=%v: %v", raw, err)
		}
		if _, err := verify(received(r), body); err != nil {
			t.Errorf("raw=%v: %v", raw, err)
		}
		if s.n != 1 {
			t.Errorf("the key signed %d times, want once", s.n)
		}
	}

	// Another key than the certificate's: refused here, in words.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	r := newReq(t, "https://rolesanywhere.us-east-1.amazonaws.com/sessions", body)
	if err := Sign(r, body, cert, nil, other, "us-east-1", time.Now()); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("signing with another key: %v, want ErrKeyMismatch", err)
	}
	// The card's own failure comes back wrapped.
	cardErr := errors.New("the card refused: wrong PIN")
	r = newReq(t, "https://rolesanywhere.us-east-1.amazonaws.com/sessions", body)
	if err := Sign(r, body, cert, nil, &recorder{t: t, key: key, fail: cardErr}, "us-east-1", time.Now()); !errors.Is(err, cardErr) {
		t.Errorf("a failing signer: %v", err)
	}
	// A certificate whose key Roles Anywhere cannot sign with.
	ed := *cert
	ed.PublicKey = []byte("ed25519")
	if _, err := Algorithm(&ed); err == nil {
		t.Error("a non-ECDSA, non-RSA key has an algorithm")
	}
}

func TestSignSerialIsDecimal(t *testing.T) {
	ca := newCA(t, "Test Root")
	cert, key := leaf(t, ca, "ecdsa", "carol")
	cert.SerialNumber = new(big.Int).SetBytes([]byte{0xde, 0xad, 0xbe, 0xef})
	body := []byte(`{}`)
	r := newReq(t, "https://rolesanywhere.us-east-1.amazonaws.com/sessions", body)
	if err := Sign(r, body, cert, nil, key, "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Header.Get("Authorization"), "Credential=3735928559/") {
		t.Errorf("Authorization %s: want the serial 0xdeadbeef in decimal", r.Header.Get("Authorization"))
	}
}

// TestDocumentedExample is the canonical request of AWS's Roles Anywhere
// signing-process page (authentication-sign-process.html, Task 1), byte
// for byte: its example's payload hash is that of an empty body.
func TestDocumentedExample(t *testing.T) {
	r := newReq(t, "https://rolesanywhere.us-east-1.amazonaws.com/sessions", nil)
	r.Header.Set("X-Amz-Date", "20211103T120000Z")
	r.Header.Set("X-Amz-X509", "{base64-encoded DER data}")
	canon, signed := CanonicalRequest(r, nil)
	want := "POST\n/sessions\n\n" +
		"content-type:application/json\n" +
		"host:rolesanywhere.us-east-1.amazonaws.com\n" +
		"x-amz-date:20211103T120000Z\n" +
		"x-amz-x509:{base64-encoded DER data}\n" +
		"\n" +
		"content-type;host;x-amz-date;x-amz-x509\n" +
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if canon != want || signed != "content-type;host;x-amz-date;x-amz-x509" {
		t.Errorf("canonical request:\n%s\nAWS's example:\n%s", canon, want)
	}
	at := time.Date(2021, 11, 1, 12, 10, 30, 0, time.UTC)
	if s := Scope(at, "us-east-1"); s != "20211101/us-east-1/rolesanywhere/aws4_request" {
		t.Errorf("scope %s", s)
	}
	sts := StringToSign(AlgorithmRSA, at, Scope(at, "us-east-1"), canon)
	sum := sha256.Sum256([]byte(want))
	if sts != "AWS4-X509-RSA-SHA256\n20211101T121030Z\n20211101/us-east-1/rolesanywhere/aws4_request\n"+hex.EncodeToString(sum[:]) {
		t.Errorf("string to sign:\n%s", sts)
	}
}
