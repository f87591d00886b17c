package log

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzIndexLoad writes arbitrary bytes over a rolled segment's offset and
// time indexes and opens the log as after a clean shutdown: Open must
// succeed and every lookup must still be right.
func FuzzIndexLoad(f *testing.F) {
	cfg := crashConfig()
	template := filepath.Join(f.TempDir(), "p-0")
	locs := buildCrashLog(f, template, cfg, 30)
	f.Add([]byte{}, []byte{})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0}, []byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 5, 0, 0, 0, 100, 0, 0, 0, 1}, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2})
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 1}, []byte{0, 0, 0, 0, 0, 0, 3, 232, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, index, timeindex []byte) {
		dir := filepath.Join(t.TempDir(), "p-0")
		copyDir(t, template, dir)
		if err := os.WriteFile(segmentName(dir, 0, indexSuffix), index, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(segmentName(dir, 0, timeIndexSuffix), timeindex, 0o644); err != nil {
			t.Fatal(err)
		}
		l := openTestLog(t, dir, cfg, newManualClock(), Options{CleanShutdown: true, RecoveryPoint: 1 << 40})
		defer l.Close()
		checkRecovered(t, l, locs, locs[len(locs)-1].h.NextOffset())
		checkTimestampLookups(t, l, locs, 1000, 1003, 1010, 1020)
	})
}
