package approval

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// Approver is one entry of the kit's [[approvers]], in escalation order.
type Approver struct {
	Name string
	Key  *PublicKey
}

// DualShareContext is the associated data of an approver's share of the
// dual-sealed key of user, as the keystore encrypts it to that approver's
// key: a share copied to another user's item does not open.
func DualShareContext(user, keyID string) []byte {
	return []byte("bg-agent dual share v1\x00" + user + "\x00" + keyID)
}

// releasedContext binds a share re-encrypted to a request key to that
// request and approval.
func releasedContext(reqID []byte, user, approvalID string) []byte {
	return append(append([]byte("bg-agent released share v1\x00"), reqID...), "\x00"+user+"\x00"+approvalID...)
}

// Sign is `approve`: the signer (whose kit name is name) approves r until
// notAfter (capped at r's own not-after). For a dual-sealed key it opens
// its share of r and re-encrypts it to r's request key.
func Sign(r *Request, s Signer, name string, notAfter, now time.Time) (*Approval, error) {
	if notAfter.IsZero() || notAfter.After(r.NotAfter) {
		notAfter = r.NotAfter
	}
	if !now.Before(notAfter) {
		return nil, bgerr.New(bgerr.KindUsage, fmt.Sprintf("this request ended at %s; nothing to approve", notAfter.Local().Format(time.RFC3339)),
			"the requester declares again: bg-agent declare --reason … and sends the new code")
	}
	pub := s.Public()
	idb := make([]byte, 8)
	if _, err := rand.Read(idb); err != nil {
		return nil, err
	}
	a := &Approval{Request: r.ID(), Approver: name, KeyID: pub.ID(), ID: crockford.EncodeToString(idb)[:12],
		At: now.UTC().Truncate(time.Second), NotAfter: notAfter.UTC().Truncate(time.Second)}
	if len(r.Shares) > 0 {
		var mine *Share
		for i := range r.Shares {
			if r.Shares[i].To == pub.ID() {
				mine = &r.Shares[i]
			}
		}
		if mine == nil {
			return nil, bgerr.New(bgerr.KindUsage,
				fmt.Sprintf("the key of %s is dual-sealed, and none of its shares is for your approver key %s", r.User, pub.ID()),
				"only the approvers listed in the kit when the key was stored can release it: the requester asks one of them",
				"or stores the key again (bg-agent add --seal --dual) after setup with the current kit")
		}
		half, err := OpenWith(pub.Enc, s.ECDH, mine.Blob, DualShareContext(r.User, pub.ID()))
		if err != nil {
			if errors.Is(err, ErrShare) {
				return nil, bgerr.Wrap(bgerr.KindUsage, err, "your share of the dual-sealed key of "+r.User+" does not open with your key",
					"the request was edited, or your key was replaced since the key was stored: tell the requester and security")
			}
			return nil, err
		}
		a.Share, err = SealTo(r.Key, half, releasedContext(a.Request, r.User, a.ID))
		clear(half)
		if err != nil {
			return nil, err
		}
	}
	body, err := json.Marshal(wireApproval{V: 1, Request: a.Request, Approver: a.Approver, KeyID: a.KeyID, ID: a.ID,
		At: a.At.Unix(), NotAfter: a.NotAfter.Unix(), Share: a.Share})
	if err != nil {
		return nil, err
	}
	a.body = body
	if a.sig, err = s.Sign(append([]byte(approvalContext), body...)); err != nil {
		return nil, err
	}
	if pub.Kind == KindP256 {
		if err := checkDER(a.sig); err != nil {
			return nil, err
		}
	}
	if !pub.verify(append([]byte(approvalContext), body...), a.sig) {
		return nil, errors.New("approval: the key's signature does not verify against its own public key")
	}
	return a, nil
}

// ErrInvalid is an approval Check refuses.
var ErrInvalid = errors.New("approval: not valid for this declaration")

func invalid(msg string, hints ...string) error {
	return bgerr.Wrap(bgerr.KindUsage, ErrInvalid, msg, hints...)
}

