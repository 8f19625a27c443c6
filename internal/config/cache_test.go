package config

import (
	"os"
	"path/filepath"
	"testing"
)

// The cache gives the parse's result while the file's bytes are the same,
// and sees every edit, even one that keeps the size and the mtime.
func TestCacheSeesEveryEdit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	write := func(duration string) {
		t.Helper()
		body := "[profile p]\nbg_user = alice-bg\nbg_mfa_serial = arn:aws:iam::111111111111:mfa/alice-bg\nbg_mfa = prompt\n" +
			"bg_roles = arn:aws:iam::111111111111:role/Op\nbg_regions = eu-west-1\nbg_duration = " + duration + "\n"
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("45m")
	st, _ := os.Stat(path)
	c := &Cache{}
	p1, err := c.Load(path, "p")
	if err != nil || p1.Duration.Minutes() != 45 {
		t.Fatalf("%+v %v", p1, err)
	}
	if p2, err := c.Load(path, "p"); err != nil || p2 != p1 {
		t.Fatalf("unchanged file parsed again: %p %p %v", p1, p2, err)
	}
	write("50m") // same size
	if err := os.Chtimes(path, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	if p3, err := c.Load(path, "p"); err != nil || p3.Duration.Minutes() != 50 {
		t.Fatalf("edit not seen: %+v %v", p3, err)
	}
	write("5m") // now invalid: the error comes back, every time
	for i := 0; i < 2; i++ {
		if _, err := c.Load(path, "p"); err == nil {
			t.Fatal("an invalid bg_duration was served from the cache")
		}
	}
	if _, err := c.Load(path, "nope"); err == nil {
		t.Fatal("unknown profile loaded")
	}
	var none *Cache
	if p, err := none.Load(path, "q"); err == nil {
		t.Fatalf("nil cache: %+v", p)
	}
}
