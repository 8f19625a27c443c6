package awsconfig

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/kit"
)

// The integration contract: every profile setup writes is read by
// internal/config as the kit meant it.
func TestProfilesLoadWithConfig(t *testing.T) {
	k := exampleKit(t, nil)
	for _, op := range k.Operators {
		for _, bin := range []string{"/usr/bin/bg-agent", "/Users/Jane Doe/bg agent/bg-agent"} {
			t.Run(op.Name+" "+bin, func(t *testing.T) {
				b := FromKit(k, op, bin, "linux", Source{})
				data, err := Apply("config", read(t, "testdata/user.ini"), b)
				if err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(t.TempDir(), "config")
				if err := os.WriteFile(path, data, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := CheckProfiles(path, b); err != nil {
					t.Fatal(err)
				}
				specs := k.Profiles(op)
				if len(specs) != 4 {
					t.Fatalf("%d profiles", len(specs))
				}
				for _, s := range specs {
					p, err := config.Load(path, s.Name)
					if err != nil {
						t.Fatal(err)
					}
					wantMFA := config.MFAKind(op.MFA)
					if p.Region != s.Region || p.User != op.User || p.MFASerial != op.MFASerial || p.MFA != wantMFA ||
						p.MFACommand != op.MFACommand || !reflect.DeepEqual(p.Roles, s.Roles) ||
						!reflect.DeepEqual(p.Regions, s.Regions) || p.Duration != s.Duration ||
						!p.RequireReason || strings.Join(p.NotifySNS, " ") != k.Notify.SNS ||
						p.NotifyWebhook != k.Notify.Webhook {
						t.Errorf("profile %s read back as %+v, want %+v", s.Name, p, s)
					}
					checkPolicy(t, k, op, s, p)
					if want := CredentialProcess(bin, "linux", s.Name); !strings.Contains(string(data), "credential_process = "+want+"\n") {
						t.Errorf("credential_process of %s is not %s", s.Name, want)
					}
				}
			})
		}
	}
}

// checkPolicy: the approval keys of a profile read back as the kit's
// policy for that operator and account.
func checkPolicy(t *testing.T, k *kit.Kit, op kit.Operator, s kit.ProfileSpec, p *config.Profile) {
	t.Helper()
	if p.Kit != k.Name || p.Operator != op.Name || p.Approvals != s.Approvals || p.SelfApprovalAfter != s.SelfApprovalAfter ||
		p.DualControl != s.DualControl || len(p.Approvers) != len(s.Approvers) {
		t.Fatalf("profile %s: kit %q operator %q approvals %d self %v dual %v approvers %v; want %+v",
			s.Name, p.Kit, p.Operator, p.Approvals, p.SelfApprovalAfter, p.DualControl, p.Approvers, s.Policy)
	}
	for i, a := range p.Approvers {
		if a.Name != s.Approvers[i].Name || !a.Key.Equal(s.Approvers[i].Key) || a.Name == op.Name {
			t.Errorf("profile %s: approver %d is %s %s, want %s %s", s.Name, i, a.Name, a.Key, s.Approvers[i].Name, s.Approvers[i].Key)
		}
	}
}

// approvalKit is the example kit with operator carol who is also the first
// approver, a third approver, and an account without approvals.
func approvalKit(t *testing.T) *kit.Kit {
	return exampleKit(t, func(s string) string {
		s = strings.Replace(s, "# One entry per emergency administrator.", `[[approvers]]
name = "erin"
key = "bg-approver-ed25519:lmEI4YkDXOUROQlt8b9-mu1DEufCzsY0c4CGoOIxfYI-cvHCXVrNXiUmPY6i4XzMvd85LkoHe76wft-UtvcPZQ"

[[operators]]
name = "carol"
user = "carol-bg"
mfa = "prompt"
`, 1)
		s = strings.Replace(s, "dual_control = true             # optional: bob's", "# bob's", 1)
		return strings.Replace(s, `description = "Staging"`, "description = \"Staging\"\napprovals = 0", 1)
	})
}

// Every operator of a kit with approvals: config reads each profile's
// policy, the operator is never among their own approvers, and an account
// without approvals writes no approval keys but still names kit and operator.
func TestApprovalProfiles(t *testing.T) {
	k := approvalKit(t)
	for _, op := range k.Operators {
		t.Run(op.Name, func(t *testing.T) {
			b := FromKit(k, op, bin, "linux", Source{})
			data, err := Apply("config", nil, b)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "config")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := CheckProfiles(path, b); err != nil {
				t.Fatal(err)
			}
			for _, s := range k.Profiles(op) {
				p, err := config.Load(path, s.Name)
				if err != nil {
					t.Fatal(err)
				}
				checkPolicy(t, k, op, s, p)
				if strings.HasPrefix(s.Name, "bg-staging-") && (p.Approvals != 0 || p.Approvers != nil || p.Operator != op.Name) {
					t.Errorf("%s: %+v", s.Name, p)
				}
			}
			if op.Name == "carol" {
				if p, _ := config.Load(path, "bg-prod-ops"); len(p.Approvers) != 2 || p.Approvers[0].Name != "dave" || p.Approvers[1].Name != "erin" {
					t.Errorf("carol's approvers: %v", p.Approvers)
				}
			}
			found, err := Read(path, data)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Export(path, found[0])
			if err != nil {
				t.Fatal(err)
			}
			want := *k
			want.Operators = []kit.Operator{op}
			if !reflect.DeepEqual(got, &want) {
				t.Fatalf("export:\n got  %+v\n want %+v", got, &want)
			}
		})
	}
}

func TestExportDamagedApprover(t *testing.T) {
	k := exampleKit(t, nil)
	t.Chdir(t.TempDir())
	data, err := Apply("config", nil, FromKit(k, k.Operators[0], bin, "linux", Source{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ old, new, what string }{
		{"# approver-2: dave bg-approver-p256:A", "# approver-2: dave bg-approver-p256:B", "approver-2"},
		{" yubikey 12345678\n", " yubikey x\n", "approver-2"},
		{"# approvals: 1\n", "# approvals: many\n", "approvals"},
		{"# self-approval-after: 1h\n", "# self-approval-after: 0s\n", "self-approval-after of profile bg-prod-ro"},
	} {
		if !strings.Contains(string(data), tt.old) {
			t.Fatalf("no %q in\n%s", tt.old, data)
		}
		bad := []byte(strings.Replace(string(data), tt.old, tt.new, 1))
		found, err := Read("config", bad)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("config", bad, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err = Export("config", found[0])
		wantErr(t, err, "config: the managed block of kit example-corp is damaged ("+tt.what+")", "run bg-agent setup again with the kit file to rewrite it")
	}
}

func TestCheckProfilesCatchesUnreadable(t *testing.T) {
	k := exampleKit(t, nil)
	b := FromKit(k, k.Operators[0], bin, "linux", Source{})
	for i, kv := range b.Profiles[0].Keys {
		if kv.Key == "bg_mfa" {
			b.Profiles[0].Keys[i].Value = "sms" // a second bg_mfa line would be refused as a repeat
		}
	}
	data, err := Apply("config", nil, b)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	err = CheckProfiles(path, b)
	wantErr(t, err, "bg-agent would write profile bg-prod-ro that it cannot read: "+path+`: profile bg-prod-ro: bg_mfa "sms" is not one of yubikey, prompt, command`,
		"nothing was changed; this is a bug in bg-agent or an unusual kit: report it with the kit (no secrets are in it)")
}

func TestExportRoundTrip(t *testing.T) {
	k := exampleKit(t, nil)
	for _, op := range k.Operators {
		t.Run(op.Name, func(t *testing.T) {
			data, err := Apply("config", read(t, "testdata/user.ini"), FromKit(k, op, bin, "linux", Source{SignedBy: "x"}))
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "config")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			found, err := Read(path, data)
			if err != nil || len(found) != 1 {
				t.Fatalf("Read: %v %v", found, err)
			}
			got, err := Export(path, found[0])
			if err != nil {
				t.Fatal(err)
			}
			want := *k
			want.Operators = []kit.Operator{op}
			if !reflect.DeepEqual(got, &want) {
				t.Fatalf("export:\n got  %+v\n want %+v", got, &want)
			}
			// The exported kit is a valid kit that sets up the same block.
			again, err := kit.Parse("exported.toml", got.Marshal("exported"))
			if err != nil {
				t.Fatal(err)
			}
			data2, err := Apply("config", read(t, "testdata/user.ini"), FromKit(again, again.Operators[0], bin, "linux", Source{SignedBy: "x"}))
			if err != nil {
				t.Fatal(err)
			}
			if string(data2) != string(data) {
				t.Fatalf("setup from the exported kit differs:\n%s", Diff("config", data, data2))
			}
		})
	}
}

func TestExportDamaged(t *testing.T) {
	k := exampleKit(t, nil)
	data, err := Apply("config", nil, FromKit(k, k.Operators[0], bin, "linux", Source{}))
	if err != nil {
		t.Fatal(err)
	}
	data = []byte(strings.Replace(string(data), "# duration: 1h\n", "# duration: soon\n", 1))
	found, err := Read("config", data)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Export("config", found[0])
	wantErr(t, err, "config: the managed block of kit example-corp is damaged (duration)", "run bg-agent setup again with the kit file to rewrite it")
}

// The Roles Anywhere profiles of the example kit, with alice on both paths,
// a slot and dual control: config reads each as the kit meant it, with
// none of the IAM-user keys (config refuses them there), and the export
// of the block is the kit again.
func TestRolesAnywhereProfilesLoadWithConfig(t *testing.T) {
	k := exampleKit(t, func(s string) string {
		s = strings.Replace(s, `# slot = "9a"  `, `slot = "9c"    `, 1)
		s = strings.Replace(s, "dual_control = false  ", "dual_control = true   ", 1)
		s = strings.Replace(s, `self_approval_after = "30m" `, `# self_approval_after = "30m"`, 1)
		s = strings.Replace(s, `self_approval_after = "1h"  `, `# self_approval_after = "1h"`, 1)
		return strings.Replace(s, `mfa = "yubikey"                 # yubikey`, "mfa = \"yubikey\"\nroles_anywhere = true\n#", 1)
	})
	if !k.Emergency.DualControl || k.RolesAnywhere.Slot != "9c" || !k.Operators[0].RolesAnywhere {
		t.Fatalf("the edits did not take: %+v %+v", k.Emergency, k.Operators[0])
	}
	for _, op := range []kit.Operator{k.Operators[0], k.Operators[2]} {
		t.Run(op.Name, func(t *testing.T) {
			b := FromKit(k, op, "/usr/bin/bg-agent", "linux", Source{SignedBy: "x"})
			data, err := Apply("config", read(t, "testdata/user.ini"), b)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "config")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := CheckProfiles(path, b); err != nil {
				t.Fatal(err)
			}
			ra := 0
			for _, s := range k.Profiles(op) {
				p, err := config.Load(path, s.Name)
				if err != nil {
					t.Fatal(err)
				}
				if !s.RolesAnywhere {
					if p.Start != config.StartIAMUser || !p.DualControl {
						t.Errorf("%s: start %s dual %v", s.Name, p.Start, p.DualControl)
					}
					continue
				}
				ra++
				raw, err := config.RawKeys(path, s.Name)
				if err != nil {
					t.Fatal(err)
				}
				for _, key := range []string{"bg_user", "bg_mfa_serial", "bg_mfa", "bg_source_identity", "bg_dual_control"} {
					if _, set := raw[key]; set {
						t.Errorf("%s has %s", s.Name, key)
					}
				}
				wantSerial := op.YubiKeySerial
				if p.Start != config.StartRolesAnywhere || p.RARole != "arn:aws:iam::111111111111:role/BreakGlassRA" || p.RASlot != "9c" ||
					!reflect.DeepEqual(p.Roles, s.Roles) || len(p.Roles) != 1 || !reflect.DeepEqual(p.Regions, []string{"ap-northeast-1", "us-west-2"}) ||
					p.Duration != s.Duration || p.YubiKeySerial != wantSerial || !p.RequireReason || p.User != "" {
					t.Errorf("profile %s read back as %+v, want %+v", s.Name, p, s)
				}
				for _, r := range p.Regions {
					if p.TrustAnchors[r] != k.RolesAnywhere.TrustAnchor.For(r) || p.RAProfiles[r] != k.RolesAnywhere.Profile.For(r) || p.RAProfiles[r] == "" {
						t.Errorf("%s region %s: anchor %s profile %s", s.Name, r, p.TrustAnchors[r], p.RAProfiles[r])
					}
				}
				if p.SelfApprovalAfter != 0 || p.Approvals != s.Approvals || p.Approvals == 0 {
					t.Errorf("%s: approvals %d self %v; want %d, never self-approved", s.Name, p.Approvals, p.SelfApprovalAfter, s.Approvals)
				}
				checkPolicy(t, k, op, s, p)
			}
			if ra != 4 {
				t.Errorf("%d Roles Anywhere profiles, want 4", ra)
			}
			found, err := Read(path, data)
			if err != nil || len(found) != 1 {
				t.Fatalf("Read: %v %v", found, err)
			}
			got, err := Export(path, found[0])
			if err != nil {
				t.Fatal(err)
			}
			want := *k
			want.Operators = []kit.Operator{op}
			if !reflect.DeepEqual(got, &want) {
				t.Fatalf("export:\n got  %+v\n want %+v", got, &want)
			}
		})
	}
}
