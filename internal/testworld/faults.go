package testworld

import (
	"fmt"
	"strings"
	"time"
)

// FaultKind is how a host misbehaves.
type FaultKind string

// Fault kinds. Latency is a Fault field, so it combines with any kind;
// FaultLatency is the same as FaultNone and exists for the admin API.
const (
	FaultNone      FaultKind = ""
	FaultRefuse    FaultKind = "refuse"    // CONNECT answered 502, as a proxy does when the origin refuses
	FaultBlackhole FaultKind = "blackhole" // CONNECT never answered until the client gives up
	Fault503       FaultKind = "503"       // HTTP 503 ServiceUnavailable
	FaultThrottle  FaultKind = "throttle"  // HTTP 400 Throttling "Rate exceeded"
	FaultLatency   FaultKind = "latency"   // only the delay
	FaultDisabled  FaultKind = "disabled"  // STS 403 RegionDisabledException
	FaultEmpty     FaultKind = "empty"     // HTTP 200 with no body, as a broken middlebox may answer
)

// Fault is a misbehaviour of one host.
type Fault struct {
	Kind    FaultKind
	Latency time.Duration // delay before each response
}

// ParseFaultKind accepts the names of the constants ("refuse", "503", …).
func ParseFaultKind(s string) (FaultKind, error) {
	switch k := FaultKind(strings.ToLower(s)); k {
	case FaultNone, FaultRefuse, FaultBlackhole, Fault503, FaultThrottle, FaultLatency, FaultDisabled, FaultEmpty:
		return k, nil
	}
	return "", fmt.Errorf("unknown fault kind %q (want refuse, blackhole, 503, throttle, latency, disabled or empty)", s)
}

// SetFault makes host (exact name, no port) misbehave until cleared. A zero
// Fault clears that host.
func (w *World) SetFault(host string, f Fault) {
	host = strings.ToLower(host)
	w.mu.Lock()
	defer w.mu.Unlock()
	if f == (Fault{}) {
		delete(w.faults, host)
		return
	}
	w.faults[host] = f
}

// ClearFaults makes every host behave again.
func (w *World) ClearFaults() {
	w.mu.Lock()
	w.faults = map[string]Fault{}
	w.mu.Unlock()
}

func (w *World) fault(host string) Fault {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.faults[strings.ToLower(host)]
}

// apiError is the AWS error a 503 or throttle fault answers with, whatever
// the service; nil for other kinds.
func (f Fault) apiError() *apiError {
	switch f.Kind {
	case Fault503:
		return &apiError{Status: 503, Code: "ServiceUnavailable", Message: "Service is unavailable. Please try again later."}
	case FaultThrottle:
		return &apiError{Status: 400, Code: "Throttling", Message: "Rate exceeded"}
	}
	return nil
}
