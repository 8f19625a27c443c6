package testworld

import "time"

// Call is one request the world saw, successful or not. Tests assert on
// these rather than on logs.
type Call struct {
	Time              time.Time // world clock
	Host              string
	Region            string
	Service           string // sts, signin, or proxy for a refused CONNECT
	Action            string // AssumeRole, getSigninToken, CONNECT, …
	AccessKeyID       string
	Caller            string // ARN the caller acts as (GetCallerIdentity's Arn)
	RoleArn           string
	SerialNumber      string
	TokenCode         string
	DurationSeconds   int
	RoleSessionName   string
	SourceIdentity    string
	Tags              map[string]string `json:",omitempty"`
	TransitiveTagKeys []string          `json:",omitempty"`
	TrustAnchorArn    string            `json:",omitempty"` // Roles Anywhere CreateSession
	ProfileArn        string            `json:",omitempty"`
	CertSubject       string            `json:",omitempty"` // signing certificate's subject CN
	CertSerial        string            `json:",omitempty"` // its serial number, decimal
	ErrorCode         string            // empty on success
	HTTPStatus        int               // 0 when no answer was given (blackhole)
	Fault             FaultKind
}

// Calls returns a copy of the call log, oldest first.
func (w *World) Calls() []Call {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Call(nil), w.calls...)
}

// ResetCalls empties the call log.
func (w *World) ResetCalls() {
	w.mu.Lock()
	w.calls = nil
	w.mu.Unlock()
}

func (w *World) record(c Call) {
	w.mu.Lock()
	w.calls = append(w.calls, c)
	w.mu.Unlock()
}
