package rolesanywhere

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Names of the SigV4-X509 protocol ("The IAM Roles Anywhere authentication
// signing process", docs.aws.amazon.com/rolesanywhere/latest/userguide/
// authentication-sign-process.html): SigV4's canonical request and string
// to sign, but the algorithm names the certificate's key type, the
// credential is the certificate's serial number in decimal, and the
// signature is the certificate key's own over SHA-256 of the string to
// sign, in hex — no derived HMAC key.
const (
	AlgorithmECDSA = "AWS4-X509-ECDSA-SHA256"
	AlgorithmRSA   = "AWS4-X509-RSA-SHA256"
	// Service is the signing name in the credential scope.
	Service = "rolesanywhere"

	headerDate  = "X-Amz-Date"
	headerX509  = "X-Amz-X509"
	headerChain = "X-Amz-X509-Chain"
	timeFormat  = "20060102T150405Z"
	dateFormat  = "20060102"
)

// unsignedHeaders are left out of the signature, as aws-sdk-go-v2's SigV4
// signer leaves them (a proxy or the transport may change them).
var unsignedHeaders = map[string]bool{
	"authorization": true, "user-agent": true, "x-amzn-trace-id": true,
	"expect": true, "transfer-encoding": true, "content-length": true,
}

// Algorithm is the SigV4-X509 algorithm for cert's key: ECDSA or RSA (the
// two AWS documents for these names).
func Algorithm(cert *x509.Certificate) (string, error) {
	switch cert.PublicKey.(type) {
	case *ecdsa.PublicKey:
		return AlgorithmECDSA, nil
	case *rsa.PublicKey:
		return AlgorithmRSA, nil
	}
	return "", fmt.Errorf("the certificate's key is %s: Roles Anywhere signs with ECDSA or RSA only", cert.PublicKeyAlgorithm)
}

// Sign signs r, whose body is body, for Roles Anywhere in region at now:
// it sets X-Amz-Date, X-Amz-X509 (cert, base64 DER) and
// X-Amz-X509-Chain (chain, comma-separated, when not empty), then
// Authorization. Every header already on r is signed except those a proxy
// may rewrite (User-Agent, Content-Length, …), so set Content-Type first.
//
// key signs the SHA-256 digest of the string to sign with crypto.SHA256 as
// opts, as crypto.Signer asks: a PIV card key (piv-go) is exactly that. RSA
// signatures are PKCS#1 v1.5 (opts is a crypto.Hash, never PSS). A raw r||s
// ECDSA signature is re-encoded as the ASN.1 DER AWS expects. The signature
// is verified against cert before it is used, so a key that is not the
// certificate's fails here, in words, rather than at AWS.
func Sign(r *http.Request, body []byte, cert *x509.Certificate, chain []*x509.Certificate, key crypto.Signer, region string, now time.Time) error {
	alg, err := Algorithm(cert)
	if err != nil {
		return err
	}
	if cert.SerialNumber == nil || cert.SerialNumber.Sign() < 0 {
		return errors.New("the certificate has no usable serial number")
	}
	now = now.UTC()
	r.Header.Set(headerDate, now.Format(timeFormat))
	r.Header.Set(headerX509, base64.StdEncoding.EncodeToString(cert.Raw))
	r.Header.Del(headerChain)
	if len(chain) > 0 {
		enc := make([]string, len(chain))
		for i, c := range chain {
			enc[i] = base64.StdEncoding.EncodeToString(c.Raw)
		}
		r.Header.Set(headerChain, strings.Join(enc, ","))
	}
	r.Header.Del("Authorization")
	canonical, signed := CanonicalRequest(r, body)
	scope := Scope(now, region)
	sts := StringToSign(alg, now, scope, canonical)
	digest := sha256.Sum256([]byte(sts))
	sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return fmt.Errorf("the certificate's key did not sign: %w", err)
	}
	if sig, err = checkSignature(cert, digest[:], sig); err != nil {
		return err
	}
	r.Header.Set("Authorization", fmt.Sprintf("%s Credential=%s/%s, SignedHeaders=%s, Signature=%s",
		alg, cert.SerialNumber.String(), scope, signed, hex.EncodeToString(sig)))
	return nil
}

// ErrKeyMismatch: the key's signature does not verify with the
// certificate's public key — the certificate was issued for another key.
var ErrKeyMismatch = errors.New("the signing key is not the certificate's key")

