package testworld

import (
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
)

// TestAdminRolesAnywhere sets a trust anchor, a profile and a role up over
// the admin API, as scripts do, and gets a session with them.
func TestAdminRolesAnywhere(t *testing.T) {
	w := startWorld(t, Options{})
	ca := newRACA(t, "Admin Root")
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}))
	anchor := "arn:aws:rolesanywhere:eu-west-1:" + raAccount + ":trust-anchor/adm"
	profile := "arn:aws:rolesanywhere:eu-west-1:" + raAccount + ":profile/adm"
	role := DemoRoleARN(raAccount, "AdminRA")
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	for _, s := range []struct {
		path, body string
		status     int
	}{
		{"/trust-anchors", js(AdminTrustAnchor{ARN: anchor, Region: "eu-west-1", CertPEM: caPEM}), 204},
		{"/trust-anchors", js(AdminTrustAnchor{ARN: anchor, Region: "eu-west-1", CertPEM: "not pem"}), 400},
		{"/trust-anchors", js(AdminTrustAnchor{ARN: anchor, Region: "eu-west-2", CertPEM: caPEM}), 400},
		{"/ra-profiles", js(RAProfile{ARN: profile, Region: "eu-west-1", RoleARNs: []string{role}, DurationSeconds: 900, Enabled: true}), 204},
		{"/ra-profiles", `{"ARN":"` + profile + `","Region":"eu-west-1","Roles":[]}`, 400},
		{"/roles", js(AdminRole{ARN: role, Trust: []string{RolesAnywherePrincipal}}), 204},
	} {
		if status, body := admin(t, w, "POST", s.path, s.body); status != s.status {
			t.Fatalf("POST %s %s: %d %q, want %d", s.path, s.body, status, body, s.status)
		}
	}
	leaf, key := ca.leaf(t, leafOpts{CN: "scripted", Alg: "rsa"})
	r := createSession(t, w, raCall{Region: "eu-west-1", Leaf: leaf, Key: key,
		Body: map[string]any{"profileArn": profile, "roleArn": role, "trustAnchorArn": anchor}})
	if r.Status != 201 || !strings.HasSuffix(r.Out.CredentialSet[0].AssumedRoleUser.Arn, "/AdminRA/"+leaf.SerialNumber.Text(16)) {
		t.Fatalf("CreateSession: %d %s %q %+v", r.Status, r.ErrorType, r.Message, r.Out)
	}
}
