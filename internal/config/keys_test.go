package config

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

const (
	topicTokyo  = "arn:aws:sns:ap-northeast-1:111111111111:breakglass"
	topicOregon = "arn:aws:sns:us-west-2:111111111111:breakglass.fifo"
)

// TestKeys holds one rule per bg_* key: a good value and the field it
// gives, a bad value and the exact message and hint.
func TestKeys(t *testing.T) {
	tests := []struct {
		key, value string
		check      func(*Profile) bool // good values
		msg, hint  string              // bad values
	}{
		{key: "bg_yubikey_serial", value: "12345678", check: func(p *Profile) bool { return p.YubiKeySerial == 12345678 }},
		{key: "bg_yubikey_serial", value: "0", msg: `bg_yubikey_serial "0" is not a YubiKey serial number`,
			hint: "use the serial printed on the key or shown by: bg-agent yubikey list"},
		{key: "bg_yubikey_serial", value: "4294967296", msg: `bg_yubikey_serial "4294967296" is not a YubiKey serial number`,
			hint: "use the serial printed on the key or shown by: bg-agent yubikey list"},
		{key: "bg_oath_account", value: "Amazon Web Services:alice-bg@111111111111",
			check: func(p *Profile) bool { return p.OATHAccount == "Amazon Web Services:alice-bg@111111111111" }},
		{key: "bg_oath_account", value: "x\n  y", msg: `bg_oath_account "x\ny" is not one line of at most 64 bytes`,
			hint: "use the account name as ykman oath accounts list shows it"},
		{key: "bg_prompt", value: "GUI", check: func(p *Profile) bool { return p.Prompt == PromptGUI }},
		{key: "bg_prompt", value: "terminal", check: func(p *Profile) bool { return p.Prompt == PromptTerminal }},
		{key: "bg_prompt", value: "sometimes", msg: `bg_prompt "sometimes" is not one of terminal, gui, auto`,
			hint: "set bg_prompt = terminal, gui or auto"},
		{key: "bg_require_reason", value: "true", check: func(p *Profile) bool { return p.RequireReason }},
		{key: "bg_require_reason", value: "TRUE  # gate", check: func(p *Profile) bool { return p.RequireReason }},
		{key: "bg_require_reason", value: "false", check: func(p *Profile) bool { return !p.RequireReason }},
		{key: "bg_require_reason", value: "yes", msg: `bg_require_reason "yes" is not true or false`,
			hint: "set bg_require_reason = true or bg_require_reason = false"},
		{key: "bg_notify_sns", value: topicTokyo + "  " + topicOregon,
			check: func(p *Profile) bool { return reflect.DeepEqual(p.NotifySNS, []string{topicTokyo, topicOregon}) }},
		{key: "bg_notify_sns", value: "arn:aws:sqs:us-west-2:111111111111:q", msg: `bg_notify_sns "arn:aws:sqs:us-west-2:111111111111:q" is not an SNS topic ARN`,
			hint: "use arn:aws:sns:REGION:ACCOUNT_ID:TOPIC, one per region, space-separated, in order of preference"},
		{key: "bg_notify_sns", value: topicTokyo + " breakglass", msg: `bg_notify_sns "breakglass" is not an SNS topic ARN`,
			hint: "use arn:aws:sns:REGION:ACCOUNT_ID:TOPIC, one per region, space-separated, in order of preference"},
		{key: "bg_notify_webhook", value: "https://hooks.slack.com/services/T/B/X",
			check: func(p *Profile) bool { return p.NotifyWebhook == "https://hooks.slack.com/services/T/B/X" }},
		{key: "bg_notify_webhook", value: "http://127.0.0.1:8080/hook", check: func(p *Profile) bool { return p.NotifyWebhook == "http://127.0.0.1:8080/hook" }},
		{key: "bg_notify_webhook", value: "http://hooks.example.com/services/T/B/secret", msg: `bg_notify_webhook "http://hooks.example.com" is not an https URL`,
			hint: "use the https URL of a Slack-compatible incoming webhook"},
		{key: "bg_notify_webhook", value: "hooks.example.com/x", msg: `bg_notify_webhook "(unparseable URL)" is not an https URL`,
			hint: "use the https URL of a Slack-compatible incoming webhook"},
		{key: "bg_mfa_session_duration", value: "8h", check: func(p *Profile) bool { return p.MFASessionDuration == 8*time.Hour }},
		{key: "bg_mfa_session_duration", value: "900", check: func(p *Profile) bool { return p.MFASessionDuration == 15*time.Minute }},
		{key: "bg_mfa_session_duration", value: "10m", msg: `bg_mfa_session_duration "10m" is outside 15m to 36h`,
			hint: "set bg_mfa_session_duration between 15m and 36h (GetSessionToken limits), or remove it to keep the agent's --max-unlock"},
		{key: "bg_mfa_session_duration", value: "a day", msg: `bg_mfa_session_duration "a day" is not a duration`,
			hint: "use a duration such as 1h or 90m, or seconds such as 3600"},
		{key: "bg_require_reasn", value: "true", msg: "bg_require_reasn is not a bg-agent key", hint: "did you mean bg_require_reason?"},
		{key: "bg_mfa_seria", value: "x", msg: "bg_mfa_seria is not a bg-agent key", hint: "did you mean bg_mfa_serial?"},
		{key: "bg_zzzzzzzzzzzzzzzzzzzz", value: "x", msg: "bg_zzzzzzzzzzzzzzzzzzzz is not a bg-agent key",
			hint: "remove it; bg-agent reads only bg_user, bg_mfa_serial, bg_mfa, bg_mfa_command, bg_roles, bg_regions, bg_duration, bg_source_identity, " +
				"bg_yubikey_serial, bg_oath_account, bg_prompt, bg_require_reason, bg_notify_sns, bg_notify_webhook, bg_mfa_session_duration, " +
				"bg_kit, bg_operator, bg_approvals, bg_approvers, bg_self_approval_after, bg_dual_control, " +
				"bg_start, bg_trust_anchor, bg_ra_profile, bg_ra_role, bg_ra_slot"},
	}
	dir := t.TempDir()
	t.Chdir(dir)
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			data := "[profile ops]\n" + okKeys + tt.key + " = " + tt.value + "\n"
			if err := os.WriteFile(filepath.Join(dir, "F"), []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
			p, err := Load("F", "ops")
			if tt.check != nil {
				if err != nil || !tt.check(p) {
					t.Fatalf("Load = %+v, %v", p, err)
				}
				return
			}
			if want := "F: profile ops: " + tt.msg; err == nil || err.Error() != want {
				t.Fatalf("err = %v\nwant %s", err, want)
			}
			if h := bgerr.HintsOf(err); len(h) != 1 || h[0] != tt.hint || bgerr.KindOf(err) != bgerr.KindConfig {
				t.Errorf("kind %v hints %q\nwant %q", bgerr.KindOf(err), h, tt.hint)
			}
		})
	}
}

// Unset keys are the zero values: no yubikey serial, no prompt mode, no
// reason required, no targets, no MFA session duration.
func TestKeysUnset(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.WriteFile("F", []byte("[profile ops]\n"+okKeys), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := Load("F", "ops")
	if err != nil {
		t.Fatal(err)
	}
	if p.YubiKeySerial != 0 || p.OATHAccount != "" || p.Prompt != PromptUnset || p.RequireReason ||
		p.NotifySNS != nil || p.NotifyWebhook != "" || p.MFASessionDuration != 0 || !p.SourceIdentityDerived {
		t.Errorf("%+v", p)
	}
}
