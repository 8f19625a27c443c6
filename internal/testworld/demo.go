package testworld

import "time"

// The demo world: an emergency-access account with two break-glass users
// and an operator role, and two workload accounts with RO and Ops roles
// that trust it. Every key and seed below is public, for the test world
// and the README demo only.
const (
	DemoEmergencyAccount = "111111111111"
	DemoWorkloadAccount  = "222222222222"
	DemoWorkloadAccount2 = "333333333333"

	DemoAliceAccessKeyID = "AKIADEMOALICEBG00001"
	DemoAliceSecret      = "DemoAliceBgNotASecret/000000000000000000"
	DemoAliceMFASerial   = "arn:aws:iam::111111111111:mfa/alice-bg"
	DemoAliceTOTPSeed    = "ALICEBGDEMOTOTPSEEDNOTASECRET234"

	DemoBobAccessKeyID = "AKIADEMOBOBBG0000001"
	DemoBobSecret      = "DemoBobBgNotASecret/00000000000000000000"
	DemoBobMFASerial   = "arn:aws:iam::111111111111:mfa/bob-bg"
	DemoBobTOTPSeed    = "BOBBGDEMOTOTPSEEDNOTASECRET23456"

	DemoOperatorRole = "arn:aws:iam::111111111111:role/BreakGlassOperator"
	// DemoRolesAnywhereRole is the key-less way in (issue 15): the role a
	// Roles Anywhere profile lets an operator's certificate assume. The
	// demo registers the trust anchor and profile itself, since their CA
	// is made on the demo's machine.
	DemoRolesAnywhereRole = "arn:aws:iam::111111111111:role/BreakGlassRolesAnywhere"
)

// DemoRoleARN is the ARN of a workload role, e.g.
// DemoRoleARN(DemoWorkloadAccount, "EmergencyOps").
func DemoRoleARN(account, name string) string { return "arn:aws:iam::" + account + ":role/" + name }

// DemoUsers are alice-bg and bob-bg, each with a virtual MFA device.
func DemoUsers() []User {
	return []User{
		{Account: DemoEmergencyAccount, Name: "alice-bg", AccessKeyID: DemoAliceAccessKeyID, SecretAccessKey: DemoAliceSecret, MFASerial: DemoAliceMFASerial, TOTPSecret: DemoAliceTOTPSeed},
		{Account: DemoEmergencyAccount, Name: "bob-bg", AccessKeyID: DemoBobAccessKeyID, SecretAccessKey: DemoBobSecret, MFASerial: DemoBobMFASerial, TOTPSecret: DemoBobTOTPSeed},
	}
}

// DemoRoles are the operator role (MFA required, 12 h so a first hop straight
// from a user key can carry a long console session), the Roles Anywhere
// role (trusting the service) and the workload roles, which trust both.
func DemoRoles() []Role {
	users := DemoUsers()
	roles := []Role{{
		ARN:                DemoOperatorRole,
		Trust:              []string{users[0].ARN(), users[1].ARN()},
		RequireMFA:         true,
		MaxSessionDuration: 12 * time.Hour,
	}, {
		ARN:                DemoRolesAnywhereRole,
		Trust:              []string{RolesAnywherePrincipal},
		MaxSessionDuration: 12 * time.Hour,
	}}
	for _, acct := range []string{DemoWorkloadAccount, DemoWorkloadAccount2} {
		for _, name := range []string{"EmergencyRO", "EmergencyOps"} {
			roles = append(roles, Role{ARN: DemoRoleARN(acct, name), Trust: []string{DemoOperatorRole, DemoRolesAnywhereRole}})
		}
	}
	return roles
}

// Demo seeds w with DemoUsers and DemoRoles.
func Demo(w *World) error {
	for _, u := range DemoUsers() {
		if err := w.AddUser(u); err != nil {
			return err
		}
	}
	for _, r := range DemoRoles() {
		if err := w.AddRole(r); err != nil {
			return err
		}
	}
	return nil
}