// checkSignature verifies sig over digest with cert's key, re-encoding a
// raw (r||s) ECDSA signature as DER first.
func checkSignature(cert *x509.Certificate, digest, sig []byte) ([]byte, error) {
	switch pub := cert.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if !isDER(sig) {
			size := (pub.Curve.Params().BitSize + 7) / 8
			if len(sig) != 2*size {
				return nil, fmt.Errorf("%w (an ECDSA signature of %d bytes)", ErrKeyMismatch, len(sig))
			}
			der, err := asn1.Marshal(struct{ R, S *big.Int }{
				new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])})
			if err != nil {
				return nil, err
			}
			sig = der
		}
		if !ecdsa.VerifyASN1(pub, digest, sig) {
			return nil, ErrKeyMismatch
		}
	case *rsa.PublicKey:
		if rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest, sig) != nil {
			return nil, ErrKeyMismatch
		}
	}
	return sig, nil
}

// isDER reports whether sig is one ASN.1 SEQUENCE of two INTEGERs.
func isDER(sig []byte) bool {
	var v struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(sig, &v)
	return err == nil && len(rest) == 0
}

// Scope is the credential scope: DATE/REGION/rolesanywhere/aws4_request.
func Scope(now time.Time, region string) string {
	return now.UTC().Format(dateFormat) + "/" + region + "/" + Service + "/aws4_request"
}

// StringToSign is SigV4's string to sign under alg: the algorithm, the
// request time, the scope and the hex SHA-256 of the canonical request.
func StringToSign(alg string, now time.Time, scope, canonicalRequest string) string {
	h := sha256.Sum256([]byte(canonicalRequest))
	return alg + "\n" + now.UTC().Format(timeFormat) + "\n" + scope + "\n" + hex.EncodeToString(h[:])
}

// CanonicalRequest is SigV4's canonical request for r with body, and the
// signed-headers list: method, URI path, sorted query, the lower-cased
// sorted headers (host included, values trimmed, inner runs of spaces
// folded, repeats joined with ","), the signed header names joined with
// ";" (as AWS's example and SigV4 have it; the Roles Anywhere page's prose
// says "comma-delimited"), and the hex SHA-256 of the body. It matches
// the example of AWS's signing-process page byte for byte and
// aws-sdk-go-v2's SigV4 canonicalisation (tests); CreateSession has no
// query, and this path is never escaped twice.
func CanonicalRequest(r *http.Request, body []byte) (canonical, signedHeaders string) {
	host := r.Host
	if host == "" && r.URL != nil {
		host = r.URL.Host
	}
	vals := map[string][]string{"host": {host}}
	names := []string{"host"}
	for k, v := range r.Header {
		lk := strings.ToLower(k)
		if unsignedHeaders[lk] || lk == "host" {
			continue
		}
		if _, ok := vals[lk]; !ok {
			names = append(names, lk)
		}
		vals[lk] = append(vals[lk], v...)
	}
	sort.Strings(names)
	var hdrs bytes.Buffer
	for _, n := range names {
		vs := make([]string, len(vals[n]))
		for i, v := range vals[n] {
			vs[i] = foldSpaces(v)
		}
		hdrs.WriteString(n + ":" + strings.Join(vs, ",") + "\n")
	}
	signedHeaders = strings.Join(names, ";")
	path := "/"
	query := ""
	if r.URL != nil {
		if p := r.URL.EscapedPath(); p != "" {
			path = p
		}
		query = canonicalQuery(r.URL.Query())
	}
	bh := sha256.Sum256(body)
	canonical = strings.Join([]string{r.Method, path, query, hdrs.String(), signedHeaders, hex.EncodeToString(bh[:])}, "\n")
	return canonical, signedHeaders
}

// canonicalQuery sorts q by key, then value, each URI-encoded as SigV4
// wants (RFC 3986 unreserved characters kept, space as %20).
func canonicalQuery(q url.Values) string {
	type pair struct{ k, v string }
	var pairs []pair
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, pair{uriEncode(k), uriEncode(v)})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	out := make([]string, len(pairs))
	for i, p := range pairs {
		out[i] = p.k + "=" + p.v
	}
	return strings.Join(out, "&")
}

// foldSpaces trims v and folds each run of spaces to one, as SigV4's
// canonical header values are.
func foldSpaces(v string) string {
	var b strings.Builder
	space := false
	for _, c := range strings.Trim(v, " ") {
		if c == ' ' {
			if !space {
				b.WriteRune(c)
			}
			space = true
			continue
		}
		space = false
		b.WriteRune(c)
	}
	return b.String()
}

func uriEncode(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
