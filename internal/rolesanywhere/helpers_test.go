package rolesanywhere

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/logging"

	"github.com/bg-agent/bg-agent/internal/chain"
)

// testCA is a throwaway CA for leaf and server certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t testing.TB, cn string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: key}
}

// issue signs a certificate for pub; hosts make it a server certificate.
func (ca *testCA) issue(t testing.TB, cn string, pub crypto.PublicKey, notAfter time.Time, hosts ...string) *x509.Certificate {
	t.Helper()
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		DNSNames: hosts,
	}
	if len(hosts) > 0 {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

// leaf makes a key of kind "ecdsa" or "rsa" and its certificate from ca.
func leaf(t testing.TB, ca *testCA, kind, cn string) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	var key crypto.Signer
	switch kind {
	case "ecdsa":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		key = k
	case "rsa":
		rsaOnce.Do(func() { rsaKey, _ = rsa.GenerateKey(rand.Reader, 2048) })
		key = rsaKey
	}
	return ca.issue(t, cn, key.Public(), time.Now().Add(12*time.Hour)), key
}

// verified is what the test verifier read from a request.
type verified struct {
	Alg, Serial, Date, Region string
	SignedHeaders             []string
	Cert                      *x509.Certificate
	Chain                     []*x509.Certificate
}

var authRE = regexp.MustCompile(`^(AWS4-X509-(?:ECDSA|RSA)-SHA256) Credential=(\d+)/(\d{8})/([a-z0-9-]+)/rolesanywhere/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]+)$`)

// verify checks r's SigV4-X509 signature independently of Sign: the
// canonical request and string to sign come from aws-sdk-go-v2's own
// SigV4 signer (its signing log) over a copy of r holding only the signed
// headers, and the signature is checked with crypto/ecdsa or crypto/rsa
// against the certificate in X-Amz-X509.
func verify(r *http.Request, body []byte) (*verified, error) {
	m := authRE.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return nil, fmt.Errorf("Authorization %q has not the AWS4-X509 shape", r.Header.Get("Authorization"))
	}
	v := &verified{Alg: m[1], Serial: m[2], Region: m[4], SignedHeaders: strings.Split(m[5], ";")}
	der, err := base64.StdEncoding.DecodeString(r.Header.Get("X-Amz-X509"))
	if err != nil {
		return nil, fmt.Errorf("X-Amz-X509: %v", err)
	}
	if v.Cert, err = x509.ParseCertificate(der); err != nil {
		return nil, fmt.Errorf("X-Amz-X509: %v", err)
	}
	if ch := r.Header.Get("X-Amz-X509-Chain"); ch != "" {
		for _, part := range strings.Split(ch, ",") {
			der, err := base64.StdEncoding.DecodeString(part)
			if err != nil {
				return nil, fmt.Errorf("X-Amz-X509-Chain: %v", err)
			}
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, fmt.Errorf("X-Amz-X509-Chain: %v", err)
			}
			v.Chain = append(v.Chain, c)
		}
	}
	if v.Cert.SerialNumber.String() != v.Serial {
		return nil, fmt.Errorf("credential %s is not the certificate's serial %s", v.Serial, v.Cert.SerialNumber)
	}
	v.Date = r.Header.Get("X-Amz-Date")
	at, err := time.Parse("20060102T150405Z", v.Date)
	if err != nil || at.Format("20060102") != m[3] {
		return nil, fmt.Errorf("X-Amz-Date %q does not match the scope date %s", v.Date, m[3])
	}
	for _, need := range []string{"host", "x-amz-date", "x-amz-x509"} {
		if !contains(v.SignedHeaders, need) {
			return nil, fmt.Errorf("%s is not signed", need)
		}
	}
	if r.Header.Get("X-Amz-X509-Chain") != "" && !contains(v.SignedHeaders, "x-amz-x509-chain") {
		return nil, fmt.Errorf("x-amz-x509-chain is not signed")
	}

	// The SDK's canonical request over exactly the signed headers.
	cp, _ := http.NewRequest(r.Method, "https://"+r.Host+r.URL.RequestURI(), nil)
	for _, h := range v.SignedHeaders {
		if h != "host" {
			cp.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	cp.ContentLength = 0
	var logged bytes.Buffer
	sum := sha256.Sum256(body)
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "x", SecretAccessKey: "y"}, cp,
		hex.EncodeToString(sum[:]), Service, v.Region, at, func(o *v4.SignerOptions) {
			o.LogSigning = true
			o.Logger = logging.LoggerFunc(func(_ logging.Classification, format string, args ...interface{}) {
				fmt.Fprintf(&logged, format, args...)
			})
		})
	if err != nil {
		return nil, err
	}
	_, sts, ok := strings.Cut(logged.String(), "---[ STRING TO SIGN ]--------------------------------\n")
	if !ok {
		return nil, fmt.Errorf("no string to sign in the SDK's log")
	}
	sts, _, _ = strings.Cut(sts, "\n-----")
	canon := sdkCanonical(logged.String())
	if sh := strings.Split(canon, "\n"); sh[len(sh)-2] != m[5] {
		return nil, fmt.Errorf("signed headers %s, the SDK would sign %s", m[5], sh[len(sh)-2])
	}
	sts = v.Alg + strings.TrimPrefix(sts, "AWS4-HMAC-SHA256")
	digest := sha256.Sum256([]byte(sts))
	sig, err := hex.DecodeString(m[6])
	if err != nil {
		return nil, err
	}
	switch pub := v.Cert.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if v.Alg != AlgorithmECDSA || !ecdsa.VerifyASN1(pub, digest[:], sig) {
			return nil, fmt.Errorf("ECDSA signature does not verify")
		}
	case *rsa.PublicKey:
		if v.Alg != AlgorithmRSA || rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) != nil {
			return nil, fmt.Errorf("RSA signature does not verify")
		}
	default:
		return nil, fmt.Errorf("unexpected key %T", pub)
	}
	return v, nil
}

