package testworld

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The two SigV4-X509 algorithms (Roles Anywhere user guide, "Signing
// process"): SigV4's canonical request and string to sign, signed with the
// certificate's key instead of an HMAC chain.
const (
	raAlgECDSA = "AWS4-X509-ECDSA-SHA256"
	raAlgRSA   = "AWS4-X509-RSA-SHA256"
)

// raRequest is CreateSession's input. The API reference says profileArn,
// roleArn and trustAnchorArn may come as URI parameters or in the JSON
// body; aws_signing_helper sends them in the query string.
type raRequest struct {
	DurationSeconds *int   `json:"durationSeconds"`
	ProfileArn      string `json:"profileArn"`
	RoleArn         string `json:"roleArn"`
	TrustAnchorArn  string `json:"trustAnchorArn"`
	SessionName     string `json:"sessionName"` // deprecated, ignored
	RoleSessionName string `json:"roleSessionName"`
}

// raError is a REST-JSON error: the code in x-amzn-ErrorType, the text in
// {"message":…}, which is what AWS SDKs for rolesanywhere unmarshal.
func raError(status int, code, msg string) *apiError {
	return &apiError{Status: status, Code: code, Message: msg}
}

func raDenied(msg string) *apiError { return raError(403, "AccessDeniedException", msg) }

func raValidation(msg string) *apiError { return raError(400, "ValidationException", msg) }

// serveRolesAnywhere answers POST /sessions, IAM Roles Anywhere's
// CreateSession, in AWS's order: input, signature, trust chain, profile,
// role, duration.
func (w *World) serveRolesAnywhere(q *request) {
	c := &q.call
	c.Action = "CreateSession"
	if e := q.fault.apiError(); e != nil {
		// REST-JSON services name these differently from the Query ones.
		if e.Code == "Throttling" {
			e = raError(429, "ThrottlingException", e.Message)
		} else {
			e = raError(e.Status, "ServiceUnavailableException", e.Message)
		}
		w.failRA(q, e)
		return
	}
	if q.r.Method != http.MethodPost || q.r.URL.Path != "/sessions" {
		c.Action = q.r.Method + " " + q.r.URL.Path
		w.failRA(q, raError(404, "UnknownOperationException", "Unknown operation: "+q.r.Method+" "+q.r.URL.Path))
		return
	}
	in, e := parseRARequest(q)
	if e == nil {
		c.RoleArn, c.TrustAnchorArn, c.ProfileArn = in.RoleArn, in.TrustAnchorArn, in.ProfileArn
		if in.DurationSeconds != nil {
			c.DurationSeconds = *in.DurationSeconds
		}
		e = validateRARequest(in)
	}
	if e != nil {
		w.failRA(q, e)
		return
	}
	leaf, chain, e := w.authenticateX509(q)
	if leaf != nil {
		c.CertSubject, c.CertSerial = leaf.Subject.CommonName, leaf.SerialNumber.String()
	}
	if e != nil {
		w.failRA(q, e)
		return
	}
	anchor, profile := w.raLookup(in.TrustAnchorArn, in.ProfileArn)
	if anchor == nil || anchor.Region != q.t.Region {
		w.failRA(q, raError(404, "ResourceNotFoundException", "Trust anchor not found: "+in.TrustAnchorArn))
		return
	}
	if e := verifyChain(leaf, chain, anchor, w.Now()); e != nil {
		w.failRA(q, e)
		return
	}
	switch {
	case profile == nil || profile.Region != q.t.Region:
		w.failRA(q, raError(404, "ResourceNotFoundException", "Profile not found: "+in.ProfileArn))
		return
	case !profile.Enabled:
		w.failRA(q, raDenied("Profile is disabled: "+in.ProfileArn))
		return
	case !contains(profile.RoleARNs, in.RoleArn):
		w.failRA(q, raDenied(fmt.Sprintf("Role %s is not one of the roles of profile %s", in.RoleArn, in.ProfileArn)))
		return
	}
	w.mu.Lock()
	role := w.roles[in.RoleArn]
	w.mu.Unlock()
	// Roles Anywhere assumes the role as its service principal, which needs
	// sts:AssumeRole, sts:SetSourceIdentity and sts:TagSession ("Trust model").
	if role == nil || !role.trusts(RolesAnywherePrincipal) || role.DenySourceIdentity || role.DenyTagSession {
		w.failRA(q, raDenied("Unable to assume role "+in.RoleArn+": its trust policy must allow rolesanywhere.amazonaws.com sts:AssumeRole, sts:TagSession and sts:SetSourceIdentity"))
		return
	}
	d := 3600
	if in.DurationSeconds != nil {
		d = *in.DurationSeconds
	}
	// The profile's durationSeconds bounds what the session gets
	// (CreateProfile: "how long sessions vended using this profile are
	// valid for"); a longer request is shortened, not refused.
	d = min(d, profile.maxDuration())
	w.createSession(q, leaf, role, d)
}

// parseRARequest reads the JSON body and overlays the URI parameters.
func parseRARequest(q *request) (raRequest, *apiError) {
	var in raRequest
	if b := bytes.TrimSpace(q.body); len(b) > 0 {
		if err := json.Unmarshal(b, &in); err != nil {
			return in, raError(400, "SerializationException", "Unable to parse the request body as CreateSessionRequest: "+err.Error())
		}
	}
	qs := q.r.URL.Query()
	for name, dst := range map[string]*string{"profileArn": &in.ProfileArn, "roleArn": &in.RoleArn, "trustAnchorArn": &in.TrustAnchorArn} {
		if v := qs.Get(name); v != "" {
			*dst = v
		}
	}
	if v := qs.Get("durationSeconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return in, raValidation("durationSeconds must be an integer")
		}
		in.DurationSeconds = &n
	}
	return in, nil
}

