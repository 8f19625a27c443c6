package chain

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// regionSet walks the configured regions in order of preference, starting
// with the one that served last: tokens from any regional endpoint are valid
// in every region (notes/aws-facts.md), so a chain that failed over once
// stays on the region that works.
type regionSet struct {
	regions   []string
	preferred string
	// throttlePasses is how many extra passes over all regions are made when
	// every region answered "throttled"; backoff between passes.
	throttlePasses int
	backoff        func(pass int) time.Duration
	// service names the endpoints in messages ("STS" when empty).
	service string
}

func (r *regionSet) order() []string {
	out := make([]string, 0, len(r.regions))
	if r.preferred != "" {
		out = append(out, r.preferred)
	}
	for _, x := range r.regions {
		if x != r.preferred {
			out = append(out, x)
		}
	}
	return out
}

func defaultBackoff(pass int) time.Duration {
	base := time.Duration(500*(1<<pass)) * time.Millisecond
	return base + time.Duration(rand.Int64N(int64(base/2)))
}

// do runs op against each region until one answers. Errors that are not
// about the region stop at once and are returned classified. what names the
// step for messages ("GetSessionToken for alice-bg").
func (r *regionSet) do(ctx context.Context, rep Reporter, what string, op func(ctx context.Context, region string) error) (string, *failure) {
	var tried, regionsTried []string
	proxy, proxyAll, throttledAll := "", true, false
	for pass := 0; pass <= r.throttlePasses; pass++ {
		allThrottled := true
		order := r.order()
		for i, region := range order {
			err := op(ctx, region)
			if err == nil {
				r.preferred = region
				return region, nil
			}
			f := classify(err)
			if f.Kind != bgerr.KindRegion {
				return region, f
			}
			if !f.throttled() {
				allThrottled = false
			}
			tried = append(tried, region+": "+f.Reason)
			if pass == 0 {
				regionsTried = append(regionsTried, region)
			}
			if f.Proxy == "" || (proxy != "" && f.Proxy != proxy) {
				proxyAll = false
			}
			proxy = f.Proxy
			if i+1 < len(order) {
				rep.Infof("%s: %s failed (%s); trying %s", what, region, f.Reason, order[i+1])
			}
		}
		if !allThrottled || pass == r.throttlePasses {
			throttledAll = allThrottled
			break
		}
		b := r.backoff
		if b == nil {
			b = defaultBackoff
		}
		d := b(pass)
		rep.Infof("%s: every region is throttling; retrying in %s", what, d.Round(100*time.Millisecond))
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return "", &failure{Kind: bgerr.KindCanceled, Reason: "canceled", Err: ctx.Err()}
		}
	}
	svc := r.service
	if svc == "" {
		svc = "STS"
	}
	all := &failure{Kind: bgerr.KindAllRegions, AllThrottled: throttledAll,
		Reason: fmt.Sprintf("no %s region answered %s: %s", svc, what, strings.Join(tried, "; "))}
	switch {
	case proxy != "" && proxyAll:
		all.Proxy = proxy
		all.Reason = fmt.Sprintf("the proxy at %s (HTTPS_PROXY) is unreachable, so no %s region could be asked %s (tried %s)",
			proxy, svc, what, strings.Join(regionsTried, ", "))
	case throttledAll:
		all.Reason = fmt.Sprintf("every %s region throttled %s (%d passes with backoff over %s): AWS is rate-limiting this account",
			svc, what, r.throttlePasses+1, strings.Join(regionsTried, ", "))
	}
	return "", all
}

// FailoverOptions configure Failover.
type FailoverOptions struct {
	Regions []string // in order of preference
	Service string   // names the endpoints in messages: "Roles Anywhere"
	// Backoff is the wait before another pass when every region throttled
	// (nil: the chain's, 0.5 s doubling with jitter; two extra passes).
	Backoff func(pass int) time.Duration
}

// Failover runs op in each region with the chain's rules, for AWS calls
// that are not STS but share its transports (Roles Anywhere): errors that
// Classify sorts as KindRegion move on to the next region with the same
// notices, any other stops at once. The *Failure is nil on success.
func Failover(ctx context.Context, rep Reporter, o FailoverOptions, what string, op func(ctx context.Context, region string) error) (string, *Failure) {
	r := regionSet{regions: o.Regions, throttlePasses: 2, backoff: o.Backoff, service: o.Service}
	return r.do(ctx, rep, what, op)
}
