package yubikey

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/mfa"
)

// MFA is the mfa.Source for bg_mfa = yubikey: the TOTP code comes from the
// OATH applet of the operator's YubiKey (touch to confirm when the account
// asks for it), over PC/SC, never through ykman.
type MFA struct {
	OATH *OATH
	// Serial is bg_yubikey_serial; 0 uses the only YubiKey plugged in.
	Serial uint32
	// Account is bg_oath_account; "" tries OATHAccountNames.
	Account string
}

// OATHAccountNames are the OATH credential names tried for an MFA device
// when bg_oath_account is not set, in order: the device ARN itself (the
// name aws-vault and `ykman oath accounts add NAME` users give it), then
// "Amazon Web Services:NAME@ACCOUNT", the name Yubico Authenticator gives
// an account scanned from the AWS console's QR code, with NAME the IAM
// user and then the device name.
func OATHAccountNames(serial, user string) []string {
	names := []string{serial}
	// arn:PARTITION:iam::ACCOUNT:mfa/[PATH/]DEVICE
	parts := strings.SplitN(serial, ":", 6)
	if len(parts) == 6 && parts[0] == "arn" && parts[2] == "iam" && strings.HasPrefix(parts[5], "mfa/") {
		account := parts[4]
		device := parts[5][strings.LastIndex(parts[5], "/")+1:]
		for _, n := range []string{user, device} {
			name := "Amazon Web Services:" + n + "@" + account
			if n != "" && !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	return names
}

func (y *MFA) Code(ctx context.Context, req mfa.Request) (string, error) {
	names := []string{y.Account}
	if y.Account == "" {
		names = OATHAccountNames(req.Serial, req.User)
	}
	c, err := y.OATH.Code(ctx, CodeRequest{
		Serial:  y.Serial,
		Names:   names,
		For:     req.Serial,
		Purpose: "get the MFA code for profile " + req.Profile,
	})
	if errors.Is(err, ErrNotFound) {
		looked := `"` + strings.Join(names, `", "`) + `"`
		return "", bgerr.Wrap(bgerr.KindMFA, err, err.Error(),
			fmt.Sprintf("set bg_oath_account = NAME in profile %s to the account's name (bg-agent looked for %s)", req.Profile, looked))
	}
	if err != nil {
		return "", err
	}
	if c.Digits != 6 || !mfa.ValidCode(c.Value) {
		return "", bgerr.New(bgerr.KindMFA,
			fmt.Sprintf("OATH account %q on YubiKey %d gives %d-digit codes; AWS needs 6", c.Name, c.Serial, c.Digits),
			"add the account again with 6 digits: ykman oath accounts add --digits 6 …")
	}
	return c.Value, nil
}
