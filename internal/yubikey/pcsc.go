package yubikey

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ebfe/scard"

	"github.com/bg-agent/bg-agent/internal/bgerr"
)

// cardLock serialises card work in this process: an OATH connection and a
// piv-go connection are never open at once.
var cardLock = make(chan struct{}, 1)

func acquire(ctx context.Context) (release func(), err error) {
	select {
	case cardLock <- struct{}{}:
		return func() { <-cardLock }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// onCard runs work in a goroutine that holds cardLock, so that ctx and
// the touch timeout d (default DefaultTouchTimeout) bound the wait even
// while the card blocks inside SCardTransmit. work opens the card itself
// and calls touching(serial) when the card may now wait for a touch of
// YubiKey serial: from then on d bounds the wait. serial is the YubiKey
// asked for (0: the only one), named when the caller gives up.
//
// The result comes back only through a channel. When the caller gives up
// (a touch timeout, a cancelled context) the goroutine runs on until the
// card answers, hands the result nobody reads to discard (nil: drop it),
// e.g. to clear a secret, and only then releases the card.
func onCard[T any](ctx context.Context, kind bgerr.Kind, serial uint32, d time.Duration,
	discard func(T), work func(touching func(serial uint32)) (T, error)) (T, error) {
	var zero T
	release, err := acquire(ctx)
	if err != nil {
		return zero, gaveUp(serial, err)
	}
	if d <= 0 {
		d = DefaultTouchTimeout
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result)        // unbuffered: a result is received or discarded
	touching := make(chan uint32)    // unbuffered: the timeout starts when the card waits
	abandoned := make(chan struct{}) // closed when the caller returns
	defer close(abandoned)
	go func() {
		defer release()
		v, err := work(func(s uint32) {
			select {
			case touching <- s:
			case <-abandoned:
			}
		})
		select {
		case done <- result{v, err}:
		case <-abandoned:
			if discard != nil {
				discard(v)
			}
		}
	}()
	var timeout <-chan time.Time
	touched := serial
	for {
		select {
		case r := <-done:
			return r.v, r.err
		case touched = <-touching:
			timeout = time.After(d)
		case <-timeout:
			return zero, touchTimeout(kind, touched)
		case <-ctx.Done():
			return zero, gaveUp(serial, ctx.Err())
		}
	}
}

// cardOp is what bounds one card operation and whom it tells: busy bounds
// the wait for a card that another program holds (a transaction or an
// exclusive connection, see notes/yubikey-pcsc-protocols.md, "Coexistence
// facts"), touch the wait for a touch once the card asks for one.
type cardOp struct {
	kind   bgerr.Kind
	serial uint32 // asked for (0: the only one), named when the caller gives up
	touch  time.Duration
	busy   time.Duration // default DefaultBusyTimeout
	notify *Notifier
}

// cardWaits is what work under onCardWait reports: touching(serial) when
// the card may now wait for a touch of YubiKey serial, opened() once the
// card is open (false: the caller gave up meanwhile, so work must close the
// card and stop without touching it).
type cardWaits struct {
	touching func(serial uint32)
	opened   func() bool
}

// onCardWait is onCard with a bounded, announced wait for a busy card.
// pcscd makes SCardConnect wait, server-side and without limit, while
// another handle holds a transaction, and libpcsclite retries
// BeginTransaction every 100 ms without limit (notes, "Coexistence
// facts"): the call cannot be interrupted, so the wait is bounded here,
// from the caller's side. From the start until work calls opened() (the
// in-process card lock included) a notice says after Notifier.Delay that
// another program holds the card, and after op.busy the caller gets
// ErrBusy; the goroutine then finds out at opened() that nobody waits and
// closes the card as soon as it gets it. ctx, given to work, ends at the
// busy bound for retry loops (piv-go's sharing violations) until opened.
func onCardWait[T any](ctx context.Context, op cardOp, discard func(T),
	work func(ctx context.Context, w cardWaits) (T, error)) (T, error) {
	var zero T
	if op.touch <= 0 {
		op.touch = DefaultTouchTimeout
	}
	if op.busy <= 0 {
		op.busy = DefaultBusyTimeout
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result)        // unbuffered: a result is received or discarded
	touching := make(chan uint32)    // unbuffered: the timeout starts when the card waits
	opened := make(chan struct{})    // unbuffered: the busy bound ends when the card is open
	abandoned := make(chan struct{}) // closed when the caller returns
	defer close(abandoned)
	busyCtx, cancel := context.WithTimeout(ctx, op.busy)
	defer cancel()
	go func() {
		select {
		case cardLock <- struct{}{}:
		case <-abandoned:
			return
		}
		defer func() { <-cardLock }()
		v, err := work(busyCtx, cardWaits{
			touching: func(s uint32) {
				select {
				case touching <- s:
				case <-abandoned:
				}
			},
			opened: func() bool {
				select {
				case opened <- struct{}{}:
					return true
				case <-abandoned:
					return false
				}
			},
		})
		select {
		case done <- result{v, err}:
		case <-abandoned:
			if discard != nil {
				discard(v)
			}
		}
	}()
	var timeout <-chan time.Time
	busyTimer := time.NewTimer(op.busy)
	defer busyTimer.Stop()
	noticeTimer := time.NewTimer(op.notify.delay())
	defer noticeTimer.Stop()
	busyC, noticeC := busyTimer.C, noticeTimer.C
	touched := op.serial
	for {
		select {
		case r := <-done:
			return r.v, r.err
		case <-opened:
			busyC, noticeC = nil, nil
		case <-noticeC:
			op.notify.notice("waiting for the YubiKey: in use by another program")
		case <-busyC:
			return zero, busyError(op.kind, op.serial, op.busy)
		case touched = <-touching:
			timeout = time.After(op.touch)
		case <-timeout:
			return zero, touchTimeout(op.kind, touched)
		case <-ctx.Done():
			return zero, gaveUp(op.serial, ctx.Err())
		}
	}
}

// busyError: another program kept the YubiKey serial for all of waited.
func busyError(kind bgerr.Kind, serial uint32, waited time.Duration) error {
	return bgerr.Wrap(kind, ErrBusy, fmt.Sprintf("%s was in use by another program for %s", keyName(serial), waited.Round(time.Second)),
		"close the program that holds it (gpg: gpgconf --kill scdaemon; yubikey-agent: send it SIGHUP; OpenSC: close the browser or app using it), then retry")
}

// gaveUp says that the caller stopped waiting for the YubiKey serial.
func gaveUp(serial uint32, err error) error {
	return bgerr.Wrap(bgerr.KindCanceled, err, "gave up waiting for "+keyName(serial))
}

// DefaultBusyTimeout bounds the wait for a YubiKey that another program
// holds (exclusively, or inside a transaction). Such holds are typically
// over within milliseconds; a program that keeps the card longer (gpg's
// scdaemon, OpenSC in a browser) does not let go by itself, and in an
// emergency the operator is better off told at once what to close than
// waiting on a silent terminal.
const DefaultBusyTimeout = 30 * time.Second

// busyWait is how long connect retries a sharing violation when its ctx
// has no earlier deadline.
const busyWait = DefaultBusyTimeout

// listBusyWait is how long a listing retries a key held exclusively before
// it lists the key as in use by another program.
const listBusyWait = 2 * time.Second

// IsYubiKeyReader reports whether a PC/SC reader name is a YubiKey's over
// USB. It is only a hint: over NFC a YubiKey sits in a reader named for
// the reader ("ACS ACR122U PICC Interface"), so keys are recognised by
// what the card answers (identify), and a reader's name counts only for
// a card that another program holds, which cannot be asked.
func IsYubiKeyReader(name string) bool {
	return strings.Contains(strings.ToLower(name), "yubikey")
}

// atrSaysYubiKey reports whether an answer-to-reset names a YubiKey: its
// historical bytes spell "YubiKey" over USB and, from the ATS, over NFC.
func atrSaysYubiKey(atr []byte) bool {
	return bytes.Contains(bytes.ToLower(atr), []byte("yubikey"))
}

// Info describes one plugged-in YubiKey.
type Info struct {
	Serial  uint32 // 0 when the key does not tell (firmware before 5, or Busy)
	Version [3]byte
	Reader  string
	// NoPIV is a key whose PIV interface is disabled (ykman config usb
	// --disable PIV): it serves OATH codes but cannot unseal.
	NoPIV bool
	// Busy is a key that another program holds exclusively: nothing but
	// its reader is known.
	Busy bool
}

// Note is what `yubikey list` says besides serial and firmware: "" for a
// usable key.
func (i Info) Note() string {
	switch {
	case i.Busy:
		return "in use by another program"
	case i.NoPIV:
		return "PIV disabled"
	}
	return ""
}

// VersionString is "5.4.3".
func (i Info) VersionString() string {
	return fmt.Sprintf("%d.%d.%d", i.Version[0], i.Version[1], i.Version[2])
}

// conn is a shared connection to one card, inside a transaction.
type conn struct {
	sc     *scard.Context
	card   *scard.Card
	info   Info
	closed bool
}

var (
	apduSelectMgmt = []byte{0x00, 0xA4, 0x04, 0x00, 0x08, 0xA0, 0x00, 0x00, 0x05, 0x27, 0x47, 0x11, 0x17}
	apduReadConfig = []byte{0x00, 0x1D, 0x00, 0x00, 0x00}
	apduSelectPIV  = []byte{0x00, 0xA4, 0x04, 0x00, 0x05, 0xA0, 0x00, 0x00, 0x03, 0x08}
	apduSerial     = []byte{0x00, 0xF8, 0x00, 0x00, 0x00}
	apduVersion    = []byte{0x00, 0xFD, 0x00, 0x00, 0x00}
)

// status words
const (
	swOK             = 0x9000
	swSecurityStatus = 0x6982 // locked applet, or a touch that timed out
)

// transmit sends apdu and collects a chained response: 61xx is followed
// by getMore (GET RESPONSE C0 in PIV, SEND REMAINING A5 in OATH).
func (c *conn) transmit(apdu []byte, getMore byte) ([]byte, uint16, error) {
	return transmitChain(c.card, apdu, getMore)
}

// cardIO is what transmitChain needs of a card (*scard.Card; a fake in tests).
type cardIO interface {
	Transmit(apdu []byte) ([]byte, error)
	Status() (*scard.CardStatus, error)
}

// maxResponse bounds a chained response. The largest answers are PIV
// objects (a YubiKey stores at most about 3 KB each, yubico-piv-tool's
// YKPIV_OBJ_MAX_SIZE) and an OATH list of its 32 (64 on 5.7) credentials;
// a card that goes on answering 61xx past this is broken, and without a
// bound the loop would never end.
const (
	maxResponse       = 64 << 10
	maxResponsePieces = maxResponse / 256
)

// ErrEndlessResponse: the card went on answering 61xx past maxResponse.
var ErrEndlessResponse = fmt.Errorf("the YubiKey's answer did not end (more than %d KiB, or %d pieces, of 61xx chaining)",
	maxResponse>>10, maxResponsePieces)

func transmitChain(card cardIO, apdu []byte, getMore byte) ([]byte, uint16, error) {
	var out []byte
	for pieces := 0; ; pieces++ {
		if pieces > maxResponsePieces || len(out) > maxResponse {
			return nil, 0, ErrEndlessResponse
		}
		resp, err := card.Transmit(apdu)
		if err != nil {
			return nil, 0, err
		}
		if len(resp) < 2 {
			// A card always answers a status word; pcscd passes on an
			// empty answer when the card went away mid-command.
			if _, serr := card.Status(); serr != nil {
				return nil, 0, serr
			}
			return nil, 0, fmt.Errorf("%w: empty answer", scard.ErrRemovedCard)
		}
		sw := binary.BigEndian.Uint16(resp[len(resp)-2:])
		out = append(out, resp[:len(resp)-2]...)
		if sw>>8 != 0x61 {
			return out, sw, nil
		}
		apdu = []byte{0x00, getMore, 0x00, 0x00}
		if getMore == 0xC0 {
			apdu = append(apdu, 0x00)
		}
	}
}

// close ends the transaction and disconnects, leaving the card as it is
// for other programs (never SCARD_RESET_CARD).
func (c *conn) close() {
	if c.closed {
		return
	}
	c.closed = true
	if c.card != nil {
		leave(c.card)
	}
	_ = c.sc.Release()
}

// leave ends the transaction on card and disconnects, leaving the card as
// it is (the context stays, for the next reader).
func leave(card *scard.Card) {
	_ = card.EndTransaction(scard.LeaveCard)
	_ = card.Disconnect(scard.LeaveCard)
}

// errNotYubiKey is identify's answer for a card that is not a YubiKey.
var errNotYubiKey = errors.New("not a yubikey")

// identify reads the serial, firmware and whether PIV is enabled.
func (c *conn) identify() error {
	info, err := identifyCard(func(apdu []byte) ([]byte, uint16, error) { return c.transmit(apdu, 0xC0) })
	if err != nil {
		return err
	}
	info.Reader = c.info.Reader
	c.info = info
	return nil
}

// Capability bit of PIV in the management applet's READ CONFIG.
const capPIV = 0x0010

// identifyCard asks the card who it is, through send: first the
// management applet (READ CONFIG: serial, firmware, enabled interfaces),
// which answers even with PIV disabled; then the PIV applet (Yubico's
// GET VERSION and GET SERIAL), for keys without management over CCID. A
// card that answers neither as a YubiKey does (another vendor's PIV card
// has no GET VERSION) is errNotYubiKey.
func identifyCard(send func([]byte) ([]byte, uint16, error)) (Info, error) {
	var info Info
	mgmt := false
	if _, sw, err := send(apduSelectMgmt); err != nil {
		return info, err
	} else if sw == swOK {
		b, sw, err := send(apduReadConfig)
		if err != nil {
			return info, err
		}
		if cfg, ok := parseConfig(b); sw == swOK && ok {
			mgmt = true
			if v, ok := cfg[0x02]; ok && len(v) == 4 {
				info.Serial = binary.BigEndian.Uint32(v)
			}
			if v, ok := cfg[0x05]; ok && len(v) == 3 {
				copy(info.Version[:], v)
			}
			if v, ok := cfg[0x03]; ok && len(v) == 2 { // USB enabled
				info.NoPIV = binary.BigEndian.Uint16(v)&capPIV == 0
			}
		}
	}
	_, sw, err := send(apduSelectPIV)
	if err != nil {
		return info, err
	}
	if sw != swOK {
		if !mgmt {
			return info, errNotYubiKey
		}
		info.NoPIV = true
		return info, nil
	}
	info.NoPIV = false // it answers, whatever the configuration said
	if b, sw, err := send(apduVersion); err != nil {
		return info, err
	} else if sw == swOK && len(b) == 3 {
		copy(info.Version[:], b)
	} else if !mgmt {
		return info, errNotYubiKey // a PIV card, but not Yubico's
	}
	if info.Serial == 0 {
		if b, sw, err := send(apduSerial); err != nil {
			return info, err
		} else if sw == swOK && len(b) == 4 {
			info.Serial = binary.BigEndian.Uint32(b)
		}
	}
	return info, nil
}

// parseConfig splits READ CONFIG's answer (a length byte, then one-byte
// tags with one-byte lengths) into its values.
func parseConfig(b []byte) (map[byte][]byte, bool) {
	if len(b) < 1 || int(b[0]) != len(b)-1 {
		return nil, false
	}
	out := map[byte][]byte{}
	for b = b[1:]; len(b) > 0; {
		if len(b) < 2 || len(b) < 2+int(b[1]) {
			return nil, false
		}
		out[b[0]] = b[2 : 2+int(b[1])]
		b = b[2+int(b[1]):]
	}
	return out, true
}

// connect opens reader shared with T=1 and begins a transaction, waiting
// up to busyWait while another program holds the card exclusively.
func connect(ctx context.Context, sc *scard.Context, reader string) (*scard.Card, error) {
	deadline := busyDeadline(ctx)
	for {
		card, err := sc.Connect(reader, scard.ShareShared, scard.ProtocolT1)
		if err == nil {
			if err = card.BeginTransaction(); err == nil {
				return card, nil
			}
			if wasReset(err) {
				// Another program reset the card since it was powered for
				// us: take note of the reset and start over.
				if err = card.Reconnect(scard.ShareShared, scard.ProtocolT1, scard.LeaveCard); err == nil {
					if err = card.BeginTransaction(); err == nil {
						return card, nil
					}
				}
			}
			_ = card.Disconnect(scard.LeaveCard)
		}
		if !busy(err) || time.Now().After(deadline) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// busyDeadline is when a retry loop on a sharing violation stops: busyWait
// from now, or ctx's deadline if earlier.
func busyDeadline(ctx context.Context) time.Time {
	deadline := time.Now().Add(busyWait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	return deadline
}

// readers lists every reader pcscd knows: YubiKeys are told by what
// their card answers, not by the reader's name (NFC readers).
func readers(sc *scard.Context) ([]string, error) {
	names, err := sc.ListReaders()
	if code, ok := pcscCode(err); ok && code == scard.ErrNoReadersAvailable {
		return nil, nil
	}
	return names, err
}

// heldYubiKey reports whether the card in reader, which another program
// holds so that it cannot be asked, looks like a YubiKey: by its ATR,
// which pcscd gives without connecting, or its reader's name.
func heldYubiKey(sc *scard.Context, reader string) bool {
	rs := []scard.ReaderState{{Reader: reader, CurrentState: scard.StateUnaware}}
	if err := sc.GetStatusChange(rs, 0); err == nil && atrSaysYubiKey(rs[0].Atr) {
		return true
	}
	return IsYubiKeyReader(reader)
}

// notPluggedIn explains that the wanted YubiKey (or any) is missing.
func notPluggedIn(kind bgerr.Kind, want uint32, others []uint32, busyErr error) error {
	if busyErr != nil {
		// A reader we could not look into holds a card: it may be ours.
		if e := pcscError(kind, want, busyErr); e != nil {
			return e
		}
	}
	if len(others) == 0 && noReader() {
		// Nothing at all, not even an empty reader: a plugged-in key may be
		// held by gpg's scdaemon through its own CCID driver, which pcscd
		// then never sees.
		return noReaderError(kind, want, nil)
	}
	if want == 0 {
		return bgerr.Wrap(kind, ErrNoKey, "no YubiKey is plugged in", "plug in the YubiKey and retry")
	}
	msg := fmt.Sprintf("YubiKey %d is not plugged in", want)
	if len(others) > 0 {
		msg += " (found: " + serialList(others) + ")"
	}
	return bgerr.Wrap(kind, ErrNoKey, msg, fmt.Sprintf("plug in YubiKey %d and retry", want))
}

// scdaemonHint is for a smart card service that sees no reader at all.
const scdaemonHint = "if it is plugged in, gpg's scdaemon may hold it with its own CCID driver: " +
	"add disable-ccid to ~/.gnupg/scdaemon.conf, then run: gpgconf --kill scdaemon"

// noReaderError says that the smart card service sees no reader at all.
func noReaderError(kind bgerr.Kind, want uint32, cause error) *bgerr.Error {
	err := ErrNoKey
	if cause != nil {
		err = fmt.Errorf("%w: %w", ErrNoKey, cause)
	}
	what := "no YubiKey is plugged in"
	plug := "plug in the YubiKey and retry"
	if want != 0 {
		what, plug = fmt.Sprintf("YubiKey %d is not plugged in", want), fmt.Sprintf("plug in YubiKey %d and retry", want)
	}
	return bgerr.Wrap(kind, err, what+" (the smart card service sees no reader)", plug, scdaemonHint)
}

// noReader reports whether pcscd lists no reader at all, YubiKey or not.
// A variable for tests.
var noReader = func() bool {
	sc, err := scard.EstablishContext()
	if err != nil {
		return false
	}
	defer sc.Release()
	names, err := sc.ListReaders()
	if code, ok := pcscCode(err); ok && code == scard.ErrNoReadersAvailable {
		return true
	}
	return err == nil && len(names) == 0
}

func serialList(serials []uint32) string {
	s := make([]string, len(serials))
	for i, n := range serials {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}

// open connects to the YubiKey with serial want (0: the only one) and
// returns it inside a transaction. The caller holds cardLock.
func open(ctx context.Context, kind bgerr.Kind, want uint32) (*conn, error) {
	sc, err := scard.EstablishContext()
	if err != nil {
		return nil, cardError(kind, want, "connecting to the smart card service", err)
	}
	names, err := readers(sc)
	if err != nil {
		sc.Release()
		return nil, cardError(kind, want, "listing smart card readers", err)
	}
	var (
		chosen  *conn
		seen    []uint32
		busyErr error
	)
	for _, name := range names {
		card, err := connect(ctx, sc, name)
		if err != nil {
			if absent(err) {
				continue
			}
			if busy(err) {
				if heldYubiKey(sc, name) {
					busyErr = err
				}
				continue
			}
			if chosen != nil {
				chosen.close()
			}
			sc.Release()
			return nil, cardError(kind, want, "connecting to "+name, err)
		}
		c := &conn{sc: sc, card: card, info: Info{Reader: name}}
		if err := c.identify(); err != nil {
			leave(card)
			if absent(err) || errors.Is(err, errNotYubiKey) {
				continue
			}
			if chosen != nil {
				chosen.close()
			}
			sc.Release()
			return nil, cardError(kind, want, "reading the serial number", err)
		}
		seen = append(seen, c.info.Serial)
		if chosen == nil && (want == 0 || c.info.Serial == want) {
			chosen = c
			if want != 0 {
				break
			}
			continue
		}
		leave(card)
	}
	if chosen == nil {
		sc.Release()
		return nil, notPluggedIn(kind, want, seen, busyErr)
	}
	if want == 0 && len(seen) > 1 {
		chosen.close()
		return nil, several(kind, seen, "set bg_yubikey_serial in the profile to the one to use, or unplug the others")
	}
	return chosen, nil
}

// several is the error for a request that named no YubiKey while more than
// one (serials seen) is plugged in; hint says how to name one.
func several(kind bgerr.Kind, seen []uint32, hint string) error {
	slices.Sort(seen)
	return bgerr.Wrap(kind, ErrSeveral, "several YubiKeys are plugged in ("+serialList(seen)+")", hint)
}

// ListOptions bound and announce List's wait for a card that another
// program holds inside a transaction.
type ListOptions struct {
	Notify      *Notifier     // "waiting for the YubiKey: in use by another program"
	BusyTimeout time.Duration // default DefaultBusyTimeout
}

// List returns the YubiKeys plugged in, sorted by serial; one that
// another program holds exclusively is listed Busy, after the others. A
// key held inside another program's transaction cannot even be asked
// (pcscd and libpcsclite wait without limit), so the listing is bounded
// and announced as every other card operation is (onCardWait).
func List(ctx context.Context, o ListOptions) ([]Info, error) {
	return onCardWait(ctx, cardOp{kind: bgerr.KindUnknown, busy: o.BusyTimeout, notify: o.Notify}, nil,
		func(ctx context.Context, w cardWaits) ([]Info, error) {
			infos, err := list(ctx, bgerr.KindUnknown)
			w.opened()
			return infos, err
		})
}

// list is List for a caller that holds cardLock.
func list(ctx context.Context, kind bgerr.Kind) ([]Info, error) {
	sc, err := scard.EstablishContext()
	if err != nil {
		return nil, cardError(kind, 0, "connecting to the smart card service", err)
	}
	defer sc.Release()
	names, err := readers(sc)
	if err != nil {
		return nil, cardError(kind, 0, "listing smart card readers", err)
	}
	var out []Info
	for _, name := range names {
		// A key another program holds exclusively is usually let go within
		// milliseconds: a short retry, so that one held key makes neither
		// the listing nor the search for another key wait DefaultBusyTimeout.
		lctx, cancel := context.WithTimeout(ctx, listBusyWait)
		card, err := connect(lctx, sc, name)
		cancel()
		if err != nil {
			if absent(err) {
				continue
			}
			if busy(err) {
				// Held by another program: the other keys are still listed.
				if heldYubiKey(sc, name) {
					out = append(out, Info{Reader: name, Busy: true})
				}
				continue
			}
			return nil, cardError(kind, 0, "connecting to "+name, err)
		}
		c := &conn{sc: sc, card: card, info: Info{Reader: name}}
		err = c.identify()
		leave(card)
		switch {
		case err == nil:
			out = append(out, c.info)
		case absent(err) || errors.Is(err, errNotYubiKey):
		default:
			return nil, cardError(kind, 0, "reading the serial number", err)
		}
	}
	slices.SortStableFunc(out, func(a, b Info) int {
		if a.Busy != b.Busy {
			return boolInt(a.Busy) - boolInt(b.Busy)
		}
		return int(int64(a.Serial) - int64(b.Serial))
	})
	return out, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
