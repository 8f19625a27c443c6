package approval

import (
	"bytes"
	"compress/zlib"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/iam"
)

// Code prefixes: a code names what it is, so pasting one where the other
// is expected gets a clear error.
const (
	RequestPrefix  = "BG-REQUEST-1."
	ApprovalPrefix = "BG-APPROVAL-1."
)

// maxCode bounds a decompressed code (a kit's whole scope, shares for a
// few dozen approvers): a hostile code cannot make us inflate gigabytes.
const maxCode = 64 << 10

// Request is what a requester asks approvers to sign.
type Request struct {
	Kit      string
	Operator string   // the requester: the kit's operator name
	User     string   // the IAM user whose key the roles start from
	Scope    []string // role ARNs: the last role of each profile it covers
	Reason   string
	Ticket   string
	At       time.Time
	NotAfter time.Time // the declaration's end; approvals end then at the latest
	Key      *ecdh.PublicKey
	// Shares are, for a dual-sealed user key, the approvers' halves, each
	// encrypted to one approver key (as stored in the keystore item).
	Shares []Share

	raw []byte // the exact JSON the ID covers
}

// Share is one approver's encrypted half of a dual-sealed data key.
type Share struct {
	To   string `json:"to"` // PublicKey.ID of the approver key
	Blob []byte `json:"blob"`
}

type wireRequest struct {
	V        int      `json:"v"`
	Kit      string   `json:"kit"`
	Operator string   `json:"op"`
	User     string   `json:"user"`
	Scope    []string `json:"scope"`
	Reason   string   `json:"reason"`
	Ticket   string   `json:"ticket,omitempty"`
	At       int64    `json:"at"`
	NotAfter int64    `json:"not_after"`
	Key      []byte   `json:"key"`
	Shares   []Share  `json:"shares,omitempty"`
}

// NewRequest makes a request with a fresh request key, whose private half
// the requester keeps until the declaration ends (dual-control shares are
// re-encrypted to it).
func NewRequest(r Request) (*Request, *ecdh.PrivateKey, error) {
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	r.Key = priv.PublicKey()
	r.Reason, r.Ticket = oneLine(r.Reason), oneLine(r.Ticket)
	r.At, r.NotAfter = r.At.UTC().Truncate(time.Second), r.NotAfter.UTC().Truncate(time.Second)
	raw, err := json.Marshal(wireRequest{V: 1, Kit: r.Kit, Operator: r.Operator, User: r.User, Scope: r.Scope,
		Reason: r.Reason, Ticket: r.Ticket, At: r.At.Unix(), NotAfter: r.NotAfter.Unix(), Key: r.Key.Bytes(), Shares: r.Shares})
	if err != nil {
		return nil, nil, err
	}
	r.raw = raw
	return &r, priv, nil
}

// ID is what approvals are bound to: the SHA-256 of the request's exact bytes.
func (r *Request) ID() []byte {
	h := sha256.New()
	h.Write([]byte("bg-agent approval request v1\x00"))
	h.Write(r.raw)
	return h.Sum(nil)
}

// crockford is Crockford's base32 alphabet: no I, L, O or U to misread.
var crockford = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// Fingerprint is 60 bits of the ID, "7K3M-Q9XZ-T4BA": short enough to read
// aloud, so an approver can confirm over the phone that the code they got
// is the one the requester sent.
func (r *Request) Fingerprint() string { return fingerprint(r.ID()) }

func fingerprint(id []byte) string {
	s := crockford.EncodeToString(id[:8])[:12]
	return s[:4] + "-" + s[4:8] + "-" + s[8:]
}

// Code is the request as text to paste.
func (r *Request) Code() string { return RequestPrefix + pack(r.raw) }

// Covers reports whether the request's scope includes role.
func (r *Request) Covers(role string) bool { return slices.Contains(r.Scope, role) }

// ParseRequest reads a request code; whitespace (a chat's line breaks) is ignored.
func ParseRequest(code string) (*Request, error) {
	raw, err := unpack(code, RequestPrefix, ApprovalPrefix, "request", "approval")
	if err != nil {
		return nil, err
	}
	var w wireRequest
	if err := json.Unmarshal(raw, &w); err != nil || w.V != 1 {
		return nil, damagedCode("request")
	}
	key, err := ecdh.X25519().NewPublicKey(w.Key)
	if err != nil || !personName(w.Operator) || !iam.ValidName(w.User, 64) || len(w.Scope) == 0 || w.NotAfter <= w.At ||
		(w.Kit != "" && !personName(w.Kit)) || !printable(w.Reason) || !printable(w.Ticket) {
		// Everything here is shown to an approver who is asked to say yes:
		// a newline or a terminal escape in it could fake or hide a line.
		return nil, damagedCode("request")
	}
	for _, role := range w.Scope {
		if _, ok := iam.RoleARN(role); !ok {
			return nil, damagedCode("request")
		}
	}
	return &Request{Kit: w.Kit, Operator: w.Operator, User: w.User, Scope: w.Scope, Reason: w.Reason, Ticket: w.Ticket,
		At: time.Unix(w.At, 0).UTC(), NotAfter: time.Unix(w.NotAfter, 0).UTC(), Key: key, Shares: w.Shares, raw: raw}, nil
}