func validateRARequest(in raRequest) *apiError {
	constraint := func(v any, field, what string) *apiError {
		e := errConstraint(v, field, what)
		return raValidation(e.Message)
	}
	switch {
	case in.ProfileArn == "":
		return constraint(nil, "profileArn", "must not be null")
	case in.RoleArn == "":
		return constraint(nil, "roleArn", "must not be null")
	case in.TrustAnchorArn == "":
		return constraint(nil, "trustAnchorArn", "must not be null")
	case in.DurationSeconds != nil && *in.DurationSeconds < 900:
		return constraint(*in.DurationSeconds, "durationSeconds", "must have value greater than or equal to 900")
	case in.DurationSeconds != nil && *in.DurationSeconds > 43200:
		return constraint(*in.DurationSeconds, "durationSeconds", "must have value less than or equal to 43200")
	case in.RoleSessionName != "":
		// Custom names need the profile's acceptRoleSessionName, which the
		// world's profiles do not model.
		return raValidation("roleSessionName is not accepted by this profile")
	}
	return nil
}

// authenticateX509 checks the SigV4-X509 signature: the algorithm, the
// scope and the ±5 min X-Amz-Date window as for SigV4, that Credential
// names the leaf's serial (decimal, as aws_signing_helper writes it), and
// the signature over the string to sign with the leaf's public key. The
// leaf is returned once parsed, even on failure, for the call log.
func (w *World) authenticateX509(q *request) (*x509.Certificate, []*x509.Certificate, *apiError) {
	h := q.r.Header
	authz := h.Get("Authorization")
	if authz == "" {
		return nil, nil, raDenied("Missing Authentication Token")
	}
	alg, rest, _ := strings.Cut(authz, " ")
	if alg != raAlgECDSA && alg != raAlgRSA {
		return nil, nil, raDenied(fmt.Sprintf("Unsupported signing algorithm %q: CreateSession is signed with %s or %s", alg, raAlgECDSA, raAlgRSA))
	}
	a, ok := parseAuthorization("AWS4-HMAC-SHA256 " + rest) // same fields, other algorithm
	if !ok {
		return nil, nil, raError(400, "IncompleteSignatureException", "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.")
	}
	der, err := base64.StdEncoding.DecodeString(h.Get("X-Amz-X509"))
	if err != nil || len(der) == 0 {
		return nil, nil, raValidation("X-Amz-X509 must hold the base64 DER of the signing certificate")
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, raValidation("X-Amz-X509 is not a valid X.509 certificate")
	}
	var chain []*x509.Certificate
	if v := h.Get("X-Amz-X509-Chain"); v != "" {
		for _, part := range strings.Split(v, ",") {
			der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(part))
			if err != nil {
				return leaf, nil, raValidation("X-Amz-X509-Chain must be comma-separated base64 DER certificates")
			}
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return leaf, nil, raValidation("X-Amz-X509-Chain holds an invalid X.509 certificate")
			}
			chain = append(chain, c)
		}
	}
	amzDate := h.Get("X-Amz-Date")
	if e := checkScope(a, amzDate, q.t.Region, q.t.Service, w.Now()); e != nil {
		if e.Code == "SignatureDoesNotMatch" { // REST-JSON's name for it
			e = raError(e.Status, "InvalidSignatureException", e.Message)
		} else {
			e = raError(e.Status, e.Code+"Exception", e.Message)
		}
		return leaf, chain, e
	}
	if a.AccessKeyID != leaf.SerialNumber.String() {
		return leaf, chain, raDenied("Invalid signature: Credential must begin with the signing certificate's serial number in decimal")
	}
	need := []string{"host", "x-amz-date", "x-amz-x509"}
	if h.Get("X-Amz-X509-Chain") != "" {
		need = append(need, "x-amz-x509-chain")
	}
	for _, n := range need {
		if !contains(a.SignedHeaders, n) {
			return leaf, chain, raDenied("Invalid signature: SignedHeaders must include " + n)
		}
	}
	canon, ok := canonicalRequest(q.r, q.body, a.SignedHeaders)
	if !ok {
		return leaf, chain, raDenied("Invalid signature")
	}
	scope := strings.Join([]string{a.Date, a.Region, a.Service, "aws4_request"}, "/")
	cr := sha256.Sum256([]byte(canon))
	digest := sha256.Sum256([]byte(alg + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(cr[:])))
	sig, err := hex.DecodeString(a.Signature)
	if err != nil || !verifyX509Signature(alg, leaf.PublicKey, digest[:], sig) {
		return leaf, chain, raDenied("Invalid signature")
	}
	return leaf, chain, nil
}

