package agent

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/bg-agent/bg-agent/internal/config"
	"github.com/bg-agent/bg-agent/internal/keystore"
)

// The client's lean line types must be Message on the wire: every field a
// Message field of the same JSON name and type, and equal lines for equal
// content.
func TestLeanLinesMatchMessage(t *testing.T) {
	msgFields := map[string]reflect.Type{}
	mt := reflect.TypeOf(Message{})
	for i := 0; i < mt.NumField(); i++ {
		msgFields[mt.Field(i).Tag.Get("json")] = mt.Field(i).Type
	}
	for _, lean := range []any{clientLine{}, agentLine{}} {
		lt := reflect.TypeOf(lean)
		for i := 0; i < lt.NumField(); i++ {
			f := lt.Field(i)
			if typ, ok := msgFields[f.Tag.Get("json")]; !ok || typ != f.Type {
				t.Errorf("%s.%s (json %q, %s) is not a Message field", lt.Name(), f.Name, f.Tag.Get("json"), f.Type)
			}
		}
	}

	p := &config.Profile{Name: "bg-ops", User: "alice-bg", Roles: []string{"arn:aws:iam::111111111111:role/R"},
		Duration: time.Hour, RequireReason: true}
	sec := &keystore.Secret{AccessKeyID: "AKIAEXAMPLEEXAMPLE01", SecretAccessKey: "x"}
	ei := &ErrorInfo{Kind: "mfa", Message: "m", Hints: []string{"h"}}
	same := func(lean any, m Message) {
		t.Helper()
		m.V = Version
		a, _ := json.Marshal(lean)
		b, _ := json.Marshal(m)
		if string(a) != string(b) {
			t.Errorf("lean line %s\nMessage   %s", a, b)
		}
	}
	same(clientLine{V: Version, Type: TCredentials, Profile: p, Reason: "r", Ticket: "T-1"},
		Message{Type: TCredentials, Profile: p, Reason: "r", Ticket: "T-1"})
	same(clientLine{V: Version, Type: TAnswer, Secret: sec}, Message{Type: TAnswer, Secret: sec})
	same(clientLine{V: Version, Type: TAnswer, Code: "123456"}, Message{Type: TAnswer, Code: "123456"})
	same(clientLine{V: Version, Type: TError, Error: ei}, Message{Type: TError, Error: ei})

	// What the agent sends reads into agentLine without loss.
	cr := &Credentials{AccessKeyID: "ASIA", SecretAccessKey: "s", SessionToken: "t", ARN: "arn", Region: "us-west-2",
		Expiration: time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC), Issued: time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)}
	for _, m := range []Message{
		{Type: TNeedMFA, User: "alice-bg", Serial: "arn:aws:iam::111111111111:mfa/alice-bg", Retry: true},
		{Type: TNeedSecret, User: "alice-bg"}, {Type: TInfo, Text: "hop 1/2"},
		{Type: TResult, Credentials: cr}, {Type: TError, Error: ei},
	} {
		m.V = Version
		b, _ := json.Marshal(m)
		var l agentLine
		if err := json.Unmarshal(b, &l); err != nil {
			t.Fatal(err)
		}
		same(l, m)
	}
}
