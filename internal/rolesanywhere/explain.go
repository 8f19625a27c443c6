package rolesanywhere

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/chain"
)

// maxSkew is how far AWS lets X-Amz-Date stray from its clock, as for STS.
const maxSkew = 5 * time.Minute

// trustPolicy is what a role must say to be reachable from Roles Anywhere
// (trust-model.html).
const trustPolicy = `{"Effect":"Allow","Principal":{"Service":"rolesanywhere.amazonaws.com"},` +
	`"Action":["sts:AssumeRole","sts:TagSession","sts:SetSourceIdentity"]}`

// explain turns a classified failure into the one-line error the operator
// sees, naming the fix. AWS's words for each refusal are not documented,
// so the cause is read from its error code and message loosely, and AWS's
// own words end the line whatever the reading.
func (o *Options) explain(f *chain.Failure, region string, now time.Time) error {
	prof := "profile " + o.ProfileName
	var be *bgerr.Error
	switch {
	case f.Kind == bgerr.KindAllRegions:
		return chain.AllRegionsError(f, "Roles Anywhere", "bg_regions of "+prof)
	case f.Kind == bgerr.KindCanceled:
		return bgerr.Wrap(bgerr.KindCanceled, f, "canceled during CreateSession")
	case errors.As(f.Err, &be):
		return be
	}
	anchor, profile := o.TrustAnchor(region), o.Profile(region)
	aws := f.Code + ": " + f.Message
	if f.Code == "" {
		aws = f.Message
	}
	aws = strings.Join(strings.Fields(aws), " ")
	m := strings.ToLower(f.Message)
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(m, w) {
				return true
			}
		}
		return false
	}
	switch {
	case f.Status == 400 || f.Status == 403:
		if msg, ok := skewed(f, now); ok || has("signature expired", "not yet current", "clock skew", "request date", "x-amz-date") {
			if !ok {
				msg = "AWS refused the request's date: this machine's clock is more than 5 minutes off AWS's"
			}
			return bgerr.Wrap(bgerr.KindClockSkew, f, msg+" ("+aws+")", "set the clock right (enable NTP)")
		}
	}
	switch {
	case has("expired", "not yet valid", "validity") && has("cert"):
		return bgerr.Wrap(bgerr.KindAuth, f,
			fmt.Sprintf("Roles Anywhere refused the certificate of %s (%s, valid %s to %s) as out of date (%s)",
				prof, certName(o.Cert), day(o.Cert.NotBefore), day(o.Cert.NotAfter), aws),
			"have the CA sign a new certificate for the card's key (bg-agent kit ca sign), then import it (bg-agent yubikey import-cert); check this machine's clock too")
	case has("untrusted", "not trusted", "unknown ca", "trust chain", "chain of trust") || (has("trust anchor") && has("chain", "issuer", " ca")):
		return bgerr.Wrap(bgerr.KindAuth, f,
			fmt.Sprintf("Roles Anywhere does not trust the CA that issued the certificate of %s (issuer %s) in trust anchor %s (%s)",
				prof, o.Cert.Issuer.String(), anchor, aws),
			"add the issuing CA to that trust anchor, or set "+keyAnchor+" of "+prof+" to the anchor that holds it; intermediates go in the certificate chain")
	case has("disabled"):
		return bgerr.Wrap(bgerr.KindConfig, f,
			fmt.Sprintf("Roles Anywhere in %s refused CreateSession: the trust anchor or profile is disabled (%s)", region, aws),
			"enable it: aws rolesanywhere enable-trust-anchor / enable-profile, in "+region)
	case has("profile") && has("role") && !has("trust policy", "rolesanywhere.amazonaws.com"):
		return bgerr.Wrap(bgerr.KindAuth, f,
			fmt.Sprintf("Roles Anywhere profile %s does not list role %s (%s)", profile, o.Role, aws),
			"add the role to that profile's roles (aws rolesanywhere update-profile --role-arns …), or fix "+keyRole+" of "+prof)
	case has("rolesanywhere.amazonaws.com", "trust policy", "sts:assumerole", "sts:tagsession", "sts:setsourceidentity"):
		return bgerr.Wrap(bgerr.KindAuth, f,
			fmt.Sprintf("role %s does not trust Roles Anywhere (%s)", o.Role, aws),
			"add this statement to the trust policy of "+o.Role+": "+trustPolicy)
	case has("assume role", "assumerole"):
		// Words that do not say why: the trust policy (or one of its
		// conditions on the certificate) or the profile's role list.
		return bgerr.Wrap(bgerr.KindAuth, f,
			fmt.Sprintf("Roles Anywhere could not assume role %s: its trust policy does not allow Roles Anywhere for this certificate, or profile %s does not list it (%s)",
				o.Role, profile, aws),
			"the trust policy of "+o.Role+" needs "+trustPolicy+" (and conditions this certificate meets), and the profile must list the role")
	case f.Code == "ResourceNotFoundException":
		return bgerr.Wrap(bgerr.KindConfig, f,
			fmt.Sprintf("Roles Anywhere in %s knows no trust anchor %s or profile %s (%s)", region, anchor, profile, aws),
			"check "+keyAnchor+" and "+keyProfile+" of "+prof+" for "+region)
	case f.Code == "ValidationException" || f.Code == "ValidationError":
		hint := "check bg_duration and " + keyRole + " of " + prof
		switch {
		case has("duration"):
			hint = "lower bg_duration of " + prof + " to what the Roles Anywhere profile allows (its durationSeconds, at most 12h)"
		case has("session name", "sessionname"):
			hint = "let the Roles Anywhere profile accept role session names (acceptRoleSessionName), or drop the session name of " + prof
		}
		return bgerr.Wrap(bgerr.KindConfig, f, fmt.Sprintf("Roles Anywhere refused CreateSession for %s: %s", roleName(o.Role), aws), hint)
	case has("signature"):
		return bgerr.Wrap(bgerr.KindAuth, f,
			fmt.Sprintf("Roles Anywhere refused the signature of %s's request (%s)", prof, aws),
			"the key signed, and its signature matches the certificate here: a proxy may be rewriting the request (check HTTPS_PROXY); otherwise report this")
	}
	return bgerr.Wrap(bgerr.KindAuth, f,
		fmt.Sprintf("Roles Anywhere refused CreateSession for %s in %s (%s)", roleName(o.Role), region, aws),
		"check "+keyAnchor+", "+keyProfile+" and "+keyRole+" of "+prof)
}

