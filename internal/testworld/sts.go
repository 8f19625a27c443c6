package testworld

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// caller is who signed an STS request: a long-term user key or a session.
type caller struct {
	user *User    // set for long-term keys, and the origin user of a session
	sess *session // set for temporary keys
}

func (c caller) temporary() bool { return c.sess != nil }

func (c caller) account() string {
	if c.sess != nil {
		return c.sess.account
	}
	return c.user.Account
}

// arn is the identity ARN (GetCallerIdentity's Arn).
func (c caller) arn() string {
	if c.sess != nil {
		return c.sess.arn
	}
	return c.user.ARN()
}

// principal is what role trust policies name: the user, or the role.
func (c caller) principal() string {
	if c.sess != nil {
		return c.sess.principal
	}
	return c.user.ARN()
}

func (c caller) userID() string {
	if c.sess != nil {
		return c.sess.userID
	}
	return stableID("AIDA", c.user.ARN())
}

// serveSTS answers the STS Query protocol (Version 2011-06-15), which every
// pinned client (aws-sdk-go-v2 sts, botocore, JS SDK v3) still sends.
func (w *World) serveSTS(q *request) {
	f := q.form
	c := &q.call
	c.RoleArn, c.SerialNumber, c.TokenCode = f.Get("RoleArn"), f.Get("SerialNumber"), f.Get("TokenCode")
	c.RoleSessionName, c.SourceIdentity = f.Get("RoleSessionName"), f.Get("SourceIdentity")
	c.DurationSeconds, _ = strconv.Atoi(f.Get("DurationSeconds"))
	c.Tags, c.TransitiveTagKeys = formTags(f), formList(f, "TransitiveTagKeys.member.")

	if e := q.fault.apiError(); e != nil {
		w.failSTS(q, e)
		return
	}
	who, aerr := w.authenticate(q)
	if aerr != nil {
		w.failSTS(q, aerr)
		return
	}
	c.Caller = who.arn()
	if q.fault.Kind == FaultDisabled {
		w.failSTS(q, &apiError{Status: 403, Code: "RegionDisabledException", Message: "STS is not activated in this region for account:" + who.account() + ". Your account administrator can activate STS in this region using the IAM Console."})
		return
	}
	if v := f.Get("Version"); v != "2011-06-15" {
		w.failSTS(q, &apiError{Status: 400, Code: "InvalidAction", Message: fmt.Sprintf("Could not find operation %s for version %s", f.Get("Action"), v)})
		return
	}
	switch f.Get("Action") {
	case "GetCallerIdentity":
		w.replySTS(q, "GetCallerIdentity", struct {
			XMLName xml.Name `xml:"GetCallerIdentityResult"`
			Arn     string
			UserId  string
			Account string
		}{Arn: who.arn(), UserId: who.userID(), Account: who.account()})
	case "GetSessionToken":
		w.getSessionToken(q, who)
	case "AssumeRole":
		w.assumeRole(q, who)
	default:
		w.failSTS(q, &apiError{Status: 400, Code: "InvalidAction", Message: fmt.Sprintf("Could not find operation %s for version 2011-06-15", f.Get("Action"))})
	}
}

// authenticate checks the SigV4 signature in AWS's order: scope, clock,
// key, token, signature.
func (w *World) authenticate(q *request) (caller, *apiError) {
	authz := q.r.Header.Get("Authorization")
	if authz == "" {
		return caller{}, &apiError{Status: 403, Code: "MissingAuthenticationToken", Message: "Request is missing Authentication Token"}
	}
	a, ok := parseAuthorization(authz)
	if !ok {
		return caller{}, &apiError{Status: 400, Code: "IncompleteSignature", Message: "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters."}
	}
	q.call.AccessKeyID = a.AccessKeyID
	amzDate := q.r.Header.Get("X-Amz-Date")
	if e := checkScope(a, amzDate, q.t.Region, q.t.Service, w.Now()); e != nil {
		return caller{}, e
	}
	w.mu.Lock()
	u, s := w.users[a.AccessKeyID], w.sessions[a.AccessKeyID]
	w.mu.Unlock()
	invalid := &apiError{Status: 403, Code: "InvalidClientTokenId", Message: "The security token included in the request is invalid."}
	var who caller
	var secret string
	switch {
	case u != nil:
		who, secret = caller{user: u}, u.SecretAccessKey
	case s != nil:
		if q.r.Header.Get("X-Amz-Security-Token") != s.token {
			return caller{}, invalid
		}
		if !w.Now().Before(s.expiration) {
			return caller{}, &apiError{Status: 403, Code: "ExpiredToken", Message: "The security token included in the request is expired"}
		}
		who, secret = caller{user: s.user, sess: s}, s.secret
	default:
		return caller{}, invalid
	}
	t, _ := time.Parse(amzDateLayout, amzDate)
	if !verifySignature(q.r, q.body, a, secret, t) {
		return caller{}, errSignature("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return who, nil
}

func (w *World) getSessionToken(q *request, who caller) {
	if who.temporary() {
		w.failSTS(q, errAccessDenied("Cannot call GetSessionToken with session credentials"))
		return
	}
	d, e := durationParam(q, 43200, 129600)
	if e != nil {
		w.failSTS(q, e)
		return
	}
	mfa := false
	if serial := q.form.Get("SerialNumber"); serial != "" || q.form.Get("TokenCode") != "" {
		if e := w.verifyMFA(who.user, serial, q.form.Get("TokenCode")); e != nil {
			w.failSTS(q, e)
			return
		}
		mfa = true
	}
	s := w.issue(&session{
		kind: kindSessionToken, account: who.user.Account, principal: who.user.ARN(), arn: who.user.ARN(),
		userID: who.userID(), user: who.user, mfa: mfa,
	}, d)
	w.replySTS(q, "GetSessionToken", struct {
		XMLName     xml.Name `xml:"GetSessionTokenResult"`
		Credentials xmlCredentials
	}{Credentials: credentialsXML(s)})
}

// durationParam reads DurationSeconds: def when absent, 900..max.
func durationParam(q *request, def, max int) (int, *apiError) {
	d, present, ok := intParam(q.form, "DurationSeconds")
	switch {
	case !ok:
		return 0, errValidation(fmt.Sprintf("Value (%s) for parameter DurationSeconds is invalid. Must be an integer.", q.form.Get("DurationSeconds")))
	case !present:
		return def, nil
	case d < 900:
		return 0, errConstraint(d, "durationSeconds", "must have value greater than or equal to 900")
	case d > max:
		return 0, errConstraint(d, "durationSeconds", fmt.Sprintf("must have value less than or equal to %d", max))
	}
	return d, nil
}

// verifyMFA checks a SerialNumber/TokenCode pair against u's device.
func (w *World) verifyMFA(u *User, serial, code string) *apiError {
	if code == "" {
		return errAccessDenied("MultiFactorAuthentication failed with invalid MFA one time pass code. ")
	}
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		return errConstraint(code, "tokenCode", "must satisfy regular expression pattern: [\\d]* and have length 6")
	}
	unable := errAccessDenied("MultiFactorAuthentication failed, unable to validate MFA code. Please verify your MFA serial number is valid and associated with this user.")
	invalid := errAccessDenied("MultiFactorAuthentication failed with invalid MFA one time pass code. ")
	if u == nil {
		return unable
	}
	switch w.checkMFA(u, serial, code) {
	case mfaBadSerial:
		return unable
	case mfaBadCode:
		return invalid
	case mfaReplayed:
		w.mu.Lock()
		r := w.mfaReplay
		w.mu.Unlock()
		if r == ReplayUnableToValidate {
			return unable
		}
		return invalid
	}
	return nil
}

// issue completes s with fresh credentials valid for d seconds (or the
// world's cap) and stores it.
func (w *World) issue(s *session, d int) *session {
	s.accessKeyID, s.secret, s.token = newCredentials()
	life := time.Duration(d) * time.Second
	if c := w.opts.SessionDurationCap; c > 0 && c < life {
		life = c
	}
	if c := w.opts.RoleSessionCap; c > 0 && c < life && s.kind != kindSessionToken {
		life = c
	}
	s.expiration = w.Now().Add(life).UTC().Truncate(time.Second)
	w.mu.Lock()
	w.sessions[s.accessKeyID] = s
	w.mu.Unlock()
	return s
}
