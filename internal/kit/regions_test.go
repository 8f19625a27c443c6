package kit

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bg-agent/bg-agent/internal/config"
)

// Every region a kit accepts must be one internal/config accepts, or setup
// would write profiles bg-agent cannot read.
func TestRegionsAgreeWithConfig(t *testing.T) {
	var b strings.Builder
	for _, r := range config.RegionNames() {
		p, _ := config.RegionPartition(r)
		fmt.Fprintf(&b, "[profile %s]\nregion = %s\nbg_user = a-bg\nbg_mfa_serial = arn:%s:iam::111111111111:mfa/a\nbg_roles = arn:%s:iam::111111111111:role/R\nbg_regions = %s\n\n", r, r, p, p, r)
	}
	file := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	profiles, errs := config.LoadAll(file)
	for _, err := range errs {
		t.Error(err)
	}
	if len(profiles) != len(config.RegionNames()) {
		t.Fatalf("%d profiles loaded, want %d", len(profiles), len(config.RegionNames()))
	}
}