// verifyX509Signature checks sig (ASN.1 DER for ECDSA, PKCS #1 v1.5 for
// RSA) over digest; the algorithm must match the key.
func verifyX509Signature(alg string, pub any, digest, sig []byte) bool {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return alg == raAlgECDSA && ecdsa.VerifyASN1(k, digest, sig)
	case *rsa.PublicKey:
		return alg == raAlgRSA && rsa.VerifyPKCS1v15(k, crypto.SHA256, digest, sig) == nil
	}
	return false
}

// canonicalRequest is SigV4's canonical request over exactly the headers
// the client signed; false if one of them is missing.
func canonicalRequest(r *http.Request, body []byte, signed []string) (string, bool) {
	var b strings.Builder
	b.WriteString(r.Method + "\n")
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	b.WriteString(path + "\n")
	vals, _ := url.ParseQuery(r.URL.RawQuery)
	var pairs []string
	for k, vs := range vals {
		for _, v := range vs {
			pairs = append(pairs, uriEncode(k)+"="+uriEncode(v))
		}
	}
	sort.Strings(pairs)
	b.WriteString(strings.Join(pairs, "&") + "\n")
	for _, name := range signed {
		var v string
		switch name {
		case "host":
			v = r.Host
		case "content-length":
			v = r.Header.Get("Content-Length")
			if v == "" {
				v = strconv.FormatInt(r.ContentLength, 10)
			}
		default:
			vs := r.Header.Values(name)
			if len(vs) == 0 {
				return "", false
			}
			for i := range vs {
				vs[i] = strings.Join(strings.Fields(vs[i]), " ")
			}
			v = strings.Join(vs, ",")
		}
		b.WriteString(name + ":" + v + "\n")
	}
	b.WriteString("\n" + strings.Join(signed, ";") + "\n")
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		sum := sha256.Sum256(body)
		payload = hex.EncodeToString(sum[:])
	}
	b.WriteString(payload)
	return b.String(), true
}

