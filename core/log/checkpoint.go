package log

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Checkpoint files use Kafka's text format: a version line ("0"), a count
// line, then one entry per line with space-separated fields. They are
// replaced atomically: written to a .tmp file, fsynced, renamed over the old
// one, and the directory fsynced.

const checkpointVersion = 0

// maxCheckpointEntries bounds what a corrupt count line can make us allocate.
const maxCheckpointEntries = 1 << 20

// writeCheckpoint atomically replaces path with the given entries.
func writeCheckpoint(fs FS, path string, entries [][]string) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n%d\n", checkpointVersion, len(entries))
	for _, e := range entries {
		b.WriteString(strings.Join(e, " "))
		b.WriteByte('\n')
	}
	tmp := path + ".tmp"
	f, err := fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(b.Bytes(), 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fs.Rename(tmp, path); err != nil {
		return err
	}
	return fs.SyncDir(filepath.Dir(path))
}

// readCheckpoint reads a checkpoint whose entries have fields fields each.
// A missing file is no entries and no error; a malformed one is an error
// naming the file and line.
func readCheckpoint(fs FS, path string, fields int) ([][]string, error) {
	f, err := fs.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > 64<<20 {
		return nil, fmt.Errorf("checkpoint %s: %d bytes is too large", path, st.Size())
	}
	data := make([]byte, st.Size())
	if _, err := f.ReadAt(data, 0); err != nil && st.Size() > 0 {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	next := func() (string, bool) {
		line++
		if !sc.Scan() {
			return "", false
		}
		return sc.Text(), true
	}
	bad := func(msg string) error { return fmt.Errorf("checkpoint %s line %d: %s", path, line, msg) }
	v, ok := next()
	if !ok || strings.TrimSpace(v) != strconv.Itoa(checkpointVersion) {
		return nil, bad(fmt.Sprintf("unsupported version %q", v))
	}
	c, ok := next()
	n, err := strconv.Atoi(strings.TrimSpace(c))
	if !ok || err != nil || n < 0 || n > maxCheckpointEntries {
		return nil, bad(fmt.Sprintf("bad entry count %q", c))
	}
	out := make([][]string, 0, min(n, 1024))
	for i := 0; i < n; i++ {
		s, ok := next()
		if !ok {
			return nil, bad(fmt.Sprintf("expected %d entries, found %d", n, i))
		}
		f := strings.Fields(s)
		if len(f) != fields {
			return nil, bad(fmt.Sprintf("expected %d fields, got %q", fields, s))
		}
		out = append(out, f)
	}
	return out, nil
}
