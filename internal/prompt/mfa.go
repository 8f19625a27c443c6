package prompt

import (
	"context"
	"errors"
	"fmt"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/mfa"
)

// MFA is bg_mfa = prompt through a Driver (used for desktop dialogs; the
// terminal case is mfa.Prompt): it asks for the code, again when the
// answer is not 6 digits, up to three times.
type MFA struct {
	Driver Driver
}

const mfaTries = 3

func (m *MFA) Code(ctx context.Context, req mfa.Request) (string, error) {
	text := fmt.Sprintf("MFA code for %s (profile %s)", req.Serial, req.Profile)
	if req.Retry {
		text = "AWS rejected that code; enter the NEXT code for " + req.Serial
	}
	q := Question{Title: "bg-agent: MFA code", Text: text}
	var err error
	for range mfaTries {
		var code string
		code, err = m.Driver.Ask(ctx, q)
		if err != nil {
			break
		}
		if mfa.ValidCode(code) {
			return code, nil
		}
		q.Text = "An MFA code is 6 digits. " + text
		err = fmt.Errorf("no valid code after %d tries", mfaTries)
	}
	if ctx.Err() != nil {
		return "", bgerr.Wrap(bgerr.KindCanceled, ctx.Err(), "gave up waiting for the MFA code")
	}
	if errors.Is(err, ErrUnavailable) {
		return "", bgerr.Wrap(bgerr.KindMFA, err,
			fmt.Sprintf("no terminal or desktop dialog to ask for the MFA code of profile %s", req.Profile),
			"run the command from a terminal, or set bg_mfa = command with bg_mfa_command (or bg_mfa = yubikey)")
	}
	return "", bgerr.Wrap(bgerr.KindMFA, err,
		fmt.Sprintf("no MFA code entered for profile %s", req.Profile),
		"enter the 6-digit code your MFA device shows for "+req.Serial)
}