// Check verifies a for r: made for this request, signed by the listed
// approver it names, not by the requester, unexpired at now. It returns
// that approver.
func (r *Request) Check(a *Approval, approvers []Approver, now time.Time) (*Approver, error) {
	var who *Approver
	for i := range approvers {
		if approvers[i].Name == a.Approver {
			who = &approvers[i]
		}
	}
	if who == nil {
		return nil, invalid(fmt.Sprintf("the approval of %s (%s) does not count: %s is not an approver in kit %s", a.Approver, a.ID, a.Approver, r.Kit),
			"approvers are listed in the kit's [[approvers]]: "+names(approvers))
	}
	if who.Key.ID() != a.KeyID || !who.Key.verify(append([]byte(approvalContext), a.body...), a.sig) {
		return nil, invalid(fmt.Sprintf("the approval %s names %s but is not signed with their key in the kit: it was tampered with or forged", a.ID, a.Approver),
			"ask "+a.Approver+" for a new approval over another channel, and tell security")
	}
	if !bytes.Equal(a.Request, r.ID()) {
		return nil, invalid(fmt.Sprintf("the approval of %s is for another declaration (request %s); this one is %s", a.Approver, a.Fingerprint(), r.Fingerprint()),
			"send "+a.Approver+" this declaration's request code: bg-agent declare --show-request")
	}
	if who.Name == r.Operator {
		return nil, invalid(fmt.Sprintf("%s cannot approve their own request", a.Approver),
			"ask another approver: "+names(others(approvers, r.Operator)))
	}
	if !now.Before(a.NotAfter) {
		return nil, invalid(fmt.Sprintf("the approval of %s (%s) expired at %s", a.Approver, a.ID, a.NotAfter.Local().Format("15:04 Jan 2")),
			"ask "+a.Approver+" to approve again: bg-agent approve CODE")
	}
	if a.NotAfter.After(r.NotAfter) || a.At.After(now.Add(5*time.Minute)) {
		return nil, invalid(fmt.Sprintf("the approval of %s (%s) has impossible times (made %s, ends %s)", a.Approver, a.ID,
			a.At.Local().Format(time.RFC3339), a.NotAfter.Local().Format(time.RFC3339)),
			"check the approver's clock, and ask for a new approval")
	}
	return who, nil
}

// OpenShare returns the approver's released half of the dual-sealed key
// (a must have passed Check), opened with the request's private key.
func (a *Approval) OpenShare(r *Request, key *ecdh.PrivateKey) ([]byte, error) {
	if len(a.Share) == 0 {
		return nil, ErrShare
	}
	if !key.PublicKey().Equal(r.Key) {
		return nil, ErrShare
	}
	return OpenWith(r.Key, key.ECDH, a.Share, releasedContext(a.Request, r.User, a.ID))
}

// Status is where a declaration stands against its kit's rule.
type Status struct {
	Needed   int
	Valid    []Valid  // one per approver, in the order added
	Problems []error  // the approvals that do not count, with why
	Next     []string // approvers still to ask, in escalation order
}

// Valid is an approval that counts.
type Valid struct {
	Approver *Approver
	Approval *Approval
}

// Missing is how many approvals are still needed.
func (s Status) Missing() int { return max(0, s.Needed-len(s.Valid)) }

// Evaluate checks every approval code added to r against the approvers
// (in escalation order) and the number needed.
func Evaluate(r *Request, codes []string, approvers []Approver, needed int, now time.Time) Status {
	st := Status{Needed: needed}
	seen := map[string]bool{}
	for _, code := range codes {
		a, err := ParseApproval(code)
		if err == nil {
			var who *Approver
			if who, err = r.Check(a, approvers, now); err == nil {
				if seen[who.Name] {
					continue // a second approval of one approver counts once
				}
				seen[who.Name] = true
				st.Valid = append(st.Valid, Valid{Approver: who, Approval: a})
				continue
			}
		}
		st.Problems = append(st.Problems, err)
	}
	for _, ap := range approvers {
		if !seen[ap.Name] && ap.Name != r.Operator {
			st.Next = append(st.Next, ap.Name)
		}
	}
	return st
}

func others(approvers []Approver, not string) []Approver {
	var out []Approver
	for _, a := range approvers {
		if a.Name != not {
			out = append(out, a)
		}
	}
	return out
}

func names(approvers []Approver) string {
	var n []string
	for _, a := range approvers {
		n = append(n, a.Name)
	}
	if len(n) == 0 {
		return "(none)"
	}
	return strings.Join(n, ", ")
}
