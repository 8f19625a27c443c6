package yubikey

import (
	"context"
	"testing"
	"time"

	"github.com/go-piv/piv-go/v2/piv"

	"github.com/bg-agent/bg-agent/internal/vyubikey"
	"github.com/bg-agent/bg-agent/internal/vyubikey/vyubikeytest"
)

// Benchmarks through the real pcscd and the virtual card (go test -bench
// YubiKey ./internal/yubikey). The card's simulated touch delay is taken
// out of the touch figures: they are what bg-agent and PC/SC cost.

func BenchmarkYubiKeyOATHCode(b *testing.B) {
	startCard(b, vyubikeytest.Options{Serial: 13000301, Setup: func(c *vyubikey.Card) error { return c.AddOATH(awsName, awsSecret, false) }})
	o := &OATH{}
	req := CodeRequest{Serial: 13000301, Names: []string{awsName}, For: "x"}
	for b.Loop() {
		if _, err := o.Code(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkYubiKeyOATHCodeTouch(b *testing.B) {
	const delay = time.Millisecond
	startCard(b, vyubikeytest.Options{Serial: 13000302, Touch: vyubikey.TouchPolicy{Mode: vyubikey.TouchAuto, Delay: delay},
		Setup: func(c *vyubikey.Card) error { return c.AddOATH(awsName, awsSecret, true) }})
	o := &OATH{}
	req := CodeRequest{Serial: 13000302, Names: []string{awsName}, For: "x"}
	start := time.Now()
	n := 0
	for b.Loop() {
		if _, err := o.Code(context.Background(), req); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(time.Since(start)-time.Duration(n)*delay)/float64(n)/1e6, "ms/code-excl-touch")
}

func BenchmarkYubiKeyUnseal(b *testing.B) {
	for _, tc := range []struct {
		name  string
		touch piv.TouchPolicy
	}{{"touch-never", piv.TouchPolicyNever}, {"touch-cached", piv.TouchPolicyCached}} {
		b.Run(tc.name, func(b *testing.B) {
			const delay = time.Millisecond
			startCard(b, vyubikeytest.Options{Serial: 13000303, Touch: vyubikey.TouchPolicy{Mode: vyubikey.TouchAuto, Delay: delay}})
			p := &PIV{PIN: func(PINRequest) (string, error) { return "123456", nil }}
			k, err := p.Generate(context.Background(), 13000303, piv.SlotKeyManagement, GenerateOptions{TouchPolicy: tc.touch})
			if err != nil {
				b.Fatal(err)
			}
			sealed := mustSeal(b, k)
			for b.Loop() {
				if _, err := unseal(p, sealed); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