// sdkCanonical cuts the canonical request out of the SDK's signing log.
func sdkCanonical(log string) string {
	_, c, _ := strings.Cut(log, "---[ CANONICAL STRING  ]-----------------------------\n")
	c, _, _ = strings.Cut(c, "\n---[ STRING TO SIGN ]")
	return c
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// answer is what the fake says to one CreateSession in a region.
type answer struct {
	fault   string // "", "refuse", "blackhole"
	status  int    // 0: 201 with credentials
	code    string // error code (X-Amzn-ErrorType)
	message string
	body    string        // a raw body instead
	date    time.Duration // the Date header's offset from now
}

// call is one request the fake received.
type call struct {
	Region string
	In     createSessionInput
	V      *verified
	Err    error
}

// fakeRA serves CreateSession at rolesanywhere.REGION.amazonaws.com for
// the tests, through a client whose dialer maps those names to it and
// whose ConnectBudget is the chain's.
type fakeRA struct {
	t       *testing.T
	srv     *httptest.Server
	answers map[string]answer
	mu      sync.Mutex
	calls   []call
	client  aws.HTTPClient
	refused string
	hole    net.Listener
}

func newFake(t *testing.T, regions []string, answers map[string]answer) *fakeRA {
	t.Helper()
	f := &fakeRA{t: t, answers: answers}
	ca := newCA(t, "fake AWS CA")
	var hosts []string
	for _, r := range regions {
		hosts = append(hosts, "rolesanywhere."+r+".amazonaws.com")
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert := ca.issue(t, "fake rolesanywhere", key.Public(), time.Now().Add(time.Hour), hosts...)
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key}}}
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)

	// A port nothing listens on, and a listener that never answers.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	f.refused = l.Addr().String()
	l.Close()
	f.hole, _ = net.Listen("tcp", "127.0.0.1:0")
	t.Cleanup(func() { f.hole.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := f.hole.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()

	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, _ := net.SplitHostPort(addr)
			region := strings.TrimSuffix(strings.TrimPrefix(host, "rolesanywhere."), ".amazonaws.com")
			target := f.srv.Listener.Addr().String()
			switch f.answers[region].fault {
			case "refuse":
				target = f.refused
			case "blackhole":
				target = f.hole.Addr().String()
			}
			return (&net.Dialer{}).DialContext(ctx, network, target)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	f.client = chain.NewConnectBudget(tr.RoundTrip, 300*time.Millisecond)
	return f
}

func (f *fakeRA) serve(w http.ResponseWriter, r *http.Request) {
	region := strings.TrimSuffix(strings.TrimPrefix(r.Host, "rolesanywhere."), ".amazonaws.com")
	body, _ := io.ReadAll(r.Body)
	c := call{Region: region}
	c.V, c.Err = verify(r, body)
	if c.Err == nil && (r.Method != http.MethodPost || r.URL.Path != "/sessions" || r.Header.Get("Content-Type") != "application/json") {
		c.Err = fmt.Errorf("%s %s (%s) is not CreateSession", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
	}
	if c.Err == nil {
		c.Err = json.Unmarshal(body, &c.In)
	}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
	a := f.answers[region]
	w.Header().Set("Date", time.Now().Add(a.date).UTC().Format(http.TimeFormat))
	switch {
	case c.Err != nil:
		writeErr(w, 403, "AccessDeniedException", "test verifier: "+c.Err.Error())
	case a.body != "":
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	case a.status != 0:
		writeErr(w, a.status, a.code, a.message)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		fmt.Fprintf(w, `{"credentialSet":[{"assumedRoleUser":{"arn":"arn:aws:sts::111111111111:assumed-role/BreakGlass/%[1]x","assumedRoleId":"AROAEXAMPLE:%[1]x"},`+
			`"credentials":{"accessKeyId":"ASIA%[2]s","secretAccessKey":"secret-%[2]s","sessionToken":"token-%[2]s","expiration":%[3]q},`+
			`"packedPolicySize":3,"roleArn":%[4]q,"sourceIdentity":%[5]q}],"subjectArn":"arn:aws:rolesanywhere:%[2]s:111111111111:subject/abc"}`,
			c.V.Cert.SerialNumber, region, exp, c.In.RoleArn, c.V.Cert.Subject.CommonName)
	}
}

// writeErr writes a restJson1 error as AWS services do.
func writeErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code+":http://internal.amazon.com/coral/com.amazonaws.roles/")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func (f *fakeRA) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

// lines is a Reporter that keeps what it is told.
type lines struct {
	mu  sync.Mutex
	out []string
}

func (l *lines) Infof(f string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.out = append(l.out, fmt.Sprintf(f, a...))
}

func (l *lines) Noticef(f string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.out = append(l.out, "NOTICE "+fmt.Sprintf(f, a...))
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.out, "\n")
}
