package secmem

import (
	"bytes"
	"testing"
	"time"
)

func TestBufferWipe(t *testing.T) {
	b := []byte("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	h := Hold(b)
	s := h.String()
	if s != "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" {
		t.Fatalf("String = %q", s)
	}
	t.Logf("locked: %v", h.Locked())
	h.Wipe()
	if !bytes.Equal(b, make([]byte, len(b))) || s != string(make([]byte, len(b))) {
		t.Fatalf("after Wipe: %q %q", b, s)
	}
	if h.Locked() {
		t.Error("still locked after Wipe")
	}
	var none *Buffer
	none.Wipe()
	if none.String() != "" || none.Locked() {
		t.Error("a nil Buffer holds something")
	}
}

func TestScrubTakes(t *testing.T) {
	junk := make([][]byte, 0, 1<<16)
	for i := range 1 << 16 {
		junk = append(junk, make([]byte, 16+i%2000))
	}
	junk = junk[:len(junk)/2]
	start := time.Now()
	Scrub()
	t.Logf("Scrub with %d live objects: %v", len(junk), time.Since(start))
}
