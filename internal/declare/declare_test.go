package declare

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

func TestSaveLoadEnd(t *testing.T) {
	dir := t.TempDir()
	if d, err := Load(dir); d != nil || err != nil {
		t.Fatal(d, err)
	}
	now := time.Now()
	if err := Save(dir, Declaration{Reason: "  "}); bgerr.KindOf(err) != bgerr.KindUsage {
		t.Fatal(err)
	}
	want := Declaration{Reason: "IdP down", Ticket: "INC-1", By: "alice", At: now.UTC(), Until: now.Add(time.Hour).UTC()}
	if err := Save(dir, want); err != nil {
		t.Fatal(err)
	}
	d, err := Load(dir)
	if err != nil || d.Reason != "IdP down" || !d.Until.Equal(want.Until) || !d.Active(now) || d.Active(now.Add(2*time.Hour)) {
		t.Fatalf("%+v %v", d, err)
	}
	if err := End(dir); err != nil {
		t.Fatal(err)
	}
	if d, _ := Load(dir); d != nil {
		t.Fatal("not ended")
	}
}

func TestResolveAndRequire(t *testing.T) {
	now := time.Now()
	open := &Declaration{Reason: "IdP down", Ticket: "INC-1", Until: now.Add(time.Hour)}
	ended := &Declaration{Reason: "old", Until: now.Add(-time.Minute)}
	cases := []struct {
		name           string
		envR, envT     string
		d              *Declaration
		want           Justification
		requireMessage string
	}{
		{"env wins", "drill", "CHG-9", open, Justification{Reason: "drill", Ticket: "CHG-9"}, ""},
		{"declaration", "", "", open, Justification{Reason: "IdP down", Ticket: "INC-1"}, ""},
		{"env ticket overrides", "", "INC-2", open, Justification{Reason: "IdP down", Ticket: "INC-2"}, ""},
		{"nothing", "", "", nil, Justification{}, "profile p requires a declared emergency, and none is open"},
		{"ended", "", "", ended, Justification{}, "profile p requires a declared emergency; the last one ended at "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j := Resolve(c.envR, c.envT, c.d, now)
			if j != c.want {
				t.Fatalf("got %+v", j)
			}
			err := Require("p", j, c.d, now)
			if c.requireMessage == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), c.requireMessage) || len(bgerr.HintsOf(err)) != 2 {
				t.Fatalf("%v", err)
			}
		})
	}
}

func TestTagsSanitised(t *testing.T) {
	long := strings.Repeat("x", 300)
	j := Justification{Reason: "DB down; can't reach IdP!\n\tsee   #ops", Ticket: long}
	tags, keys := j.Tags()
	if len(tags) != 2 || strings.Join(keys, ",") != "bg-agent:reason,bg-agent:ticket" {
		t.Fatalf("%v %v", tags, keys)
	}
	if got := aws.ToString(tags[0].Value); got != "DB down- can-t reach IdP- see -ops" {
		t.Fatalf("reason tag %q", got)
	}
	if got := aws.ToString(tags[1].Value); len(got) != 256 || !strings.HasSuffix(got, ".") {
		t.Fatalf("ticket tag len %d %q", len(got), got[250:])
	}
	if tags, _ := (Justification{}).Tags(); tags != nil {
		t.Fatal("tags without a justification")
	}
}
