package yubikey

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebfe/scard"
	"github.com/go-piv/piv-go/v2/piv"

	"github.com/bg-agent/bg-agent/internal/bgerr"
	"github.com/bg-agent/bg-agent/internal/vyubikey"
	"github.com/bg-agent/bg-agent/internal/vyubikey/vyubikeytest"
)

// heldPIN is a PIN prompt that waits for the test: asked is closed when
// the prompt shows, answer releases it.
type heldPIN struct {
	asked  chan struct{}
	answer chan string
	once   sync.Once
}

func newHeldPIN() *heldPIN { return &heldPIN{asked: make(chan struct{}), answer: make(chan string, 1)} }

func (h *heldPIN) prompt(PINRequest) (string, error) {
	h.once.Do(func() { close(h.asked) })
	return <-h.answer, nil
}

func (h *heldPIN) waitAsked(t *testing.T) {
	t.Helper()
	select {
	case <-h.asked:
	case <-time.After(20 * time.Second):
		t.Fatal("the PIN was never asked")
	}
}

// While bg-agent waits at the PIN prompt the card is free: another
// program connects exclusively, and ykman reads the PIV applet.
func TestPIVPromptReleasesCard(t *testing.T) {
	startCard(t, vyubikeytest.Options{Serial: 13000211})
	p := &PIV{PIN: (&pins{answers: []string{"123456"}}).prompt}
	_, sealed := sealTo(t, p, 13000211, GenerateOptions{TouchPolicy: piv.TouchPolicyNever})

	h := newHeldPIN()
	p.PIN = h.prompt
	done := make(chan error, 1)
	go func() { _, err := unseal(p, sealed); done <- err }()
	h.waitAsked(t)

	sc, err := scard.EstablishContext()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Release()
	card, err := sc.Connect(vyubikey.ReaderName, scard.ShareExclusive, scard.ProtocolAny)
	if err != nil {
		t.Fatalf("exclusive connect during the PIN prompt: %v (the prompt holds the card)", err)
	}
	card.Disconnect(scard.LeaveCard)
	if _, err := exec.LookPath("ykman"); err == nil {
		out, err := vyubikeytest.Ykman(t, "piv", "info")
		if err != nil || !strings.Contains(out, "PIV version") {
			t.Fatalf("ykman piv info during the PIN prompt: %v\n%s", err, out)
		}
	}

	h.answer <- "123456"
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("unseal after the prompt: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("unseal did not finish")
	}
	if got := retries(t, p, 13000211); got != 3 {
		t.Fatalf("%d tries left after the right PIN", got)
	}
}

// A slot key replaced while the operator types the PIN is refused, and
// the PIN is not sent to the new key.
func TestPIVSlotKeyChangedDuringPrompt(t *testing.T) {
	startCard(t, vyubikeytest.Options{Serial: 13000212})
	p := &PIV{PIN: (&pins{answers: []string{"123456"}}).prompt}
	_, sealed := sealTo(t, p, 13000212, GenerateOptions{TouchPolicy: piv.TouchPolicyNever})

	h := newHeldPIN()
	asker := &PIV{PIN: h.prompt}
	done := make(chan error, 1)
	go func() { _, err := unseal(asker, sealed); done <- err }()
	h.waitAsked(t)
	if _, err := p.Generate(context.Background(), 13000212, piv.SlotKeyManagement,
		GenerateOptions{Overwrite: true, TouchPolicy: piv.TouchPolicyNever}); err != nil {
		t.Fatalf("replacing the key during the prompt: %v", err)
	}
	h.answer <- "123456"
	err := <-done
	wantErr(t, err, bgerr.KindKeystore, ErrNotFound,
		"the key in slot 9d of YubiKey 13000212 changed while the PIN was asked; the PIN was not sent",
		"another program replaced the slot key: if that was not you, do not use this YubiKey, and run the command again")
	if got := retries(t, p, 13000212); got != 3 {
		t.Fatalf("%d tries left: the PIN was sent", got)
	}
}

