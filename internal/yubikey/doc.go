// Package yubikey talks to YubiKeys over PC/SC for bg-agent: TOTP codes
// from the OATH applet (OATH), and key agreement with a P-256 key in a PIV
// slot (PIV), used to unseal keystore items, or a signature by it, an
// approver's for two-person approval or an IAM Roles Anywhere request's
// (Signer), with the slot's certificate stored beside the key (cert.go).
//
// Contract:
//
//   - A card is chosen by serial; with serial 0 the only YubiKey plugged in
//     is used, and several are an error naming their serials. Readers are
//     those whose PC/SC name contains "yubikey" (any case).
//   - Within a process one card operation runs at a time, and an OATH
//     connection and a piv-go connection are never open together (the
//     former is shared, the latter exclusive; pcscd refuses one while the
//     other holds the card). OATH work runs as Connect(shared, T=1),
//     BeginTransaction, SELECT, [VALIDATE], CALCULATE, EndTransaction and
//     Disconnect, all with SCARD_LEAVE_CARD, so other programs keep the
//     card's state.
//   - A wrong PIN is never retried: one VERIFY per operation at most, the
//     tries left are shown before asking, and with one try left the PIN is
//     not sent unless the caller allows it (PIV.AllowLastTry).
//   - Operations that wait for a touch tell the operator through a
//     Notifier and are bounded: the card gives up by itself (status 6982,
//     reported as a touch timeout) and TouchTimeout bounds the wait here.
//   - Every failure is a *bgerr.Error whose message names the YubiKey by
//     serial and whose hints say what to do; the PC/SC conditions (service
//     not running, no reader, card busy, reset, removed) wrap the sentinels
//     below for errors.Is. OATH failures are bgerr.KindMFA; PIV failures
//     are bgerr.KindKeystore (the sealed secret cannot be opened, the
//     approval cannot be signed), except a bad slot name, a slot that
//     setup would overwrite or a digest that is not SHA-256's (KindUsage).
//   - After each PIV operation the PIV applet is deselected, so a PIN
//     verified for it does not stay verified on the card for others.
//   - No card is held while the operator types a PIN: the card is read,
//     released, the PIN asked, and VERIFY and the key operation run in one
//     new transaction on the same YubiKey and slot key. PIN prompts for
//     one YubiKey run one at a time across bg-agent processes (PIV.LockDir);
//     a caller that waited while a wrong PIN was entered stops unasked.
//   - A card another program holds is waited for at most BusyTimeout
//     (DefaultBusyTimeout), with a notice after Notifier.Delay.
//
// Profile keys read by the callers (cmd/bg-agent): bg_yubikey_serial picks
// the YubiKey, bg_oath_account names the OATH credential (default: the MFA
// device ARN, or "Amazon Web Services:USER@ACCOUNT" as Yubico Authenticator
// names an account scanned from the AWS console's QR code).
package yubikey
