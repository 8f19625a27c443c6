package testworld

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// signinTokenLife is how long AWS honours a SigninToken.
const signinTokenLife = 15 * time.Minute

type signinToken struct {
	sess    *session
	expires time.Time
}

// serveSignin is console federation (/federation on the signin hosts):
// getSigninToken turns role credentials into a SigninToken, login trades
// it for a redirect to the console.
func (w *World) serveSignin(q *request) {
	switch q.fault.Kind {
	case Fault503:
		w.failSignin(q, http.StatusServiceUnavailable, "ServiceUnavailable", "service unavailable")
		return
	case FaultThrottle:
		w.failSignin(q, http.StatusTooManyRequests, "Throttling", "rate exceeded")
		return
	}
	if q.r.URL.Path != "/federation" {
		w.failSignin(q, http.StatusNotFound, "NotFound", "no such page")
		return
	}
	switch strings.ToLower(q.form.Get("Action")) {
	case "getsignintoken":
		w.getSigninToken(q)
	case "login":
		w.login(q)
	default:
		w.failSignin(q, http.StatusBadRequest, "InvalidAction", "Action must be getSigninToken or login")
	}
}

func (w *World) getSigninToken(q *request) {
	var in struct{ SessionID, SessionKey, SessionToken string }
	if err := json.Unmarshal([]byte(q.form.Get("Session")), &in); err != nil || in.SessionID == "" {
		w.failSignin(q, 400, "MalformedSession", `Session must be JSON {"sessionId","sessionKey","sessionToken"}`)
		return
	}
	q.call.AccessKeyID = in.SessionID
	w.mu.Lock()
	s := w.sessions[in.SessionID]
	w.mu.Unlock()
	if s == nil || s.secret != in.SessionKey || s.token != in.SessionToken {
		w.failSignin(q, 400, "InvalidSession", "the session credentials are not valid")
		return
	}
	q.call.Caller = s.arn
	now := w.Now()
	if !now.Before(s.expiration) {
		w.failSignin(q, 400, "ExpiredSession", "the session credentials have expired")
		return
	}
	if s.kind == kindSessionToken {
		w.failSignin(q, 400, "SessionTokenCredentials", "GetSessionToken credentials cannot sign in to the console; use role credentials")
		return
	}
	if q.form.Has("SessionDuration") {
		d, _, ok := intParam(q.form, "SessionDuration")
		q.call.DurationSeconds = d
		switch {
		case !ok || d < 900 || d > 43200:
			w.failSignin(q, 400, "InvalidSessionDuration", "SessionDuration must be 900 to 43200 seconds")
			return
		case s.chained && d > chainLimit:
			w.failSignin(q, 400, "InvalidSessionDuration", "SessionDuration over 3600 seconds needs role credentials obtained with long-term user keys, not by role chaining")
			return
		}
	}
	tok := randomString(64, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
	exp := signinTokenLife
	if c := w.opts.SessionDurationCap; c > 0 && c < exp {
		exp = c
	}
	w.mu.Lock()
	w.tokens[tok] = signinToken{sess: s, expires: now.Add(exp)}
	w.mu.Unlock()
	body, _ := json.Marshal(map[string]string{"SigninToken": tok})
	w.finish(q, 200, "application/json", body)
}

func (w *World) login(q *request) {
	w.mu.Lock()
	t, ok := w.tokens[q.form.Get("SigninToken")]
	w.mu.Unlock()
	if ok {
		q.call.AccessKeyID, q.call.Caller = t.sess.accessKeyID, t.sess.arn
	}
	dest := q.form.Get("Destination")
	switch {
	case !ok:
		w.failSignin(q, 400, "InvalidSigninToken", "the SigninToken is not valid")
	case !w.Now().Before(t.expires):
		w.failSignin(q, 400, "ExpiredSigninToken", "the SigninToken has expired")
	case !strings.HasPrefix(dest, "https://"):
		w.failSignin(q, 400, "InvalidDestination", "Destination must be an https URL")
	default:
		q.rw.Header().Set("Location", dest)
		w.finish(q, http.StatusFound, "", nil)
	}
}

func (w *World) failSignin(q *request, status int, code, msg string) {
	q.call.ErrorCode = code
	w.finish(q, status, "text/plain; charset=utf-8", []byte(msg+"\n"))
}