// Three concurrent callers with the same wrong PIN: one prompt, one try
// spent; the two that waited stop without asking.
func TestPIVPINPromptsSerialised(t *testing.T) {
	startCard(t, vyubikeytest.Options{Serial: 13000213})
	_, sealed := sealTo(t, &PIV{PIN: (&pins{answers: []string{"123456"}}).prompt}, 13000213,
		GenerateOptions{TouchPolicy: piv.TouchPolicyNever})

	dir := t.TempDir()
	var mu sync.Mutex
	prompts := 0
	var n notices
	slow := func(PINRequest) (string, error) {
		mu.Lock()
		prompts++
		mu.Unlock()
		time.Sleep(700 * time.Millisecond) // the operator types
		return "000000", nil
	}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &PIV{PIN: slow, LockDir: dir, Notify: n.notifier(time.Hour)}
			_, errs[i] = unseal(p, sealed)
		}()
	}
	wg.Wait()
	if prompts != 1 {
		t.Fatalf("%d PIN prompts, want 1", prompts)
	}
	var wrong, stopped int
	for _, err := range errs {
		switch {
		case err != nil && err.Error() == "wrong PIN for YubiKey 13000213: 2 tries left":
			wrong++
		case err != nil && err.Error() == "a wrong PIN was entered for YubiKey 13000213 while this request waited (2 tries left); the PIN was not asked again":
			stopped++
			wantErr(t, err, bgerr.KindKeystore, ErrWrongPIN, err.Error(), "run the command again to enter the PIN (bg-agent never retries a PIN by itself)")
		default:
			t.Errorf("unexpected result %v", err)
		}
	}
	if wrong != 1 || stopped != 2 {
		t.Fatalf("%d wrong-PIN errors, %d stopped, want 1 and 2", wrong, stopped)
	}
	if got := retries(t, &PIV{}, 13000213); got != 2 {
		t.Fatalf("%d tries left, want 2 (one spent)", got)
	}
	if lines, _ := n.get(); len(lines) != 2 || lines[0] != "waiting for another bg-agent asking for the PIN of YubiKey 13000213" {
		t.Fatalf("notices %q", lines)
	}
}

// A request that began before another bg-agent's wrong PIN (it waited
// elsewhere, e.g. for the MFA device) does not ask for the PIN again.
func TestPIVWrongPINSinceRequest(t *testing.T) {
	startCard(t, vyubikeytest.Options{Serial: 13000214})
	_, sealed := sealTo(t, &PIV{PIN: (&pins{answers: []string{"123456"}}).prompt}, 13000214,
		GenerateOptions{TouchPolicy: piv.TouchPolicyNever})
	dir := t.TempDir()
	began := time.Now()
	wrong := &pins{answers: []string{"000000"}}
	_, err := unseal(&PIV{PIN: wrong.prompt, LockDir: dir}, sealed)
	if !errors.Is(err, ErrWrongPIN) {
		t.Fatalf("first: %v", err)
	}
	late := &pins{answers: []string{"000000"}}
	_, err = unseal(&PIV{PIN: late.prompt, LockDir: dir, Since: began}, sealed)
	wantErr(t, err, bgerr.KindKeystore, ErrWrongPIN,
		"a wrong PIN was entered for YubiKey 13000214 while this request waited (2 tries left); the PIN was not asked again",
		"run the command again to enter the PIN (bg-agent never retries a PIN by itself)")
	if len(late.requests()) != 0 {
		t.Fatal("the PIN was asked again")
	}
	// A request that begins afterwards asks as usual.
	ok := &pins{answers: []string{"123456"}}
	if got, err := unseal(&PIV{PIN: ok.prompt, LockDir: dir, Since: time.Now()}, sealed); err != nil || got.SecretAccessKey != testSecret {
		t.Fatalf("a new request: %+v, %v", got, err)
	}
	if r := ok.requests(); len(r) != 1 || r[0].Retries != 2 {
		t.Fatalf("prompts %+v", r)
	}
}

// setup with a PIN-protected management key asks for the PIN with the
// card released, then generates the key.
func TestPIVGenerateProtectedKeyReleasesCard(t *testing.T) {
	startCard(t, vyubikeytest.Options{Serial: 13000216})
	mk := []byte("0123456789abcdef01234567") // 24 bytes, like the default
	if _, err := withPIV(context.Background(), &PIV{}, 13000216, nil, func(yk *piv.YubiKey, _ uint32, _ func()) (int, error) {
		if err := yk.SetManagementKey(piv.DefaultManagementKey, mk); err != nil {
			return 0, err
		}
		return 0, yk.SetMetadata(mk, &piv.Metadata{ManagementKey: &mk})
	}); err != nil {
		t.Fatalf("protecting the management key: %v", err)
	}
	h := newHeldPIN()
	p := &PIV{PIN: h.prompt}
	done := make(chan error, 1)
	go func() {
		_, err := p.Generate(context.Background(), 13000216, piv.SlotKeyManagement, GenerateOptions{TouchPolicy: piv.TouchPolicyNever})
		done <- err
	}()
	h.waitAsked(t)
	sc, err := scard.EstablishContext()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Release()
	card, err := sc.Connect(vyubikey.ReaderName, scard.ShareExclusive, scard.ProtocolAny)
	if err != nil {
		h.answer <- "123456"
		<-done
		t.Fatalf("exclusive connect during the PIN prompt: %v (the prompt holds the card)", err)
	}
	card.Disconnect(scard.LeaveCard)
	h.answer <- "123456"
	if err := <-done; err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if k, err := p.Key(context.Background(), 13000216, piv.SlotKeyManagement); err != nil || k.Public == nil {
		t.Fatalf("Key after Generate: %+v, %v", k, err)
	}
}
