package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// FuzzLoad: on any file, Load, LoadAll and RawKeys do not panic, every
// error is a config error, Load gives what the whole-file parse gives (or
// the file is one that parse refuses, see TestLoadMatchesFullParse), and a
// profile Load accepts is one LoadAll accepts.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{good, bad} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "bg-prod-ops")
		f.Add(data, "ok")
	}
	f.Add([]byte("[profile ops]\n"+okKeys+"[profile ops]\nbg_require_reason = true\n"), "ops")
	f.Add([]byte("[default]\n"+okKeys+"s3 =\n  region = x\n\n  region = y\n[profile default]\n"), "default")
	f.Add([]byte("\ufeff[profile ops]\r\n"+okKeys+"bg_prompt = gui\nbg_notify_sns = "+topicTokyo+"\nbg_mfa_session_duration = 2h\n"), "ops")
	f.Add([]byte("[profile ops]\n"+okKeys+"bg_kit = k\nbg_operator = alice\nbg_approvals = 1\nbg_approvers = carol="+softLine(f)+
		"\n  dave="+p256Line(f)+" alice=bg-approver-p256:AAAA\nbg_self_approval_after = 30m\nbg_dual_control = false\n"), "ops")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		path := filepath.Join(dir, fmt.Sprintf("config-%d", os.Getpid()))
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		got, gerr := Load(path, name)
		want, werr := loadFull(path, name)
		for _, err := range []error{gerr, werr} {
			if err != nil && bgerr.KindOf(err) != bgerr.KindConfig {
				t.Fatalf("%v: kind %v", err, bgerr.KindOf(err))
			}
		}
		if werr == nil || !strings.Contains(werr.Error(), "cannot parse the AWS config file") {
			if fmt.Sprint(gerr) != fmt.Sprint(werr) || !reflect.DeepEqual(got, want) {
				t.Fatalf("Load: %+v, %v\nfull: %+v, %v", got, gerr, want, werr)
			}
		}
		if _, err := RawKeys(path, name); err != nil && bgerr.KindOf(err) != bgerr.KindConfig {
			t.Fatalf("RawKeys: %v", err)
		}
		profiles, errs := LoadAll(path)
		for _, err := range errs {
			if bgerr.KindOf(err) != bgerr.KindConfig {
				t.Fatalf("LoadAll: %v: kind %v", err, bgerr.KindOf(err))
			}
		}
		if got != nil && werr == nil && len(errs) == 0 {
			found := false
			for _, p := range profiles {
				found = found || reflect.DeepEqual(p, got)
			}
			if !found {
				t.Fatalf("Load gives %+v, LoadAll has no such profile", got)
			}
		}
	})
}
