package testworld

import (
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
)

func TestCallLog(t *testing.T) {
	w := startWorld(t, Options{})
	totp := code(t, w, DemoAliceMFASerial)
	before := w.Now()
	out, err := stsClient(t, w, "ap-northeast-3", alice()).AssumeRole(bg, &sts.AssumeRoleInput{
		RoleArn: aws.String(DemoOperatorRole), RoleSessionName: aws.String("alice-bg"), DurationSeconds: aws.Int32(900),
		SerialNumber: aws.String(DemoAliceMFASerial), TokenCode: aws.String(totp), SourceIdentity: aws.String("alice"),
		Tags:              []types.Tag{{Key: aws.String("Incident"), Value: aws.String("INC-7")}, {Key: aws.String("Reason"), Value: aws.String("drill")}},
		TransitiveTagKeys: []string{"Incident"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stsClient(t, w, "ap-northeast-3", credsOf(out.Credentials)).GetCallerIdentity(bg, nil); err != nil {
		t.Fatal(err)
	}
	calls := w.Calls()
	if len(calls) != 2 {
		t.Fatalf("%d calls, want 2", len(calls))
	}
	got := calls[0]
	if got.Time.Before(before.Add(-time.Second)) || got.Time.After(w.Now()) {
		t.Errorf("call time %v not around %v", got.Time, before)
	}
	got.Time = time.Time{}
	want := Call{
		Host: "sts.ap-northeast-3.amazonaws.com", Region: "ap-northeast-3", Service: "sts", Action: "AssumeRole",
		AccessKeyID: DemoAliceAccessKeyID, Caller: "arn:aws:iam::111111111111:user/alice-bg", RoleArn: DemoOperatorRole,
		SerialNumber: DemoAliceMFASerial, TokenCode: totp, DurationSeconds: 900, RoleSessionName: "alice-bg", SourceIdentity: "alice",
		Tags: map[string]string{"Incident": "INC-7", "Reason": "drill"}, TransitiveTagKeys: []string{"Incident"}, HTTPStatus: 200,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("AssumeRole call\n got %+v\nwant %+v", got, want)
	}
	if c := calls[1]; c.Action != "GetCallerIdentity" || c.AccessKeyID != *out.Credentials.AccessKeyId || c.Caller != *out.AssumedRoleUser.Arn {
		t.Errorf("GetCallerIdentity call %+v", c)
	}
	w.ResetCalls()
	if n := len(w.Calls()); n != 0 {
		t.Errorf("%d calls after ResetCalls", n)
	}
}
