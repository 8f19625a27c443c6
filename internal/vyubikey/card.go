package vyubikey

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// ATR is the answer-to-reset of a real YubiKey 5 over USB. It advertises
// T=1, which piv-go insists on, and ykman reads byte 1 (0xFD) as "USB".
var ATR = []byte{
	0x3B, 0xFD, 0x13, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x15, 0x80, 0x73, 0xC0,
	0x21, 0xC0, 0x57, 0x59, 0x75, 0x62, 0x69, 0x4B, 0x65, 0x79, 0x40,
}

// Firmware is DefaultProfile's version, which a card reports unless made
// with another Profile: 5.4.3 has F7 metadata (piv-go's policy lookup),
// AES management keys and OATH RENAME.
var Firmware = DefaultProfile.Firmware

// Application identifiers, in full; a SELECT may name a prefix.
var (
	aidPIV        = []byte{0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00}
	aidOATH       = []byte{0xA0, 0x00, 0x00, 0x05, 0x27, 0x21, 0x01, 0x01}
	aidManagement = []byte{0xA0, 0x00, 0x00, 0x05, 0x27, 0x47, 0x11, 0x17}
)

type applet int

const (
	appletNone applet = iota
	appletPIV
	appletOATH
	appletManagement
)

// session is what a real key forgets on power loss or reset: the selected
// applet, PIN and management-key authentication, chaining buffers.
type session struct {
	applet  applet
	chain   *command // command chaining in progress (CLA 10)
	pending []byte   // response bytes not yet fetched with GET RESPONSE
	pendSW  uint16
	piv     pivSession
	oath    oathSession
}

// Card is one virtual YubiKey. All methods are safe for concurrent use.
type Card struct {
	mu   sync.Mutex // guards st, path, sess
	st   *state
	path string
	sess session

	serial uint32 // st.Serial, fixed for the card's life
	rand   io.Reader
	touch  *toucher
	link   link
}

// New returns a factory-fresh card with the given serial, kept in memory.
func New(serial uint32) (*Card, error) { return NewProfile(serial, DefaultProfile) }

// NewProfile returns a factory-fresh card of the given model.
func NewProfile(serial uint32, p Profile) (*Card, error) {
	st, err := newState(serial, p, rand.Reader)
	if err != nil {
		return nil, err
	}
	return newCard(st, ""), nil
}

// Load returns the card persisted at path.
func Load(path string) (*Card, error) {
	st, err := readState(path)
	if err != nil {
		return nil, err
	}
	return newCard(st, path), nil
}

// LoadOrCreate loads the card at path, or creates a factory-fresh one
// with serial there if the file does not exist.
func LoadOrCreate(path string, serial uint32) (*Card, error) {
	return LoadOrCreateProfile(path, serial, DefaultProfile)
}

// LoadOrCreateProfile is LoadOrCreate for a new card of model p; an
// existing file keeps its own profile.
func LoadOrCreateProfile(path string, serial uint32, p Profile) (*Card, error) {
	c, err := Load(path)
	if !errors.Is(err, os.ErrNotExist) {
		return c, err
	}
	st, err := newState(serial, p, rand.Reader)
	if err != nil {
		return nil, err
	}
	if err := writeState(path, st); err != nil {
		return nil, err
	}
	return newCard(st, path), nil
}

func newCard(st *state, path string) *Card {
	c := &Card{st: st, serial: st.Serial, path: path, rand: rand.Reader, touch: newToucher(TouchPolicy{})}
	c.link.init()
	return c
}

func newState(serial uint32, p Profile, r io.Reader) (*state, error) {
	p = p.orDefault()
	st := &state{Format: stateFormat, Serial: serial, Firmware: p.Firmware, PIVDisabled: p.PIVDisabled}
	st.PIV = factoryPIV()
	st.PIV.MgmtAlg = p.factoryMgmtAlg()
	if err := newAttestation(&st.PIV, serial, p, r); err != nil {
		return nil, fmt.Errorf("creating attestation ca: %w", err)
	}
	salt := make([]byte, 8)
	if _, err := io.ReadFull(r, salt); err != nil {
		return nil, err
	}
	st.OATH = oathState{Salt: salt}
	return st, nil
}

// Serial is the card's serial number. It never changes, so it is read
// without c.mu, which an operation waiting for a touch holds.
func (c *Card) Serial() uint32 { return c.serial }

// Path is the state file, or "" for an in-memory card.
func (c *Card) Path() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.path
}

// SetTouch changes the simulated user, also for an operation waiting now.
func (c *Card) SetTouch(p TouchPolicy) { c.touch.set(p) }

