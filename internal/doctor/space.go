package doctor

import (
	"fmt"

	"github.com/bg-agent/bg-agent/internal/diskspace"
)

// Space thresholds for the state dir. A request writes a few KiB there
// (an audit record, the used-code record, the device lock) and is refused
// before anything is asked when they do not fit: below SpaceFail it would
// be; below SpaceWarn (or 1% of the file system, if that is more) it soon
// may, since a disk that is nearly full fills up during an outage.
const (
	SpaceFail = 64 << 10
	SpaceWarn = 1 << 20
)

// Space checks the room left on the file system of the state dir.
func (r *Report) Space(dir string, s diskspace.Space, err error) {
	const name = "disk space"
	if err != nil {
		r.Add(Info, name, "cannot tell the free space of "+dir+": "+err.Error(), "")
		return
	}
	fix := "free some space on the disk that holds " + dir + " (or set BG_AGENT_HOME to a directory on another disk); " +
		`in an emergency, BG_AGENT_AUDIT_OVERRIDE="why" issues anyway, the records shown instead of written`
	warnAt := max(uint64(SpaceWarn), s.Total/100)
	detail := fmt.Sprintf("%s free of %s on the disk that holds %s", humanBytes(s.Avail), humanBytes(s.Total), dir)
	switch {
	case s.Avail < SpaceFail || (s.Files > 0 && s.FilesFree == 0):
		if s.Files > 0 && s.FilesFree == 0 {
			detail = "no inode left (no new file can be made) on the disk that holds " + dir
		}
		r.Add(Fail, name, detail+"; requests are refused before anything is asked", fix)
	case s.Avail < warnAt:
		r.Add(Warn, name, fmt.Sprintf("%s; warned below %s", detail, humanBytes(warnAt)), fix)
	default:
		r.Add(OK, name, detail, "")
	}
}

// humanBytes is n in the largest binary unit that keeps it at 1 or more.
func humanBytes(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	v, i := float64(n), 0
	for v >= 1024 && i < len(units)-1 {
		v, i = v/1024, i+1
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}