// uriEncode is SigV4's URI encoding: every byte but A-Z a-z 0-9 - _ . ~.
func uriEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// verifyChain builds a path from the leaf, through the X-Amz-X509-Chain
// certificates, to a CA of the trust anchor, at the world's time. The leaf
// must be an end-entity certificate allowed to sign.
func verifyChain(leaf *x509.Certificate, chain []*x509.Certificate, anchor *TrustAnchor, now time.Time) *apiError {
	untrusted := raDenied("Untrusted signing certificate")
	if leaf.IsCA || leaf.KeyUsage != 0 && leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return untrusted
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range anchor.Certs {
		roots.AddCert(c)
	}
	for _, c := range chain {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	var inv x509.CertificateInvalidError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		if now.Before(inv.Cert.NotBefore) {
			return raDenied("Untrusted signing certificate: not valid before " + inv.Cert.NotBefore.UTC().Format(time.RFC3339))
		}
		return raDenied("Untrusted signing certificate: expired at " + inv.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return untrusted
}

// createSession issues the role session. Facts from the Roles Anywhere
// user guide, "Trust model": the source identity is the leaf's subject CN
// (later AssumeRole hops cannot change it, as STS enforces for any source
// identity); the session name is the leaf's serial number, hex-encoded.
// "Certificate attribute mapping": by default the subject's and issuer's
// RDNs become principal tags x509Subject/CN, x509Issuer/O, …, and the
// first DNS, URI SAN x509SAN/DNS, x509SAN/URI. A hop from this session is
// role chaining, capped at 1 h by the world's STS as by AWS's.
func (w *World) createSession(q *request, leaf *x509.Certificate, role *Role, d int) {
	serial := leaf.SerialNumber.Text(16)
	tags := principalTags(leaf)
	r := *role
	s := w.issue(&session{
		kind: kindAssumedRole, account: r.account(), principal: r.ARN,
		arn:    "arn:aws:sts::" + r.account() + ":assumed-role/" + r.name() + "/" + serial,
		userID: stableID("AROA", r.ARN) + ":" + serial, sourceIdentity: leaf.Subject.CommonName,
		tags: tags, transitive: map[string]string{},
	}, d)
	n := 0
	for k, v := range tags {
		n += len(k) + len(v)
	}
	packed := (n*100 + 2047) / 2048
	q.call.RoleSessionName, q.call.SourceIdentity, q.call.Tags = serial, s.sourceIdentity, tags
	type credentials struct {
		AccessKeyID     string `json:"accessKeyId"`
		Expiration      string `json:"expiration"`
		SecretAccessKey string `json:"secretAccessKey"`
		SessionToken    string `json:"sessionToken"`
	}
	type assumedRoleUser struct {
		Arn           string `json:"arn"`
		AssumedRoleID string `json:"assumedRoleId"`
	}
	type credentialResponse struct {
		AssumedRoleUser  assumedRoleUser `json:"assumedRoleUser"`
		Credentials      credentials     `json:"credentials"`
		PackedPolicySize int             `json:"packedPolicySize"`
		RoleArn          string          `json:"roleArn"`
		SourceIdentity   string          `json:"sourceIdentity"`
	}
	body, _ := json.Marshal(struct {
		CredentialSet []credentialResponse `json:"credentialSet"`
		SubjectArn    string               `json:"subjectArn"`
	}{
		CredentialSet: []credentialResponse{{
			AssumedRoleUser:  assumedRoleUser{Arn: s.arn, AssumedRoleID: s.userID},
			Credentials:      credentials{AccessKeyID: s.accessKeyID, Expiration: s.expiration.UTC().Format(time.RFC3339), SecretAccessKey: s.secret, SessionToken: s.token},
			PackedPolicySize: packed,
			RoleArn:          r.ARN,
			SourceIdentity:   s.sourceIdentity,
		}},
		SubjectArn: "arn:aws:rolesanywhere:" + q.t.Region + ":" + r.account() + ":subject/" + subjectID(leaf),
	})
	w.finish(q, http.StatusCreated, "application/json", body)
}

// principalTags maps the leaf's subject, issuer and SANs as Roles
// Anywhere's default attribute mapping does.
func principalTags(c *x509.Certificate) map[string]string {
	tags := map[string]string{}
	rdns := func(prefix string, n pkix.Name) {
		for _, f := range []struct {
			key string
			v   []string
		}{{"CN", []string{n.CommonName}}, {"OU", n.OrganizationalUnit}, {"O", n.Organization}, {"L", n.Locality}, {"ST", n.Province}, {"C", n.Country}} {
			if len(f.v) > 0 && f.v[0] != "" {
				tags[prefix+"/"+f.key] = f.v[0]
			}
		}
	}
	rdns("x509Subject", c.Subject)
	rdns("x509Issuer", c.Issuer)
	if len(c.DNSNames) > 0 {
		tags["x509SAN/DNS"] = c.DNSNames[0]
	}
	if len(c.URIs) > 0 {
		tags["x509SAN/URI"] = c.URIs[0].String()
	}
	return tags
}

// subjectID is a stable UUID-shaped id for the certificate's subject.
func subjectID(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubject)
	return fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
}

// failRA writes a REST-JSON error.
func (w *World) failRA(q *request, e *apiError) {
	q.call.ErrorCode = e.Code
	q.rw.Header().Set("x-amzn-ErrorType", e.Code)
	body, _ := json.Marshal(map[string]string{"message": e.Message})
	w.finish(q, e.Status, "application/json", body)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
