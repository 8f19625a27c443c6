package chain

import (
	"fmt"
	"strings"
	"time"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// explain turns a classified failure into the one-line error the operator
// sees, naming the profile key or command that fixes it.
func (c *Chain) explain(p Plan, f *failure, step, caller, role string) error {
	prof := "profile " + p.Profile
	addHint := "store the right key with: bg-agent add " + p.User
	switch f.Kind {
	case bgerr.KindAllRegions:
		return AllRegionsError(f, "STS", "bg_regions of "+prof)
	case bgerr.KindCanceled:
		return bgerr.Wrap(bgerr.KindCanceled, f, "canceled during "+step)
	case bgerr.KindClockSkew:
		// AWS's words say which way the clock is off; the Date of its
		// answer says by how much.
		refused, dir := "expired", "behind"
		if strings.Contains(f.Message, "not yet current") {
			refused, dir = "not yet valid", "ahead of"
		}
		msg := fmt.Sprintf("AWS refused the request as %s: this machine's clock is more than 5 minutes %s AWS's", refused, dir)
		if !f.Date.IsZero() {
			// Date has whole seconds, cut down: AWS's time was, on
			// average, half a second later than it says.
			skew := c.now().Sub(f.Date.Add(time.Second / 2)).Round(time.Second)
			dir := "ahead of"
			if skew < 0 {
				dir, skew = "behind", -skew
			}
			msg = fmt.Sprintf("this machine's clock is %s %s AWS's, so AWS refused the request as %s", skew, dir, refused)
		}
		return bgerr.Wrap(bgerr.KindClockSkew, f, msg,
			"set the clock right (enable NTP); MFA codes depend on it too")
	case bgerr.KindMFAInvalid:
		if unvalidated(f) {
			return bgerr.Wrap(bgerr.KindMFAInvalid, f,
				fmt.Sprintf("AWS could not validate two MFA codes for %s from device %s: it is not %s's device, or its codes were used elsewhere first",
					p.User, p.MFASerial, p.User),
				"bg_mfa_serial of "+prof+" must be the ARN of "+p.User+"'s MFA device (IAM > Users > "+p.User+" > Security credentials)",
				"if it is, another tool or machine is using this device's codes: stop it, then retry")
		}
		return bgerr.Wrap(bgerr.KindMFAInvalid, f,
			fmt.Sprintf("AWS rejected two MFA codes for %s (wrong device, already used, or this machine's clock is off)", p.MFASerial),
			"check that bg_mfa_serial of "+prof+" is the device that makes the codes, and that the clock is right")
	case bgerr.KindConfig:
		hint := "check bg_duration, bg_source_identity and bg_roles of " + prof
		switch {
		case strings.Contains(f.Message, "role chaining"):
			hint = "set bg_duration of " + prof + " to 1h or less"
		case strings.Contains(f.Message, "MaxSessionDuration"):
			hint = "lower bg_duration of " + prof + ", or raise the role's MaxSessionDuration"
		case strings.Contains(strings.ToLower(f.Message), "sourceidentity"), strings.Contains(f.Message, "source identity"):
			hint = "fix bg_source_identity of " + prof
		}
		return bgerr.Wrap(bgerr.KindConfig, f, fmt.Sprintf("STS refused %s%s: %s", step, forRole(role), f.Message), hint)
	}
	// Authentication and authorisation: AWS answered and said no.
	switch {
	case f.Code == "InvalidClientTokenId" && step == "GetSessionToken":
		return bgerr.Wrap(bgerr.KindAuth, f,
			fmt.Sprintf("AWS does not recognise the access key stored for %s (InvalidClientTokenId)", p.User),
			"the key was deleted, deactivated or mistyped; "+addHint)
	case f.Code == "SignatureDoesNotMatch" && step == "GetSessionToken":
		return bgerr.Wrap(bgerr.KindAuth, f,
			fmt.Sprintf("AWS refused the signature made with the secret key stored for %s: the secret is wrong (SignatureDoesNotMatch)", p.User),
			addHint)
	case f.Code == "ExpiredToken" || f.Code == "InvalidClientTokenId" || f.Code == "SignatureDoesNotMatch":
		return bgerr.Wrap(bgerr.KindAuth, f,
			fmt.Sprintf("AWS refused the session credentials of %s during %s%s (%s)", caller, step, forRole(role), f.Code),
			"run the command again; if it repeats, check this machine's clock")
	case f.Code == "AccessDenied" && strings.Contains(f.Message, "sts:SetSourceIdentity"):
		return bgerr.Wrap(bgerr.KindAuth, f,
			fmt.Sprintf("role %s does not allow sts:SetSourceIdentity for %s", role, caller),
			"add sts:SetSourceIdentity to the trust policy of "+role)
	case f.Code == "AccessDenied" && strings.Contains(f.Message, "sts:TagSession"):
		return bgerr.Wrap(bgerr.KindAuth, f,
			fmt.Sprintf("role %s does not allow sts:TagSession for %s", role, caller),
			"add sts:TagSession to the trust policy of "+role)
	case f.Code == "AccessDenied" && step == "AssumeRole":
		return bgerr.Wrap(bgerr.KindAuth, f,
			fmt.Sprintf("role %s does not let %s assume it (AccessDenied)", role, caller),
			"fix bg_roles of "+prof+", or have the role's trust policy allow "+caller+" (with MFA if it demands it)")
	}
	msg := f.Reason
	if f.Code != "" {
		msg = f.Code + ": " + f.Message
	}
	return bgerr.Wrap(bgerr.KindAuth, f, fmt.Sprintf("%s%s failed: %s", step, forRole(role), oneLine(msg)))
}

// AllRegionsError is the one-line error for a KindAllRegions failure:
// the fix it names depends on why (an unreachable proxy, throttling, or
// dead regions, where regionsKey is the setting that lists them).
func AllRegionsError(f *Failure, service, regionsKey string) error {
	switch {
	case f.Proxy != "":
		return bgerr.Wrap(bgerr.KindAllRegions, f, f.Reason,
			"start the proxy, or correct HTTPS_PROXY (and NO_PROXY) in this shell")
	case f.AllThrottled:
		return bgerr.Wrap(bgerr.KindAllRegions, f, f.Reason,
			"wait a minute and retry; stop other tools calling "+service+" for this account (a runaway script, a drill)")
	}
	return bgerr.Wrap(bgerr.KindAllRegions, f, f.Reason,
		"check the network and HTTPS_PROXY, or add reachable regions to "+regionsKey)
}

// unvalidated reports whether AWS refused the MFA code as "unable to
// validate": a wrong MFA serial, or a code already used elsewhere.
func unvalidated(f *failure) bool {
	return f.Code == "AccessDenied" && strings.Contains(f.Message, "unable to validate MFA code")
}

func forRole(role string) string {
	if role == "" {
		return ""
	}
	return " of " + role
}