// TouchPolicy returns the current simulated user.
func (c *Card) TouchPolicy() TouchPolicy { return c.touch.get() }

// Touch presses the button once, satisfying the operations waiting now.
func (c *Card) Touch() { c.touch.press() }

// TouchPending reports whether an operation is waiting for a touch, the
// moment a real key blinks.
func (c *Card) TouchPending() bool { return c.touch.pending() }

// PowerCycle forgets the volatile state, as removing power does.
func (c *Card) PowerCycle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sess = session{}
}

// Transmit sends one command APDU and returns the response APDU including
// the status word. It is the card's only entry point: vpcd traffic comes
// through here too. It may block while the card waits for a touch.
func (c *Card) Transmit(apdu []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.transmitLocked(apdu).bytes()
}

func (c *Card) transmitLocked(apdu []byte) response {
	cmd, err := parseCommand(apdu)
	if err != nil {
		c.sess.chain, c.sess.pending = nil, nil
		return status(swWrongLength)
	}
	if (cmd.ins == 0xC0 || cmd.ins == 0xA5) && c.sess.pending != nil {
		return c.nextChunk()
	}
	c.sess.pending = nil
	if cmd.cla&^0x10 != 0 {
		c.sess.chain = nil
		return status(swClaNotSupported)
	}
	if prev := c.sess.chain; prev != nil {
		c.sess.chain = nil
		if prev.ins == cmd.ins && prev.p1 == cmd.p1 && prev.p2 == cmd.p2 {
			if len(prev.data)+len(cmd.data) > maxCommandData {
				return status(swWrongLength)
			}
			cmd.data = append(prev.data, cmd.data...)
		}
	}
	if cmd.chained() {
		if len(cmd.data) > maxCommandData { // one extended piece can be 64 KiB
			return status(swWrongLength)
		}
		cmd.data = bytes.Clone(cmd.data)
		c.sess.chain = &cmd
		return status(swOK)
	}
	return c.chunk(c.dispatch(cmd))
}

// chunk sends a long response in pieces; the client fetches the rest with
// GET RESPONSE (C0) or, in OATH, SEND REMAINING (A5).
func (c *Card) chunk(r response) response {
	if len(r.data) <= maxResponseChunk {
		return r
	}
	c.sess.pending, c.sess.pendSW = r.data, r.sw
	return c.nextChunk()
}

func (c *Card) nextChunk() response {
	data := c.sess.pending
	if len(data) <= maxResponseChunk {
		c.sess.pending = nil
		return response{data: data, sw: c.sess.pendSW}
	}
	c.sess.pending = data[maxResponseChunk:]
	left := min(len(c.sess.pending), 0x100) & 0xFF // 6100 means 256 or more
	return response{data: data[:maxResponseChunk], sw: 0x6100 | uint16(left)}
}

func (c *Card) dispatch(cmd command) response {
	// A4 is SELECT, except in OATH where A4 with P1 00 is CALCULATE ALL.
	if cmd.ins == 0xA4 && (cmd.p1 == 0x04 || c.sess.applet != appletOATH) {
		return c.selectApplet(cmd)
	}
	switch c.sess.applet {
	case appletPIV:
		return c.piv(cmd)
	case appletOATH:
		return c.oath(cmd)
	case appletManagement:
		return c.management(cmd)
	}
	return status(swInsNotSupported)
}

func (c *Card) selectApplet(cmd command) response {
	if cmd.p1 != 0x04 {
		return status(swIncorrectP1P2)
	}
	aid := cmd.data
	match := func(full []byte) bool { return len(aid) >= 5 && bytes.HasPrefix(full, aid) }
	var next applet
	switch {
	case match(aidPIV) && c.st.PIVDisabled:
		// A disabled interface is invisible, as if the applet were absent.
		return status(swFileNotFound)
	case match(aidPIV):
		next = appletPIV
	case match(aidOATH):
		next = appletOATH
	case match(aidManagement):
		next = appletManagement
	default:
		return status(swFileNotFound)
	}
	if next != c.sess.applet {
		// Leaving an applet drops its authentication, as on a real key.
		c.sess = session{applet: next}
	}
	switch next {
	case appletPIV:
		return c.pivSelect()
	case appletOATH:
		return c.oathSelect()
	}
	return c.managementSelect()
}

// save persists the state; callers hold c.mu. A card without a file keeps
// its state in memory only.
func (c *Card) save() error {
	if c.path == "" {
		return nil
	}
	return writeState(c.path, c.st)
}

// saved answers r after persisting, or 6F00 if the state cannot be written
// (a real key's flash failure is as loud).
func (c *Card) saved(r response) response {
	if err := c.save(); err != nil {
		return status(0x6F00)
	}
	return r
}
