package broker

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/chain"
	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/rolesanywhere"
)

// Certs is where a Roles Anywhere profile's certificate and key come
// from: the caller's YubiKey in direct mode, and in the agent questions to
// the client that holds it (the agent never touches a card).
type Certs interface {
	Cert(ctx context.Context, r CertRequest) (*Cert, error)
}

// CertRequest names the card slot whose certificate signs.
type CertRequest struct {
	Profile string
	Serial  uint32 // bg_yubikey_serial; 0: the only YubiKey
	Slot    string // bg_ra_slot, as config checked it ("9a")
	// Purpose completes the PIN prompt and touch notice ("… to sign in to
	// AWS with profile bg-ra").
	Purpose string
}

// Cert is a slot's certificate, the intermediates up to the trust
// anchor's CA (import-cert keeps them), and the slot key.
type Cert struct {
	Leaf  *x509.Certificate
	Chain []*x509.Certificate
	Key   crypto.Signer
}

// raDuration is the lifetime asked of CreateSession: bg_duration when its
// session is what is handed out; else at least an hour, since the hops
// after it are role chaining, capped at 1 h whatever their parent has
// left (chain.MaxChainedDuration), and a parent that outlives them saves
// a PIN and touch per refresh.
func raDuration(p *config.Profile) time.Duration {
	if len(p.Roles) == 0 {
		return p.Duration
	}
	return max(chain.MaxChainedDuration, p.Duration)
}

// rolesAnywhere is the chain's start for bg_start = roles-anywhere:
// CreateSession signed by the card's key, failing over across p.Regions.
// Its cache key names everything that changes the session: the card and
// slot (whose certificate signs), each region's trust anchor and profile,
// the role and the duration.
func (b *Broker) rolesAnywhere(req Request, clients *chain.Clients) start {
	p := req.Profile
	var where []string
	for _, r := range p.Regions {
		where = append(where, r+"="+p.TrustAnchors[r]+","+p.RAProfiles[r])
	}
	dur := raDuration(p)
	key := fmt.Sprintf("ra|%d|%s|%s|%s|%s", p.YubiKeySerial, p.RASlot, strings.Join(where, ";"), p.RARole, dur)
	what := "the Roles Anywhere session of role " + p.RARole
	return start{key: key, what: what, step: "CreateSession",
		// The card's own failures (not plugged in, wrong PIN, no touch)
		// are kind keystore, as for unsealing.
		steps: map[bgerr.Kind]string{bgerr.KindKeystore: "YubiKey"},
		ended: what + " has ended; the YubiKey signs a new one",
		fetch: func(ctx context.Context) (*chain.Session, error) {
			if req.Certs == nil {
				return nil, bgerr.New(bgerr.KindConfig, "profile "+p.Name+" starts from Roles Anywhere, which this command cannot use",
					"use bg-agent process, exec or console with this profile")
			}
			cert, err := req.Certs.Cert(ctx, CertRequest{Profile: p.Name, Serial: p.YubiKeySerial, Slot: p.RASlot,
				Purpose: "sign in to AWS with profile " + p.Name})
			if err != nil {
				return nil, err
			}
			s, err := rolesanywhere.CreateSession(ctx, rolesanywhere.Options{
				ProfileName: p.Name, Regions: p.Regions,
				TrustAnchor: func(r string) string { return p.TrustAnchors[r] },
				Profile:     func(r string) string { return p.RAProfiles[r] },
				Role:        p.RARole, Duration: dur,
				Cert: cert.Leaf, Chain: cert.Chain, Key: cert.Key,
				HTTPClient: clients.HTTPClient(), Reporter: req.UI,
			})
			if err != nil {
				return nil, err
			}
			h := s.Hop()
			h.Cert = &chain.Cert{Subject: cert.Leaf.Subject.CommonName, Serial: cert.Leaf.SerialNumber.Text(16),
				TrustAnchor: p.TrustAnchors[s.Region], Region: s.Region}
			return h, nil
		}}
}
