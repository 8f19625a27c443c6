package chain

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// apiErr is an AWS error answer as smithy shapes it.
func apiErr(status int, code string) error {
	return &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: http.Header{}}},
		Err: &smithy.GenericAPIError{Code: code, Message: "m"}}
}

// TestFailoverForOtherServices: Failover walks regions as the chain does,
// naming the service it was given, and an op's own *bgerr.Error stops it.
func TestFailoverForOtherServices(t *testing.T) {
	rep := &lines{}
	var asked []string
	o := FailoverOptions{Regions: []string{"r1", "r2", "r3"}, Service: "Roles Anywhere", Backoff: func(int) time.Duration { return 0 }}
	region, f := Failover(context.Background(), rep, o, "CreateSession", func(_ context.Context, r string) error {
		asked = append(asked, r)
		if r == "r1" {
			return apiErr(429, "TooManyRequestsException")
		}
		return nil
	})
	if f != nil || region != "r2" || strings.Join(asked, ",") != "r1,r2" {
		t.Fatalf("region %s, failure %v, asked %v", region, f, asked)
	}
	if !strings.Contains(strings.Join(rep.out, "\n"), "CreateSession: r1 failed (HTTP 429 TooManyRequestsException); trying r2") {
		t.Errorf("report %q", rep.out)
	}

	asked = nil
	_, f = Failover(context.Background(), rep, o, "CreateSession", func(_ context.Context, r string) error {
		asked = append(asked, r)
		return apiErr(429, "TooManyRequestsException")
	})
	if f == nil || f.Kind != bgerr.KindAllRegions || !f.AllThrottled || len(asked) != 9 ||
		!strings.Contains(f.Reason, "every Roles Anywhere region throttled CreateSession (3 passes") {
		t.Errorf("all throttled: %+v after %d asks", f, len(asked))
	}

	asked = nil
	card := bgerr.New(bgerr.KindMFA, "the YubiKey refused the PIN")
	_, f = Failover(context.Background(), rep, o, "CreateSession", func(_ context.Context, r string) error {
		asked = append(asked, r)
		return card
	})
	if f == nil || f.Kind != bgerr.KindMFA || !errors.Is(f, card) || len(asked) != 1 {
		t.Errorf("a local failure: %+v after %v", f, asked)
	}

	err := AllRegionsError(&Failure{Kind: bgerr.KindAllRegions, Reason: "no Roles Anywhere region answered"}, "Roles Anywhere", "bg_regions of profile p")
	if h := bgerr.HintsOf(err); len(h) != 1 || !strings.Contains(h[0], "bg_regions of profile p") {
		t.Errorf("hints %q", h)
	}
}
