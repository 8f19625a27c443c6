package testworld

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp/totp"
)

// User is an IAM user with one long-term access key and optionally one
// virtual MFA device (TOTP, RFC 6238, SHA1, 6 digits, 30 s).
type User struct {
	Account         string
	Name            string
	AccessKeyID     string
	SecretAccessKey string
	MFASerial       string // arn:aws:iam::ACCT:mfa/NAME
	TOTPSecret      string // base32
}

// ARN is the user's IAM ARN.
func (u User) ARN() string { return "arn:aws:iam::" + u.Account + ":user/" + u.Name }

// Role is an IAM role. The zero values of the Deny fields allow, as a trust
// policy written for bg-agent would.
type Role struct {
	ARN                string        // arn:aws:iam::ACCT:role[/path]/NAME
	Trust              []string      // principal ARNs, account root ARNs, account ids or RolesAnywherePrincipal
	RequireMFA         bool          // trust policy condition aws:MultiFactorAuthPresent
	MaxSessionDuration time.Duration // 1h if zero
	DenySourceIdentity bool          // trust policy lacks sts:SetSourceIdentity
	DenyTagSession     bool          // trust policy lacks sts:TagSession
}

func (r Role) account() string { return arnAccount(r.ARN) }

// name is the last path segment, as it appears in assumed-role ARNs.
func (r Role) name() string { return r.ARN[strings.LastIndex(r.ARN, "/")+1:] }

func (r Role) maxDuration() time.Duration {
	if r.MaxSessionDuration == 0 {
		return time.Hour
	}
	return r.MaxSessionDuration
}

// trusts reports whether the role's trust list admits principal (a user or
// role ARN).
func (r Role) trusts(principal string) bool {
	acct := arnAccount(principal)
	for _, t := range r.Trust {
		if t == principal || t == acct || t == "arn:aws:iam::"+acct+":root" {
			return true
		}
	}
	return false
}

func arnAccount(arn string) string {
	p := strings.Split(arn, ":")
	if len(p) < 6 {
		return ""
	}
	return p[4]
}

// AddUser adds or replaces an IAM user, keyed by its access key id.
func (w *World) AddUser(u User) error {
	if len(u.Account) != 12 || u.Name == "" || !strings.HasPrefix(u.AccessKeyID, "AKIA") || u.SecretAccessKey == "" {
		return fmt.Errorf("testworld: user needs a 12-digit Account, a Name, an AKIA access key id and a secret")
	}
	if u.MFASerial != "" {
		if _, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(strings.TrimRight(u.TOTPSecret, "="))); err != nil || u.TOTPSecret == "" {
			return fmt.Errorf("testworld: user %s: TOTPSecret is not base32", u.Name)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.users[u.AccessKeyID] = &u
	return nil
}

// AddRole adds or replaces a role, keyed by its ARN.
func (w *World) AddRole(r Role) error {
	if !strings.HasPrefix(r.ARN, "arn:aws:iam::") || !strings.Contains(r.ARN, ":role/") || len(r.account()) != 12 {
		return fmt.Errorf("testworld: role ARN %q is not arn:aws:iam::ACCOUNT:role/NAME", r.ARN)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.roles[r.ARN] = &r
	return nil
}

// sessionKind tells how temporary credentials were issued.
type sessionKind int

const (
	kindSessionToken sessionKind = iota + 1 // GetSessionToken
	kindAssumedRole                         // AssumeRole
)

// session is a set of temporary credentials and the context they carry.
type session struct {
	kind           sessionKind
	accessKeyID    string
	secret, token  string
	expiration     time.Time
	account        string
	principal      string // trust principal: user ARN, or role ARN for assumed roles
	arn            string // identity ARN (GetCallerIdentity)
	userID         string
	user           *User // origin user, for MFA checks further down a chain
	mfa            bool
	chained        bool // issued to a caller using temporary credentials
	sourceIdentity string
	tags           map[string]string // session (principal) tags, not passed on
	transitive     map[string]string
}

// SessionInfo is what a test may want to check about issued credentials.
type SessionInfo struct {
	ARN            string
	Expiration     time.Time
	MFA            bool
	Chained        bool
	SourceIdentity string
	Tags           map[string]string // principal tags of this session only (Roles Anywhere's x509Subject/CN, …)
	TransitiveTags map[string]string
}

// Session describes the temporary credentials with access key id akid.
func (w *World) Session(akid string) (SessionInfo, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.sessions[akid]
	if !ok {
		return SessionInfo{}, false
	}
	tags := map[string]string{}
	for k, v := range s.transitive {
		tags[k] = v
	}
	own := map[string]string{}
	for k, v := range s.tags {
		own[k] = v
	}
	return SessionInfo{ARN: s.arn, Expiration: s.expiration, MFA: s.mfa, Chained: s.chained, SourceIdentity: s.sourceIdentity, Tags: own, TransitiveTags: tags}, true
}

// stableID derives an IAM-style unique id (AIDA…, AROA…) from a name so
// the same world always shows the same ids.
func stableID(prefix, name string) string {
	sum := sha256.Sum256([]byte(name))
	return prefix + base32.StdEncoding.EncodeToString(sum[:])[:17]
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// newCredentials returns fresh temporary credentials shaped like STS's.
func newCredentials() (akid, secret, token string) {
	tok := make([]byte, 180)
	rand.Read(tok)
	return "ASIA" + randomString(16, idAlphabet),
		randomString(40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"),
		"FwoGZXIvYXdzE" + base64.StdEncoding.EncodeToString(tok)
}

// newRequestID returns a random UUID, the form of STS request ids.
func newRequestID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// Secrets returns the secret access key and session token of the temporary
// credentials with access key id akid (tests that look for them elsewhere,
// say in a process's memory).
func (w *World) Secrets(akid string) (secret, token string, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.sessions[akid]
	if !ok {
		return "", "", false
	}
	return s.secret, s.token, true
}

// Operator is a break-glass user of the emergency account with an MFA
// device of its own (tests that share a world never share TOTP codes), an
// operator role that trusts it with MFA (up to 12 h) and a workload role
// that trusts the operator role: the chain every bg-agent test walks.
type Operator struct {
	User                       User
	OperatorRole, WorkloadRole string
}

// AddOperator adds an Operator called name, with access key id akid (AKIA
// and 16 characters); its secret is derived from the name.
func (w *World) AddOperator(name, akid string) (Operator, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "testworld", AccountName: name})
	if err != nil {
		return Operator{}, err
	}
	o := Operator{
		User: User{Account: DemoEmergencyAccount, Name: name, AccessKeyID: akid, SecretAccessKey: "secret/" + name,
			MFASerial: "arn:aws:iam::" + DemoEmergencyAccount + ":mfa/" + name, TOTPSecret: key.Secret()},
		OperatorRole: DemoRoleARN(DemoEmergencyAccount, "Operator-"+name),
		WorkloadRole: DemoRoleARN(DemoWorkloadAccount, "Ops-"+name),
	}
	for _, err := range []error{
		w.AddUser(o.User),
		w.AddRole(Role{ARN: o.OperatorRole, Trust: []string{o.User.ARN()}, RequireMFA: true, MaxSessionDuration: 12 * time.Hour}),
		w.AddRole(Role{ARN: o.WorkloadRole, Trust: []string{o.OperatorRole}}),
	} {
		if err != nil {
			return Operator{}, err
		}
	}
	return o, nil
}