// Approval is an approver's signed yes to one request.
type Approval struct {
	Request  []byte // the request's ID
	Approver string // the approver's name in the kit
	KeyID    string // PublicKey.ID of the key that signed
	ID       string // random; rides as a session tag, and counts once
	At       time.Time
	NotAfter time.Time
	// Share is, for a dual-sealed key, the approver's half re-encrypted to
	// the request key.
	Share []byte

	body, sig []byte
}

type wireApproval struct {
	V        int    `json:"v"`
	Request  []byte `json:"req"`
	Approver string `json:"by"`
	KeyID    string `json:"key"`
	ID       string `json:"id"`
	At       int64  `json:"at"`
	NotAfter int64  `json:"not_after"`
	Share    []byte `json:"share,omitempty"`
}

const approvalContext = "bg-agent approval v1\x00"

// Code is the approval as text to paste back to the requester.
func (a *Approval) Code() string {
	var b []byte
	b = binary.BigEndian.AppendUint16(b, uint16(len(a.body)))
	b = append(append(b, a.body...), a.sig...)
	return ApprovalPrefix + pack(b)
}

// Fingerprint is that of the request the approval is for.
func (a *Approval) Fingerprint() string { return fingerprint(a.Request) }

// ParseApproval reads an approval code. Its signature is checked by Check,
// against the kit's approver keys.
func ParseApproval(code string) (*Approval, error) {
	b, err := unpack(code, ApprovalPrefix, RequestPrefix, "approval", "request")
	if err != nil {
		return nil, err
	}
	if len(b) < 2 || int(binary.BigEndian.Uint16(b)) > len(b)-2 {
		return nil, damagedCode("approval")
	}
	n := int(binary.BigEndian.Uint16(b))
	body, sig := b[2:2+n], b[2+n:]
	var w wireApproval
	if err := json.Unmarshal(body, &w); err != nil || w.V != 1 || len(w.Request) != sha256.Size || !personName(w.Approver) ||
		!printable(w.ID) || w.ID == "" || len(w.ID) > 32 || len(sig) == 0 {
		return nil, damagedCode("approval")
	}
	return &Approval{Request: w.Request, Approver: w.Approver, KeyID: w.KeyID, ID: w.ID,
		At: time.Unix(w.At, 0).UTC(), NotAfter: time.Unix(w.NotAfter, 0).UTC(), Share: w.Share, body: body, sig: sig}, nil
}

// personName is a kit's name for a person or a kit: lower-case letters,
// digits and -, as internal/config and internal/kit accept them.
func personName(s string) bool {
	if s == "" || len(s) > 40 || s[0] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// oneLine makes typed text printable: control and format characters
// become spaces, so the request parses where it is approved.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, " "))), " ")
}

// printable refuses control and format characters (newlines, terminal
// escapes, bidirectional overrides) in text shown to an approver.
func printable(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar {
			return false
		}
	}
	return utf8.ValidString(s)
}

// pack is zlib, so a truncated code fails its checksum, then base64url.
func pack(raw []byte) string {
	var buf bytes.Buffer
	w, _ := zlib.NewWriterLevel(&buf, zlib.BestCompression)
	w.Write(raw)
	w.Close()
	return b64.EncodeToString(buf.Bytes())
}

func unpack(code, prefix, other, what, otherWhat string) ([]byte, error) {
	code = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, code)
	if strings.HasPrefix(code, other) {
		return nil, bgerr.New(bgerr.KindUsage, fmt.Sprintf("this is a %s code, not an %s code", otherWhat, what), codeHint(what))
	}
	data, ok := strings.CutPrefix(code, prefix)
	if !ok {
		return nil, bgerr.New(bgerr.KindUsage, fmt.Sprintf("this is not a bg-agent %s code (it starts %q, not %q)", what, short(code), prefix), codeHint(what))
	}
	z, err := b64.DecodeString(data)
	if err != nil {
		return nil, damagedCode(what)
	}
	r, err := zlib.NewReader(bytes.NewReader(z))
	if err != nil {
		return nil, damagedCode(what)
	}
	raw, err := io.ReadAll(io.LimitReader(r, maxCode+1))
	if err != nil || len(raw) > maxCode {
		return nil, damagedCode(what)
	}
	return raw, nil
}

func codeHint(what string) string {
	if what == "request" {
		return "an approver runs: bg-agent approve CODE, with the code that bg-agent declare printed"
	}
	return "the requester adds it with: bg-agent declare --approval CODE, with the code that bg-agent approve printed"
}

// damagedCode is a code that does not decode: cut short in a chat, or edited.
func damagedCode(what string) error {
	return bgerr.Wrap(bgerr.KindUsage, ErrDamaged, "the "+what+" code is truncated or damaged",
		"copy the whole code again, from "+cutFrom(what)+" to its last character")
}

func cutFrom(what string) string {
	if what == "request" {
		return RequestPrefix
	}
	return ApprovalPrefix
}

// ErrDamaged is a code that does not decode.
var ErrDamaged = errors.New("approval: damaged code")
