package testworld

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
)

const region = "ap-northeast-1"

// TestChain walks the break-glass path: GetSessionToken with MFA, the
// operator role, a workload role, and asks who it is.
func TestChain(t *testing.T) {
	w := startWorld(t, Options{})
	user := stsClient(t, w, region, alice())
	gst, err := user.GetSessionToken(bg, &sts.GetSessionTokenInput{
		SerialNumber: aws.String(DemoAliceMFASerial), TokenCode: aws.String(code(t, w, DemoAliceMFASerial)), DurationSeconds: aws.Int32(3600)})
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Until(*gst.Credentials.Expiration); got < 59*time.Minute || got > 61*time.Minute {
		t.Errorf("GetSessionToken expiration in %v, want 1h", got)
	}
	op, err := stsClient(t, w, region, credsOf(gst.Credentials)).AssumeRole(bg, &sts.AssumeRoleInput{
		RoleArn: aws.String(DemoOperatorRole), RoleSessionName: aws.String("alice-bg"), SourceIdentity: aws.String("alice"),
		Tags:              []types.Tag{{Key: aws.String("Incident"), Value: aws.String("INC-42")}, {Key: aws.String("Reason"), Value: aws.String("us-east-1 down")}},
		TransitiveTagKeys: []string{"Incident"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := *op.AssumedRoleUser.Arn, "arn:aws:sts::111111111111:assumed-role/BreakGlassOperator/alice-bg"; got != want {
		t.Errorf("operator ARN %q, want %q", got, want)
	}
	if !strings.HasPrefix(*op.AssumedRoleUser.AssumedRoleId, "AROA") || !strings.HasSuffix(*op.AssumedRoleUser.AssumedRoleId, ":alice-bg") {
		t.Errorf("AssumedRoleId %q", *op.AssumedRoleUser.AssumedRoleId)
	}
	packed := op.PackedPolicySize //lint:ignore SA1019 STS still answers PackedPolicySize, so the fake does too
	if aws.ToString(op.SourceIdentity) != "alice" || aws.ToInt32(packed) < 1 {
		t.Errorf("SourceIdentity %q PackedPolicySize %d", aws.ToString(op.SourceIdentity), aws.ToInt32(packed))
	}
	if !strings.HasPrefix(*op.Credentials.AccessKeyId, "ASIA") {
		t.Errorf("access key %q is not temporary", *op.Credentials.AccessKeyId)
	}
	ops := DemoRoleARN(DemoWorkloadAccount, "EmergencyOps")
	wl, err := stsClient(t, w, "us-west-2", credsOf(op.Credentials)).AssumeRole(bg, &sts.AssumeRoleInput{
		RoleArn: aws.String(ops), RoleSessionName: aws.String("alice-bg")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(wl.SourceIdentity) != "alice" {
		t.Errorf("source identity not inherited: %q", aws.ToString(wl.SourceIdentity))
	}
	id, err := stsClient(t, w, region, credsOf(wl.Credentials)).GetCallerIdentity(bg, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := *id.Arn, "arn:aws:sts::222222222222:assumed-role/EmergencyOps/alice-bg"; got != want {
		t.Errorf("caller ARN %q, want %q", got, want)
	}
	if *id.Account != DemoWorkloadAccount || !strings.HasSuffix(*id.UserId, ":alice-bg") {
		t.Errorf("account %q user id %q", *id.Account, *id.UserId)
	}
	info, ok := w.Session(*wl.Credentials.AccessKeyId)
	if !ok || !info.MFA || !info.Chained || info.SourceIdentity != "alice" || info.TransitiveTags["Incident"] != "INC-42" || len(info.TransitiveTags) != 1 {
		t.Errorf("workload session %+v", info)
	}
	uid, err := user.GetCallerIdentity(bg, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if *uid.Arn != "arn:aws:iam::111111111111:user/alice-bg" || !strings.HasPrefix(*uid.UserId, "AIDA") {
		t.Errorf("user identity %q %q", *uid.Arn, *uid.UserId)
	}
}

// TestFirstHopLong: AssumeRole with MFA straight from the user key is not
// chaining, so it may exceed one hour up to the role's maximum.
func TestFirstHopLong(t *testing.T) {
	w := startWorld(t, Options{})
	out, err := stsClient(t, w, region, alice()).AssumeRole(bg, &sts.AssumeRoleInput{
		RoleArn: aws.String(DemoOperatorRole), RoleSessionName: aws.String("alice-bg"), DurationSeconds: aws.Int32(8 * 3600),
		SerialNumber: aws.String(DemoAliceMFASerial), TokenCode: aws.String(code(t, w, DemoAliceMFASerial))})
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Until(*out.Credentials.Expiration); got < 479*time.Minute {
		t.Errorf("expiration in %v, want 8h", got)
	}
	if info, _ := w.Session(*out.Credentials.AccessKeyId); !info.MFA || info.Chained {
		t.Errorf("session %+v, want MFA and not chained", info)
	}
}

func TestSessionDurationCap(t *testing.T) {
	w := startWorld(t, Options{SessionDurationCap: 2 * time.Minute})
	out, err := stsClient(t, w, region, alice()).GetSessionToken(bg, &sts.GetSessionTokenInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Until(*out.Credentials.Expiration); got > 2*time.Minute || got < 110*time.Second {
		t.Errorf("capped expiration in %v, want 2m", got)
	}
}

// stsCase is one request that must fail with an exact STS error.
type stsCase struct {
	name   string
	opts   Options
	call   func(t *testing.T, w *World) error
	code   string
	msg    string // exact, or a regexp when it starts with ^
	status int
}

func TestSTSErrors(t *testing.T) {
	opsRole := DemoRoleARN(DemoWorkloadAccount, "EmergencyOps")
	notAuth := func(caller, role string) string {
		return "User: " + caller + " is not authorized to perform: sts:AssumeRole on resource: " + role
	}
	const badCode = "MultiFactorAuthentication failed with invalid MFA one time pass code. "
	const badSerial = "MultiFactorAuthentication failed, unable to validate MFA code. Please verify your MFA serial number is valid and associated with this user."
	const aliceARN = "arn:aws:iam::111111111111:user/alice-bg"
	assume := func(creds aws.Credentials, in *sts.AssumeRoleInput) func(*testing.T, *World) error {
		return func(t *testing.T, w *World) error {
			_, err := stsClient(t, w, region, creds).AssumeRole(bg, in)
			return err
		}
	}
	asAlice := func(in *sts.AssumeRoleInput) func(*testing.T, *World) error { return assume(alice(), in) }
	// viaOperator assumes the operator role with MFA (and optional extras), then runs in as that session.
	viaOperator := func(first func(*sts.AssumeRoleInput), in *sts.AssumeRoleInput) func(*testing.T, *World) error {
		return func(t *testing.T, w *World) error {
			op := &sts.AssumeRoleInput{RoleArn: aws.String(DemoOperatorRole), RoleSessionName: aws.String("alice-bg"),
				SerialNumber: aws.String(DemoAliceMFASerial), TokenCode: aws.String(code(t, w, DemoAliceMFASerial))}
			if first != nil {
				first(op)
			}
			out, err := stsClient(t, w, region, alice()).AssumeRole(bg, op)
			if err != nil {
				t.Fatalf("operator hop: %v", err)
			}
			return assume(credsOf(out.Credentials), in)(t, w)
		}
	}
	gst := func(in *sts.GetSessionTokenInput) func(*testing.T, *World) error {
		return func(t *testing.T, w *World) error {
			_, err := stsClient(t, w, region, alice()).GetSessionToken(bg, in)
			return err
		}
	}
	tags := func(n int) []types.Tag {
		var out []types.Tag
		for i := range n {
			out = append(out, types.Tag{Key: aws.String("k" + strings.Repeat("x", i)), Value: aws.String("v")})
		}
		return out
	}
	cases := []stsCase{
		{name: "unknown key", call: func(t *testing.T, w *World) error {
			_, err := stsClient(t, w, region, aws.Credentials{AccessKeyID: "AKIAUNKNOWN000000000", SecretAccessKey: "x"}).GetCallerIdentity(bg, nil)
			return err
		}, code: "InvalidClientTokenId", msg: "The security token included in the request is invalid.", status: 403},
		{name: "wrong secret", call: func(t *testing.T, w *World) error {
			_, err := stsClient(t, w, region, aws.Credentials{AccessKeyID: DemoAliceAccessKeyID, SecretAccessKey: "wrong"}).GetCallerIdentity(bg, nil)
			return err
		}, code: "SignatureDoesNotMatch", msg: "^The request signature we calculated does not match", status: 403},
		{name: "temporary key without its token", call: func(t *testing.T, w *World) error {
			out, err := stsClient(t, w, region, alice()).GetSessionToken(bg, nil)
			if err != nil {
				t.Fatal(err)
			}
			c := credsOf(out.Credentials)
			c.SessionToken = "forged"
			_, err = stsClient(t, w, region, c).GetCallerIdentity(bg, nil)
			return err
		}, code: "InvalidClientTokenId", msg: "The security token included in the request is invalid.", status: 403},
		{name: "expired session", opts: Options{SessionDurationCap: time.Second}, call: func(t *testing.T, w *World) error {
			out, err := stsClient(t, w, region, alice()).GetSessionToken(bg, nil)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Until(*out.Credentials.Expiration) + 10*time.Millisecond)
			_, err = stsClient(t, w, region, credsOf(out.Credentials)).GetCallerIdentity(bg, nil)
			return err
		}, code: "ExpiredToken", msg: "The security token included in the request is expired", status: 403},
		{name: "wrong region scope", call: func(t *testing.T, w *World) error {
			_, err := stsClient(t, w, "us-west-2", alice(), func(o *sts.Options) {
				o.BaseEndpoint = aws.String("https://sts." + region + ".amazonaws.com")
			}).GetCallerIdentity(bg, nil)
			return err
		}, code: "SignatureDoesNotMatch", msg: "Credential should be scoped to a valid region. ", status: 403},
		{name: "global endpoint wants us-east-1 scope", call: func(t *testing.T, w *World) error {
			_, err := stsClient(t, w, region, alice(), func(o *sts.Options) {
				o.BaseEndpoint = aws.String("https://sts.amazonaws.com")
			}).GetCallerIdentity(bg, nil)
			return err
		}, code: "SignatureDoesNotMatch", msg: "Credential should be scoped to a valid region. ", status: 403},
		{name: "client clock behind", call: func(t *testing.T, w *World) error {
			w.SetClockOffset(20 * time.Minute)
			_, err := stsClient(t, w, region, alice()).GetCallerIdentity(bg, nil)
			return err
		}, code: "SignatureDoesNotMatch", msg: `^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 5 min\.\)$`, status: 403},
		{name: "client clock ahead", call: func(t *testing.T, w *World) error {
			w.SetClockOffset(-20 * time.Minute)
			_, err := stsClient(t, w, region, alice()).GetCallerIdentity(bg, nil)
			return err
		}, code: "SignatureDoesNotMatch", msg: `^Signature not yet current: \d{8}T\d{6}Z is still later than \d{8}T\d{6}Z \(\d{8}T\d{6}Z \+ 5 min\.\)$`, status: 403},
		{name: "GetSessionToken with session credentials", call: func(t *testing.T, w *World) error {
			out, err := stsClient(t, w, region, alice()).GetSessionToken(bg, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = stsClient(t, w, region, credsOf(out.Credentials)).GetSessionToken(bg, nil)
			return err
		}, code: "AccessDenied", msg: "Cannot call GetSessionToken with session credentials", status: 403},
		{name: "GetSessionToken too short", call: gst(&sts.GetSessionTokenInput{DurationSeconds: aws.Int32(899)}),
			code: "ValidationError", msg: "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900", status: 400},
		{name: "GetSessionToken too long", call: gst(&sts.GetSessionTokenInput{DurationSeconds: aws.Int32(129601)}),
			code: "ValidationError", msg: "1 validation error detected: Value '129601' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 129600", status: 400},
		{name: "MFA serial of another user", call: func(t *testing.T, w *World) error {
			return gst(&sts.GetSessionTokenInput{SerialNumber: aws.String(DemoBobMFASerial), TokenCode: aws.String(code(t, w, DemoBobMFASerial))})(t, w)
		}, code: "AccessDenied", msg: badSerial, status: 403},
		{name: "wrong MFA code", call: func(t *testing.T, w *World) error {
			c := code(t, w, DemoAliceMFASerial)
			wrong := []byte(c)
			wrong[0] = '0' + (wrong[0]-'0'+5)%10
			return gst(&sts.GetSessionTokenInput{SerialNumber: aws.String(DemoAliceMFASerial), TokenCode: aws.String(string(wrong))})(t, w)
		}, code: "AccessDenied", msg: badCode, status: 403},
		{name: "stale MFA code", call: func(t *testing.T, w *World) error {
			old, _ := w.TOTP(DemoAliceMFASerial, w.Now().Add(-2*time.Minute))
			return gst(&sts.GetSessionTokenInput{SerialNumber: aws.String(DemoAliceMFASerial), TokenCode: aws.String(old)})(t, w)
		}, code: "AccessDenied", msg: badCode, status: 403},
		{name: "reused MFA code", call: func(t *testing.T, w *World) error {
			in := &sts.GetSessionTokenInput{SerialNumber: aws.String(DemoAliceMFASerial), TokenCode: aws.String(code(t, w, DemoAliceMFASerial))}
			if err := gst(in)(t, w); err != nil {
				t.Fatalf("first use: %v", err)
			}
			return gst(in)(t, w)
		}, code: "AccessDenied", msg: badCode, status: 403},
		{name: "reused MFA code answered as unable to validate", call: func(t *testing.T, w *World) error {
			w.SetMFAReplay(ReplayUnableToValidate)
			in := &sts.GetSessionTokenInput{SerialNumber: aws.String(DemoAliceMFASerial), TokenCode: aws.String(code(t, w, DemoAliceMFASerial))}
			if err := gst(in)(t, w); err != nil {
				t.Fatalf("first use: %v", err)
			}
			// A wrong code is still a wrong code.
			wrong := []byte(*in.TokenCode)
			wrong[0] = '0' + (wrong[0]-'0'+5)%10
			if _, msg, _ := apiErr(t, gst(&sts.GetSessionTokenInput{SerialNumber: in.SerialNumber, TokenCode: aws.String(string(wrong))})(t, w)); msg != badCode {
				t.Fatalf("wrong code: %q", msg)
			}
			return gst(in)(t, w)
		}, code: "AccessDenied", msg: badSerial, status: 403},
		{name: "reused MFA code across actions", call: func(t *testing.T, w *World) error {
			c := code(t, w, DemoAliceMFASerial)
			if err := gst(&sts.GetSessionTokenInput{SerialNumber: aws.String(DemoAliceMFASerial), TokenCode: aws.String(c)})(t, w); err != nil {
				t.Fatalf("first use: %v", err)
			}
			return asAlice(&sts.AssumeRoleInput{RoleArn: aws.String(DemoOperatorRole), RoleSessionName: aws.String("s1"), SerialNumber: aws.String(DemoAliceMFASerial), TokenCode: aws.String(c)})(t, w)
		}, code: "AccessDenied", msg: badCode, status: 403},
		{name: "role does not trust caller", call: asAlice(&sts.AssumeRoleInput{RoleArn: aws.String(opsRole), RoleSessionName: aws.String("s1")}),
			code: "AccessDenied", msg: notAuth(aliceARN, opsRole), status: 403},
		{name: "role does not exist", call: asAlice(&sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::111111111111:role/Nope"), RoleSessionName: aws.String("s1")}),
			code: "AccessDenied", msg: notAuth(aliceARN, "arn:aws:iam::111111111111:role/Nope"), status: 403},
		{name: "MFA required", call: asAlice(&sts.AssumeRoleInput{RoleArn: aws.String(DemoOperatorRole), RoleSessionName: aws.String("s1")}),
			code: "AccessDenied", msg: notAuth(aliceARN, DemoOperatorRole), status: 403},
		{name: "MFA required, session without MFA", call: func(t *testing.T, w *World) error {
			out, err := stsClient(t, w, region, alice()).GetSessionToken(bg, nil)
			if err != nil {
				t.Fatal(err)
			}
			return assume(credsOf(out.Credentials), &sts.AssumeRoleInput{RoleArn: aws.String(DemoOperatorRole), RoleSessionName: aws.String("s1")})(t, w)
		}, code: "AccessDenied", msg: notAuth(aliceARN, DemoOperatorRole), status: 403},
		{name: "chained hop over 1h", call: viaOperator(nil, &sts.AssumeRoleInput{RoleArn: aws.String(opsRole), RoleSessionName: aws.String("s1"), DurationSeconds: aws.Int32(3601)}),
			code: "ValidationError", msg: "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.", status: 400},
		{name: "GetSessionToken credentials count as chaining", call: func(t *testing.T, w *World) error {
			out, err := stsClient(t, w, region, alice()).GetSessionToken(bg, &sts.GetSessionTokenInput{SerialNumber: aws.String(DemoAliceMFASerial), TokenCode: aws.String(code(t, w, DemoAliceMFASerial))})
			if err != nil {
				t.Fatal(err)
			}
			return assume(credsOf(out.Credentials), &sts.AssumeRoleInput{RoleArn: aws.String(DemoOperatorRole), RoleSessionName: aws.String("s1"), DurationSeconds: aws.Int32(7200)})(t, w)
		}, code: "ValidationError", msg: "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.", status: 400},
		{name: "over MaxSessionDuration", call: func(t *testing.T, w *World) error {
			w.AddRole(Role{ARN: "arn:aws:iam::111111111111:role/Short", Trust: []string{aliceARN}})
			return asAlice(&sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::111111111111:role/Short"), RoleSessionName: aws.String("s1"), DurationSeconds: aws.Int32(7200)})(t, w)
		}, code: "ValidationError", msg: "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.", status: 400},
		{name: "session name too short", call: asAlice(&sts.AssumeRoleInput{RoleArn: aws.String(DemoOperatorRole), RoleSessionName: aws.String("a")}),
			code: "ValidationError", msg: "1 validation error detected: Value 'a' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2", status: 400},
		{name: "session name bad characters", call: asAlice(&sts.AssumeRoleInput{RoleArn: aws.String(DemoOperatorRole), RoleSessionName: aws.String("alice bg!")}),
			code: "ValidationError", msg: `1 validation error detected: Value 'alice bg!' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*`, status: 400},
		{name: "source identity with aws: prefix", call: asAlice(&sts.AssumeRoleInput{RoleArn: aws.String(DemoOperatorRole), RoleSessionName: aws.String("s1"), SourceIdentity: aws.String("aws:alice")}),
			code: "ValidationError", msg: `1 validation error detected: Value 'aws:alice' at 'sourceIdentity' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*`, status: 400},
		{name: "source identity too long", call: asAlice(&sts.AssumeRoleInput{RoleArn: aws.String(DemoOperatorRole), RoleSessionName: aws.String("s1"), SourceIdentity: aws.String(strings.Repeat("a", 65))}),
			code: "ValidationError", msg: "^1 validation error detected: Value 'a+' at 'sourceIdentity'", status: 400},
		{name: "role denies SetSourceIdentity", call: func(t *testing.T, w *World) error {
			w.AddRole(Role{ARN: "arn:aws:iam::111111111111:role/NoSrc", Trust: []string{aliceARN}, DenySourceIdentity: true})
			return asAlice(&sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::111111111111:role/NoSrc"), RoleSessionName: aws.String("s1"), SourceIdentity: aws.String("alice")})(t, w)
		}, code: "AccessDenied", msg: "User: " + aliceARN + " is not authorized to perform: sts:SetSourceIdentity on resource: arn:aws:iam::111111111111:role/NoSrc", status: 403},
		{name: "source identity cannot change", call: viaOperator(func(in *sts.AssumeRoleInput) { in.SourceIdentity = aws.String("alice") },
			&sts.AssumeRoleInput{RoleArn: aws.String(opsRole), RoleSessionName: aws.String("s1"), SourceIdentity: aws.String("mallory")}),
			code: "AccessDenied", msg: "^User: arn:aws:sts::111111111111:assumed-role/BreakGlassOperator/alice-bg is not authorized to perform: sts:SetSourceIdentity on resource: " + regexp.QuoteMeta(opsRole), status: 403},
		{name: "inherited source identity needs SetSourceIdentity", call: func(t *testing.T, w *World) error {
			w.AddRole(Role{ARN: "arn:aws:iam::222222222222:role/NoSrc", Trust: []string{DemoOperatorRole}, DenySourceIdentity: true})
			return viaOperator(func(in *sts.AssumeRoleInput) { in.SourceIdentity = aws.String("alice") },
				&sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::222222222222:role/NoSrc"), RoleSessionName: aws.String("s1")})(t, w)
		}, code: "AccessDenied", msg: "^User: .* is not authorized to perform: sts:SetSourceIdentity", status: 403},
		{name: "51 tags", call: asAlice(&sts.AssumeRoleInput{RoleArn: aws.String(DemoOperatorRole), RoleSessionName: aws.String("s1"), Tags: tags(51)}),
			code: "ValidationError", msg: "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50", status: 400},
		{name: "tag key too long", call: asAlice(&sts.AssumeRoleInput{RoleArn: aws.String(DemoOperatorRole), RoleSessionName: aws.String("s1"), Tags: []types.Tag{{Key: aws.String(strings.Repeat("k", 129)), Value: aws.String("v")}}}),
			code: "ValidationError", msg: "^1 validation error detected: Value 'k+' at 'tags.1.member.key' failed to satisfy constraint: Member must have length between 1 and 128$", status: 400},
		{name: "tag value too long", call: asAlice(&sts.AssumeRoleInput{RoleArn: aws.String(DemoOperatorRole), RoleSessionName: aws.String("s1"), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String(strings.Repeat("v", 257))}}}),
			code: "ValidationError", msg: "^1 validation error detected: Value 'v+' at 'tags.1.member.value' failed to satisfy constraint: Member must have length less than or equal to 256$", status: 400},
		{name: "duplicate tag keys", call: asAlice(&sts.AssumeRoleInput{RoleArn: aws.String(DemoOperatorRole), RoleSessionName: aws.String("s1"), Tags: []types.Tag{{Key: aws.String("K"), Value: aws.String("1")}, {Key: aws.String("k"), Value: aws.String("2")}}}),
			code: "ValidationError", msg: "Duplicate tag keys found. Please note that Tag keys are case insensitive.", status: 400},
		{name: "role denies TagSession", call: func(t *testing.T, w *World) error {
			w.AddRole(Role{ARN: "arn:aws:iam::111111111111:role/NoTags", Trust: []string{aliceARN}, DenyTagSession: true})
			return asAlice(&sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::111111111111:role/NoTags"), RoleSessionName: aws.String("s1"), Tags: tags(1)})(t, w)
		}, code: "AccessDenied", msg: "User: " + aliceARN + " is not authorized to perform: sts:TagSession on resource: arn:aws:iam::111111111111:role/NoTags", status: 403},
		{name: "re-passing an inherited transitive tag", call: viaOperator(func(in *sts.AssumeRoleInput) {
			in.Tags = []types.Tag{{Key: aws.String("Incident"), Value: aws.String("INC-1")}}
			in.TransitiveTagKeys = []string{"Incident"}
		}, &sts.AssumeRoleInput{RoleArn: aws.String(opsRole), RoleSessionName: aws.String("s1"), Tags: []types.Tag{{Key: aws.String("incident"), Value: aws.String("INC-2")}}}),
			code: "ValidationError", msg: "^Session tag key incident conflicts with a transitive tag", status: 400},
		{name: "transitive key not among tags", call: asAlice(&sts.AssumeRoleInput{RoleArn: aws.String(DemoOperatorRole), RoleSessionName: aws.String("s1"), Tags: tags(1), TransitiveTagKeys: []string{"Other"}}),
			code: "ValidationError", msg: "^Transitive tag key Other", status: 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := startWorld(t, tc.opts)
			err := tc.call(t, w)
			if err == nil {
				t.Fatalf("succeeded, want %s", tc.code)
			}
			code, msg, status := apiErr(t, err)
			if code != tc.code || status != tc.status {
				t.Errorf("got %s (HTTP %d) %q, want %s (HTTP %d)", code, status, msg, tc.code, tc.status)
			}
			if strings.HasPrefix(tc.msg, "^") {
				if !regexp.MustCompile(tc.msg).MatchString(msg) {
					t.Errorf("message %q does not match %s", msg, tc.msg)
				}
			} else if msg != tc.msg {
				t.Errorf("message %q, want %q", msg, tc.msg)
			}
			calls := w.Calls()
			if last := calls[len(calls)-1]; last.ErrorCode != tc.code || last.HTTPStatus != tc.status {
				t.Errorf("last call logged as %s/%d, want %s/%d", last.ErrorCode, last.HTTPStatus, tc.code, tc.status)
			}
		})
	}
}

// TestDateHeader: responses carry the world's clock, the only way a client
// can tell the user that its own clock is off.
func TestDateHeader(t *testing.T) {
	w := startWorld(t, Options{})
	w.SetClockOffset(20 * time.Minute)
	resp, err := httpClient(t, w, 5*time.Second).Post("https://sts."+region+".amazonaws.com/", "application/x-www-form-urlencoded", strings.NewReader("Action=GetCallerIdentity&Version=2011-06-15"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		t.Fatal(err)
	}
	if d := date.Sub(w.Now()); d < -2*time.Second || d > 2*time.Second {
		t.Errorf("Date %v is %v from the world clock", date, d)
	}
	if resp.StatusCode != 403 || resp.Header.Get("x-amzn-RequestId") == "" {
		t.Errorf("unsigned request: HTTP %d, request id %q", resp.StatusCode, resp.Header.Get("x-amzn-RequestId"))
	}
	if c := w.Calls()[0]; c.ErrorCode != "MissingAuthenticationToken" || c.Action != "GetCallerIdentity" {
		t.Errorf("call %+v", c)
	}
}

// TestSignatureNotYetCurrent: a client whose clock runs ahead gets AWS's
// own words, with its request time, AWS's time plus 5 min, and AWS's time
// (as real STS answers: "Signature not yet current: X is still later than
// Y (Z + 5 min.)"), so a client can tell "ahead" from "behind".
func TestSignatureNotYetCurrent(t *testing.T) {
	w := startWorld(t, Options{})
	w.SetClockOffset(-10 * time.Minute)
	sent := time.Now().UTC()
	_, err := stsClient(t, w, region, alice()).GetCallerIdentity(bg, nil)
	code, msg, status := apiErr(t, err)
	if code != "SignatureDoesNotMatch" || status != 403 {
		t.Fatalf("got %s (HTTP %d) %q", code, status, msg)
	}
	m := regexp.MustCompile(`^Signature not yet current: (\d{8}T\d{6}Z) is still later than (\d{8}T\d{6}Z) \((\d{8}T\d{6}Z) \+ 5 min\.\)$`).FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("message %q", msg)
	}
	var ts [3]time.Time
	for i := range ts {
		ts[i], _ = time.Parse("20060102T150405Z", m[i+1])
	}
	if d := ts[0].Sub(sent); d < -time.Second || d > 2*time.Second {
		t.Errorf("request time %s, sent at %s", m[1], sent.Format(time.RFC3339))
	}
	if d := ts[1].Sub(ts[2]); d != 5*time.Minute {
		t.Errorf("%s is not %s + 5 min", m[2], m[3])
	}
	if d := ts[0].Sub(ts[2]); d < 10*time.Minute-time.Second || d > 10*time.Minute+2*time.Second {
		t.Errorf("AWS's time %s is not 10 min behind the request's %s", m[3], m[1])
	}
}
