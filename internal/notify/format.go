package notify

import (
	"strconv"
	"strings"
	"time"
)

// payload is the structured event, with the audit record's field names.
func payload(ev Event) map[string]any {
	m := map[string]any{
		"source": "bg-agent",
		"time":   ev.Time.UTC().Format(time.RFC3339Nano),
		"result": ev.Result,
		"text":   Text(ev),
	}
	for k, v := range map[string]string{"os_user": ev.OSUser, "host": ev.Host, "profile": ev.Profile, "bg_user": ev.BGUser,
		"cert": ev.Cert, "cert_serial": ev.CertSerial, "trust_anchor": ev.TrustAnchor, "ra_region": ev.RARegion,
		"region": ev.Region, "source_identity": ev.SourceIdentity, "reason": ev.Reason, "ticket": ev.Ticket,
		"error": ev.Error, "audit_hash": ev.AuditHash} {
		if v != "" {
			m[k] = v
		}
	}
	if len(ev.Roles) > 0 {
		m["roles"] = ev.Roles
	}
	if len(ev.ApprovedBy) > 0 {
		m["approved_by"] = ev.ApprovedBy
	}
	if ev.SelfApproved {
		m["self_approved"] = true
	}
	if !ev.Expires.IsZero() {
		m["expires"] = ev.Expires.UTC().Format(time.RFC3339)
	}
	if ev.AuditSeq > 0 {
		m["audit_seq"] = ev.AuditSeq
	}
	return m
}

// Text is the one-paragraph human summary (Slack's "text").
func Text(ev Event) string {
	var b strings.Builder
	if ev.Result == "failed" {
		b.WriteString(":rotating_light: break-glass attempt FAILED")
	} else {
		b.WriteString(":rotating_light: break-glass credentials " + orDash(ev.Result))
	}
	b.WriteString(" for profile " + orDash(ev.Profile))
	b.WriteString(" by " + orDash(ev.Who()))
	if ev.Who() != ev.BGUser {
		b.WriteString(" (certificate " + orDash(ev.CertSerial) + ", trust anchor " + orDash(ev.TrustAnchor) + ")")
	}
	if ev.OSUser != "" || ev.Host != "" {
		b.WriteString(" (" + orDash(ev.OSUser) + " on " + orDash(ev.Host) + ")")
	}
	if len(ev.Roles) > 0 {
		b.WriteString(" → " + ev.Roles[len(ev.Roles)-1])
	}
	if ev.Region != "" {
		b.WriteString(" via " + ev.Region)
	}
	if ev.Reason != "" {
		b.WriteString("; reason: " + ev.Reason)
	}
	if ev.Ticket != "" {
		b.WriteString("; ticket: " + ev.Ticket)
	}
	if len(ev.ApprovedBy) > 0 {
		b.WriteString("; approved by " + strings.Join(ev.ApprovedBy, ", "))
	}
	if ev.SelfApproved {
		b.WriteString("; SELF-APPROVED: no approver answered")
	}
	if ev.Error != "" {
		b.WriteString("; error: " + ev.Error)
	}
	if !ev.Expires.IsZero() {
		b.WriteString("; valid until " + ev.Expires.UTC().Format(time.RFC3339))
	}
	if ev.AuditSeq > 0 {
		b.WriteString("; audit record " + strconv.FormatUint(ev.AuditSeq, 10) + " " + short(ev.AuditHash))
	}
	return b.String()
}

// Subject is SNS's subject: printable ASCII, at most 100 characters.
func Subject(ev Event) string {
	s := "bg-agent: break-glass "
	if ev.SelfApproved {
		s = "bg-agent: SELF-APPROVED break-glass "
	}
	s += orDash(ev.Result) + ": " + orDash(ev.Profile) + " by " + orDash(ev.Who())
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			r = '?'
		}
		b.WriteRune(r)
	}
	s = b.String()
	if len(s) > 100 {
		s = s[:97] + "..."
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
