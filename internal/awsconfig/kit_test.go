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
					if want := CredentialProcess(bin, "linux", s.Name); !strings.Contains(string(data), "credential_process = "+want+"\n") {
						t.Errorf("credential_process of %s is not %s", s.Name, want)
					}
				}
			})
		}
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