// skewed words the clock error when AWS's answer is dated more than
// maxSkew from now: its Date has whole seconds, cut down, so AWS's time
// was on average half a second later than it says.
func skewed(f *chain.Failure, now time.Time) (string, bool) {
	if f.Date.IsZero() {
		return "", false
	}
	skew := now.Sub(f.Date.Add(time.Second / 2)).Round(time.Second)
	dir := "ahead of"
	if skew < 0 {
		dir, skew = "behind", -skew
	}
	if skew <= maxSkew {
		return "", false
	}
	return fmt.Sprintf("this machine's clock is %s %s AWS's, so Roles Anywhere refused the request's date", skew, dir), true
}

// certExpired: the certificate is past its NotAfter by this machine's
// clock, so the request is not sent at all.
func (o *Options) certExpired(now time.Time) error {
	return bgerr.New(bgerr.KindAuth,
		fmt.Sprintf("the certificate of profile %s (%s) expired on %s", o.ProfileName, certName(o.Cert), o.Cert.NotAfter.UTC().Format(time.RFC3339)),
		"have the CA sign a new certificate for the card's key (bg-agent kit ca sign), then import it (bg-agent yubikey import-cert)")
}

// certName names cert in messages: its CN and serial (decimal, as AWS's
// credential scope and session name use it).
func certName(c *x509.Certificate) string {
	return fmt.Sprintf("CN=%s, serial %s", c.Subject.CommonName, c.SerialNumber)
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }
