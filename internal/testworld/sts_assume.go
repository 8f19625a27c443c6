package testworld

import (
	"encoding/xml"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

var (
	sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]*$`)
	tagKeyRE      = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
)

const chainLimit = 3600

func (w *World) assumeRole(q *request, who caller) {
	f := q.form
	roleARN, name, srcID := f.Get("RoleArn"), f.Get("RoleSessionName"), f.Get("SourceIdentity")
	tags, transitive := q.call.Tags, q.call.TransitiveTagKeys
	if e := validateAssumeRole(q, roleARN, name, srcID); e != nil {
		w.failSTS(q, e)
		return
	}
	d, e := durationParam(q, 3600, 43200)
	if e != nil {
		w.failSTS(q, e)
		return
	}
	notAuthorized := func(action string) {
		w.failSTS(q, errAccessDenied(fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s", who.arn(), action, roleARN)))
	}
	w.mu.Lock()
	role := w.roles[roleARN]
	w.mu.Unlock()
	if role == nil || !role.trusts(who.principal()) {
		notAuthorized("sts:AssumeRole")
		return
	}
	mfa := who.sess != nil && who.sess.mfa
	if f.Get("SerialNumber") != "" || f.Get("TokenCode") != "" {
		if e := w.verifyMFA(who.user, f.Get("SerialNumber"), f.Get("TokenCode")); e != nil {
			w.failSTS(q, e)
			return
		}
		mfa = true
	}
	if role.RequireMFA && !mfa {
		notAuthorized("sts:AssumeRole")
		return
	}
	switch {
	case who.temporary() && d > chainLimit:
		w.failSTS(q, errValidation("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."))
		return
	case d > int(role.maxDuration().Seconds()):
		w.failSTS(q, errValidation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role."))
		return
	}

	inherited := map[string]string{}
	if who.sess != nil {
		if srcID != "" && who.sess.sourceIdentity != "" && srcID != who.sess.sourceIdentity {
			w.failSTS(q, errAccessDenied(fmt.Sprintf("User: %s is not authorized to perform: sts:SetSourceIdentity on resource: %s because the session's source identity %s cannot be changed", who.arn(), roleARN, who.sess.sourceIdentity)))
			return
		}
		if srcID == "" {
			srcID = who.sess.sourceIdentity
		}
		for k, v := range who.sess.transitive {
			inherited[k] = v
		}
	}
	if srcID != "" && role.DenySourceIdentity {
		notAuthorized("sts:SetSourceIdentity")
		return
	}
	if (len(tags) > 0 || len(inherited) > 0) && role.DenyTagSession {
		notAuthorized("sts:TagSession")
		return
	}
	for k := range tags {
		for ik := range inherited {
			if strings.EqualFold(k, ik) {
				w.failSTS(q, errValidation(fmt.Sprintf("Session tag key %s conflicts with a transitive tag inherited from the calling session. Tag keys are case insensitive.", k)))
				return
			}
		}
	}
	for _, k := range transitive {
		inherited[k] = tags[k]
	}
	packed := 0
	if len(tags) > 0 || f.Get("Policy") != "" {
		n := len(f.Get("Policy"))
		for k, v := range tags {
			n += len(k) + len(v)
		}
		packed = (n*100 + 2047) / 2048
		if packed > 100 {
			w.failSTS(q, &apiError{Status: 400, Code: "PackedPolicyTooLarge", Message: fmt.Sprintf("Packed policy consumes %d%% of allotted space, please use smaller policy.", packed)})
			return
		}
	}
	r := *role
	s := w.issue(&session{
		kind: kindAssumedRole, account: r.account(), principal: r.ARN,
		arn:    "arn:aws:sts::" + r.account() + ":assumed-role/" + r.name() + "/" + name,
		userID: stableID("AROA", r.ARN) + ":" + name, user: who.user, mfa: mfa,
		chained: who.temporary(), sourceIdentity: srcID, transitive: inherited,
	}, d)
	type assumedRoleUser struct {
		AssumedRoleId string
		Arn           string
	}
	w.replySTS(q, "AssumeRole", struct {
		XMLName          xml.Name `xml:"AssumeRoleResult"`
		SourceIdentity   string   `xml:",omitempty"`
		AssumedRoleUser  assumedRoleUser
		Credentials      xmlCredentials
		PackedPolicySize int `xml:",omitempty"`
	}{SourceIdentity: srcID, AssumedRoleUser: assumedRoleUser{AssumedRoleId: s.userID, Arn: s.arn}, Credentials: credentialsXML(s), PackedPolicySize: packed})
}

// validateAssumeRole applies STS's parameter constraints, which come before
// any authorization decision.
func validateAssumeRole(q *request, roleARN, name, srcID string) *apiError {
	switch {
	case roleARN == "":
		return errConstraint(nil, "roleArn", "must not be null")
	case len(roleARN) < 20 || len(roleARN) > 2048:
		return errConstraint(roleARN, "roleArn", "must have length between 20 and 2048")
	case name == "" && !q.form.Has("RoleSessionName"):
		return errConstraint(nil, "roleSessionName", "must not be null")
	case len(name) < 2:
		return errConstraint(name, "roleSessionName", "must have length greater than or equal to 2")
	case len(name) > 64:
		return errConstraint(name, "roleSessionName", "must have length less than or equal to 64")
	case !sessionNameRE.MatchString(name):
		return errConstraint(name, "roleSessionName", `must satisfy regular expression pattern: [\w+=,.@-]*`)
	}
	if q.form.Has("SourceIdentity") {
		switch {
		case len(srcID) < 2:
			return errConstraint(srcID, "sourceIdentity", "must have length greater than or equal to 2")
		case len(srcID) > 64:
			return errConstraint(srcID, "sourceIdentity", "must have length less than or equal to 64")
		case !sessionNameRE.MatchString(srcID): // also rejects the reserved "aws:" prefix
			return errConstraint(srcID, "sourceIdentity", `must satisfy regular expression pattern: [\w+=,.@-]*`)
		}
	}
	return validateTags(q)
}

func validateTags(q *request) *apiError {
	keys := formKeys(q.form)
	if len(keys) > 50 {
		return errConstraint(nil, "tags", "must have length less than or equal to 50")
	}
	seen := map[string]bool{}
	for i, k := range keys {
		v := q.call.Tags[k]
		field := "tags." + strconv.Itoa(i+1) + ".member."
		switch {
		case len(k) < 1 || len(k) > 128:
			return errConstraint(k, field+"key", "must have length between 1 and 128")
		case !tagKeyRE.MatchString(k):
			return errConstraint(k, field+"key", `must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]+`)
		case len(v) > 256:
			return errConstraint(v, field+"value", "must have length less than or equal to 256")
		case !tagKeyRE.MatchString(v):
			return errConstraint(v, field+"value", `must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]*`)
		case seen[strings.ToLower(k)]:
			return errValidation("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
		}
		seen[strings.ToLower(k)] = true
	}
	tk := q.call.TransitiveTagKeys
	if len(tk) > 50 {
		return errConstraint(nil, "transitiveTagKeys", "must have length less than or equal to 50")
	}
	for _, k := range tk {
		if _, ok := q.call.Tags[k]; !ok {
			return errValidation(fmt.Sprintf("Transitive tag key %s is not among the session tags of this request.", k))
		}
	}
	return nil
}

// formKeys returns the Tags.member.N.Key values in N order.
func formKeys(f url.Values) []string {
	type kv struct {
		n int
		k string
	}
	var out []kv
	for p, v := range f {
		rest, ok := strings.CutPrefix(p, "Tags.member.")
		if !ok {
			continue
		}
		ns, field, _ := strings.Cut(rest, ".")
		n, err := strconv.Atoi(ns)
		if err == nil && field == "Key" {
			out = append(out, kv{n, v[0]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].n < out[j].n })
	keys := make([]string, len(out))
	for i, e := range out {
		keys[i] = e.k
	}
	return keys
}

// formTags returns the Tags.member.N.Key/Value pairs, nil if none.
func formTags(f url.Values) map[string]string {
	var m map[string]string
	for _, k := range formKeys(f) {
		if m == nil {
			m = map[string]string{}
		}
		m[k] = ""
	}
	for p, v := range f {
		rest, ok := strings.CutPrefix(p, "Tags.member.")
		if !ok {
			continue
		}
		ns, field, _ := strings.Cut(rest, ".")
		if field == "Value" {
			if k := f.Get("Tags.member." + ns + ".Key"); k != "" {
				m[k] = v[0]
			}
		}
	}
	return m
}

// formList returns prefix1, prefix2, … values in order, nil if none.
func formList(f url.Values, prefix string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := f[prefix+strconv.Itoa(i)]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}
