package controller

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
)

// The metadata log file, <dir>/metadata.log, is a sequence of records:
//
//	length  uint32, big-endian: the bytes of kind and payload
//	crc     uint32, big-endian: CRC32C (Castagnoli) of kind and payload
//	kind    byte: recordCommand or recordSnapshot
//	payload MarshalCommand's JSON, or an Image's MarshalJSON
//
// Replay reads records from the start until the end of the file or the
// first record that is incomplete, fails its checksum, has an impossible
// length, an unknown kind, or a payload that does not decode. Everything
// from there on is cut off: the file is truncated to the last good record.
// A snapshot record replaces the image replayed so far; the file is
// rewritten as one snapshot record when it grows past
// LocalOptions.SnapshotEvery records.

const (
	recordCommand  byte = 1
	recordSnapshot byte = 2

	frameHeaderBytes = 8
	// maxRecordBytes bounds what a corrupt length can make replay
	// allocate, and what one command or snapshot may take.
	maxRecordBytes = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeFrame returns the record of kind with payload.
func encodeFrame(kind byte, payload []byte) ([]byte, error) {
	n := 1 + len(payload)
	if n > maxRecordBytes {
		return nil, fail(ErrInvalidCommand, "metadata record of %d bytes is over the limit of %d", n, maxRecordBytes)
	}
	frame := make([]byte, frameHeaderBytes+n)
	binary.BigEndian.PutUint32(frame[0:4], uint32(n))
	frame[8] = kind
	copy(frame[9:], payload)
	binary.BigEndian.PutUint32(frame[4:8], crc32.Checksum(frame[8:], castagnoli))
	return frame, nil
}

// errStop, returned by a scanFrames callback, ends the scan at the record
// it was given, as a corrupt one.
type errStop struct{ reason string }

func (e *errStop) Error() string { return e.reason }

// scanFrames reads the records of a file of size bytes from r and calls fn
// with each valid one, in order. It returns the end of the last good
// record, and why the scan stopped before size ("" when it read the
// whole file). fn returns a *errStop to treat the record as corrupt; any
// other error from fn or r ends the scan and is returned.
func scanFrames(r io.Reader, size int64, fn func(kind byte, payload []byte) error) (good int64, reason string, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var header [frameHeaderBytes]byte
	for good < size {
		left := size - good
		if left < frameHeaderBytes {
			return good, fmt.Sprintf("incomplete record header (%d bytes)", left), nil
		}
		if _, err := io.ReadFull(br, header[:]); err != nil {
			return good, "", err
		}
		n := int64(binary.BigEndian.Uint32(header[0:4]))
		if n < 1 || n > maxRecordBytes {
			return good, fmt.Sprintf("impossible record length %d", n), nil
		}
		if n > left-frameHeaderBytes {
			return good, fmt.Sprintf("incomplete record: %d bytes announced, %d present", n, left-frameHeaderBytes), nil
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(br, body); err != nil {
			return good, "", err
		}
		if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(header[4:8]) {
			return good, "checksum mismatch", nil
		}
		if err := fn(body[0], body[1:]); err != nil {
			var stop *errStop
			if errors.As(err, &stop) {
				return good, stop.reason, nil
			}
			return good, "", err
		}
		good += frameHeaderBytes + n
	}
	return good, "", nil
}

// writeFileAtomic replaces path with data: written to path.tmp, fsynced,
// renamed over path, and the directory fsynced. renamed says whether path
// was replaced, even if the rename may not be durable (err != nil).
func writeFileAtomic(path string, data []byte) (renamed bool, err error) {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return false, err
	}
	_, err = f.Write(data)
	if err == nil {
		err = syncFile(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return false, err
	}
	return true, syncDir(filepath.Dir(path))
}

// skipSyncForTesting turns fsync off, for the fuzz test, which opens
// thousands of logs.
var skipSyncForTesting atomic.Bool

// syncFile makes f's contents durable.
func syncFile(f *os.File) error {
	if skipSyncForTesting.Load() {
		return nil
	}
	return f.Sync()
}

// syncDir makes creations and renames inside dir durable.
func syncDir(dir string) error {
	if skipSyncForTesting.Load() {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
