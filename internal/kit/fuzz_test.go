package kit

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// FuzzParse: on any file, Parse does not panic; a kit it refuses is an
// *Invalid whose every problem is a config error that names the file and
// has hints, none of them empty; a kit it accepts gives profiles for each
// operator, and Marshal writes it back as a file that Parse reads to the
// same Kit.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"../../examples/kit.toml", "testdata/minimal.toml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(base))
	f.Add([]byte(base + "\n[notify]\nwebhook = \"https://hooks.example.com/x\"\nsns = \"arn:aws:sns:us-west-2:111111111111:t\"\n"))
	f.Add([]byte(base + "\n[runbook]\nwhen = \"tab\\tand \\\"quotes\\\"\"\ncontacts = \"one\"\n"))
	f.Add([]byte(strings.Replace(base, `alias = "prod"`, "alias = \"prod\"\nregions = [\"us-west-2\", \"us-west-2\"]\nduration = \"90m\"\ndescription = '''\nmulti\nline'''", 1)))
	f.Add([]byte(strings.Replace(base, "[emergency]\n", "emergency = \"x\"\n[x]\n", 1)))
	f.Add([]byte("format = 1\nname = \"a\"\naccounts = 3\noperators = [1]\n[emergency]\npartition = \"aws-cn\"\n"))
	f.Add([]byte("[[accounts]]\n[accounts.roles]\n\"q.x\" = 'a'\n[[accounts]]\nroles = { a = 1, 'b c' = \"x\" }\n"))
	f.Add([]byte(approvalsBase))
	f.Add([]byte(strings.Replace(approvalsBase, `duration = "1h"`, "duration = \"1h\"\napprovals = 2\nself_approval_after = \"90m\"\ndual_control = true", 1)))
	f.Add([]byte(strings.Replace(approvalsBase, `id = "222222222222"`, "id = \"222222222222\"\napprovals = 1\nself_approval_after = \"never\"", 1)))
	f.Add([]byte(raBase))
	f.Add([]byte(strings.Replace(raBase, "role = \"BreakGlassRA\"", "role = \"arn:aws:iam::111111111111:role/RA\"\nslot = \"9C\"\nregions = [\"us-west-2\"]", 1)))
	f.Add([]byte(strings.Replace(raBase, "profile = {", "profile = 3\nx = {", 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := Parse("k.toml", data)
		if err != nil {
			checkInvalid(t, err)
			return
		}
		for _, op := range k.Operators {
			for _, p := range k.Profiles(op) {
				hops := 2
				if p.RolesAnywhere {
					hops = 1 // CreateSession assumes RA.Role, then the workload role
				}
				if p.Name == "" || p.Region == "" || len(p.Roles) != hops || p.Duration < MinDuration || p.Duration > MaxDuration ||
					p.RolesAnywhere && (p.RA.TrustAnchor.For(p.Region) == "" || p.RA.Profile.For(p.Region) == "" || p.DualControl) {
					t.Fatalf("profile %+v", p)
				}
				checkPolicy(t, op, p)
			}
		}
		out := k.Marshal("fuzz")
		back, err := Parse("out.toml", out)
		if err != nil {
			t.Fatalf("Parse(Marshal): %v %q\n%s", err, bgerr.HintsOf(err), out)
		}
		if !reflect.DeepEqual(back, k) {
			t.Fatalf("round trip differs:\n got %+v\nwant %+v\n%s", back, k, out)
		}
	})
}

// checkPolicy holds what internal/config requires of the approval keys: a
// gate that can be passed, the operator not among their own approvers,
// dual control never with self-approval or without approvals.
func checkPolicy(t *testing.T, op Operator, p ProfileSpec) {
	t.Helper()
	pol := p.Policy
	bad := pol.Approvals < 0 || pol.Approvals > len(pol.Approvers) ||
		pol.Approvals == 0 && (pol.Approvers != nil || pol.SelfApprovalAfter != 0 || pol.DualControl) ||
		pol.DualControl && pol.SelfApprovalAfter != 0
	for _, a := range pol.Approvers {
		bad = bad || a.Name == op.Name || a.Key == nil
	}
	if bad {
		t.Fatalf("operator %s, profile %s: policy %+v", op.Name, p.Name, pol)
	}
}

func checkInvalid(t *testing.T, err error) {
	t.Helper()
	var inv *Invalid
	if !errors.As(err, &inv) || len(inv.Problems) == 0 {
		t.Fatalf("error %T %v is not an *Invalid with problems", err, err)
	}
	if bgerr.KindOf(err) != bgerr.KindConfig || len(bgerr.HintsOf(err)) == 0 {
		t.Fatalf("%v: kind %v, hints %q", err, bgerr.KindOf(err), bgerr.HintsOf(err))
	}
	for _, p := range inv.Problems {
		if p.Kind != bgerr.KindConfig || !strings.HasPrefix(p.Msg, "k.toml") || len(p.Hints) == 0 {
			t.Fatalf("problem %q: kind %v, hints %q", p.Msg, p.Kind, p.Hints)
		}
		for _, h := range p.Hints {
			if strings.TrimSpace(h) == "" {
				t.Fatalf("problem %q has an empty hint: %q", p.Msg, p.Hints)
			}
		}
	}
}

// FuzzParseSigningFiles: key and signature files of any content parse or
// fail with a config error, and what parses is written back (Marshal) as a
// file that parses to the same thing.
func FuzzParseSigningFiles(f *testing.F) {
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	sk := &SecretKey{ID: KeyID(pub), Key: priv}
	pk := &PublicKey{ID: sk.ID, Key: pub, Comment: "security team"}
	f.Add(pk.Marshal())
	f.Add(sk.Marshal())
	f.Add(sk.Sign([]byte("format = 1\n")).Marshal())
	f.Add([]byte("# only a comment\n\n"))
	f.Add([]byte(pubTag + " 0011223344556677 AAAA\n" + sigTag + " x y\n"))
	f.Add(append([]byte("# "+strings.Repeat("x", 70<<10)+"\n"), pk.Marshal()...)) // past bufio.Scanner's 64 KiB
	f.Fuzz(func(t *testing.T, data []byte) {
		kindOK := func(err error) {
			if err != nil && (bgerr.KindOf(err) != bgerr.KindConfig || len(bgerr.HintsOf(err)) == 0) {
				t.Fatalf("%v: kind %v, hints %q", err, bgerr.KindOf(err), bgerr.HintsOf(err))
			}
		}
		if p, err := ParsePublicKey("k.pub", data); err == nil {
			back, err := ParsePublicKey("k.pub", p.Marshal())
			if err != nil || !reflect.DeepEqual(back, p) {
				t.Fatalf("public key round trip: %+v, %v; want %+v", back, err, p)
			}
		} else {
			kindOK(err)
		}
		if s, err := ParseSecretKey("k.key", data); err == nil {
			back, err := ParseSecretKey("k.key", s.Marshal())
			if err != nil || !reflect.DeepEqual(back, s) {
				t.Fatalf("secret key round trip: %v", err)
			}
		} else {
			kindOK(err)
		}
		if s, err := ParseSignature("k.sig", data); err == nil {
			back, err := ParseSignature("k.sig", s.Marshal())
			if err != nil || !reflect.DeepEqual(back, s) {
				t.Fatalf("signature round trip: %+v, %v; want %+v", back, err, s)
			}
			if _, err := Verify("k.toml", data, "k.sig", s, []*PublicKey{pk}); err == nil && s.KeyID == pk.ID {
				t.Fatalf("a signature file verifies as a signature of itself")
			}
		} else {
			kindOK(err)
		}
	})
}
