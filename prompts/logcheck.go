package prompts

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Badger's log files: the value log (.vlog, values too large for the
// tables) and the memtables' write-ahead logs (.mem, which exist only while
// a writer has the store open, or after it was killed). Both are a 20-byte
// header (encryption key id, IV) and entries of
//
//	meta, userMeta byte; uvarint key length, value length, expiry; key; value; CRC-32C (big-endian)
//
// where a transaction's entries carry bitTxn and end with a bitFinTxn entry
// whose value is the commit timestamp. Badger replays a log up to its first
// entry that fails to parse and, opened for writing, truncates the file
// there; whatever followed is gone without a word. checkLogFile tells the
// two things such an ending can be apart.
const (
	logHeaderSize = 20
	logMaxHeader  = 22 // meta, userMeta and three uvarints of at most 32, 32 and 64 bits
	bitTxn        = 1 << 6
	bitFinTxn     = 1 << 7
	logMaxKey     = 1 << 16 // badger's replay stops at a longer key
)

// checkLogs checks every .vlog and .mem file in dir (see checkLogFile). It
// returns the empty ones that a process killed while creating them leaves:
// badger creates a log file and then sizes it, so the newest log of each
// kind may have 0 bytes. Badger cannot open such a file (it fails, and
// leaves it preallocated to hundreds of MiB); being empty, it holds
// nothing, and a read-write Open sets it aside. An empty log that is not
// the newest of its kind was cut: damage.
func checkLogs(dir string) (empty []string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	newest := map[string]uint64{} // extension → highest file number
	for _, e := range entries {
		n := e.Name()
		ext := filepath.Ext(n)
		if ext != ".vlog" && ext != ".mem" {
			continue
		}
		names = append(names, n)
		if id, err := strconv.ParseUint(strings.TrimSuffix(n, ext), 10, 32); err == nil && id >= newest[ext] {
			newest[ext] = id
		}
	}
	slices.Sort(names)
	for _, n := range names {
		ext := filepath.Ext(n)
		if fi, err := os.Stat(filepath.Join(dir, n)); err == nil && fi.Mode().IsRegular() && fi.Size() == 0 {
			if id, err := strconv.ParseUint(strings.TrimSuffix(n, ext), 10, 32); err == nil && id == newest[ext] {
				empty = append(empty, n)
				continue
			}
		}
		if err := checkLogFile(filepath.Join(dir, n)); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, n, err)
		}
	}
	return empty, nil
}

// checkLogFile reads a badger log file as badger replays it and accepts
// exactly two endings: the file ends after its last whole entry (a file
// closed by its writer), or the rest of the file is what a writer killed
// mid-write leaves in its preallocated, zero-filled file: zeros, possibly
// after one entry whose copy into the file was cut short (its tail, checksum
// included, still zero) and after the entries of a transaction whose
// closing entry was not written. Anything else — the file ends inside an
// entry, an entry fails its checksum with data after it, transactions
// interleave — is damage that badger would cut off silently, and is
// returned as an error.
func checkLogFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return errors.New("not a regular file")
	}
	size := fi.Size()
	if size < logHeaderSize {
		return fmt.Errorf("has %d bytes, fewer than its %d-byte header", size, logHeaderSize)
	}
	var hdr [logHeaderSize]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return fmt.Errorf("read header: %v", err)
	}
	if binary.BigEndian.Uint64(hdr[:8]) != 0 {
		return errors.New("its header names an encryption key, and stores are never encrypted")
	}
	off := int64(logHeaderSize)
	var txnTs uint64 // commit timestamp of the open transaction, 0 if none
	var buf []byte
	for off < size {
		var h [logMaxHeader]byte
		n, err := f.ReadAt(h[:min(int64(logMaxHeader), size-off)], off)
		if err != nil && err != io.EOF {
			return fmt.Errorf("read at byte %d: %v", off, err)
		}
		meta, hlen, klen, vlen, ok := decodeLogHeader(h[:n])
		if !ok {
			// A writer's file always has room for a whole header after its
			// last entry (zeros when not closed), so a short one was cut.
			if int64(n) == size-off && n < logMaxHeader {
				return fmt.Errorf("the file ends inside the header of the entry at byte %d: it was cut", off)
			}
			return fmt.Errorf("the entry at byte %d has an unreadable header", off)
		}
		if klen == 0 {
			// Badger stops at an entry without a key: the zero tail of a
			// file whose writer did not close it.
			if nz, err := firstNonzero(f, off, size); err != nil {
				return err
			} else if nz >= 0 {
				return fmt.Errorf("an empty entry at byte %d is followed by data at byte %d", off, nz)
			}
			break
		}
		total := int64(hlen) + int64(klen) + int64(vlen) + crc32.Size
		if klen > logMaxKey {
			return fmt.Errorf("the entry at byte %d has a %d-byte key (damaged header)", off, klen)
		}
		if off+total > size {
			return fmt.Errorf("the file ends inside the entry at byte %d (it needs %d bytes, %d are left): "+
				"it was cut", off, total, size-off)
		}
		kv := int(klen) + int(vlen)
		if cap(buf) < kv+crc32.Size {
			buf = make([]byte, kv+crc32.Size)
		}
		b := buf[:kv+crc32.Size]
		if _, err := f.ReadAt(b, off+int64(hlen)); err != nil {
			return fmt.Errorf("read the entry at byte %d: %v", off, err)
		}
		sum := crc32.Update(crc32.Checksum(h[:hlen], castagnoli), castagnoli, b[:kv])
		if sum != binary.BigEndian.Uint32(b[kv:]) {
			// A copy cut short by a kill leaves the entry's end zero and
			// nothing after it; anything else is damage.
			if b[len(b)-1] == 0 {
				nz, err := firstNonzero(f, off+total, size)
				if err != nil {
					return err
				}
				if nz < 0 {
					break
				}
			}
			return fmt.Errorf("the entry at byte %d fails its checksum", off)
		}
		key, val := b[:klen], b[klen:kv]
		switch {
		case meta&bitTxn != 0:
			ts := parseTs(key)
			if txnTs != 0 && ts != txnTs {
				return fmt.Errorf("the entry at byte %d starts a transaction before the one at timestamp %d ended", off, txnTs)
			}
			txnTs = ts
		case meta&bitFinTxn != 0:
			ts, err := strconv.ParseUint(string(val), 10, 64)
			if err != nil || txnTs == 0 || ts != txnTs {
				return fmt.Errorf("the entry at byte %d ends a transaction that was not open", off)
			}
			txnTs = 0
		case txnTs != 0:
			return fmt.Errorf("the entry at byte %d is inside the transaction at timestamp %d", off, txnTs)
		}
		off += total
		if off == size && txnTs != 0 {
			return fmt.Errorf("the file ends inside the transaction at timestamp %d: it was cut", txnTs)
		}
	}
	return nil
}

// decodeLogHeader decodes an entry header from b, which holds the header
// and possibly bytes after it.
func decodeLogHeader(b []byte) (meta byte, n int, klen, vlen uint64, ok bool) {
	if len(b) < 2 {
		return 0, 0, 0, 0, false
	}
	meta, n = b[0], 2
	var vals [3]uint64
	for i := range vals {
		v, c := binary.Uvarint(b[n:])
		if c <= 0 {
			return 0, 0, 0, 0, false
		}
		vals[i] = v
		n += c
	}
	if vals[0] > math.MaxUint32 || vals[1] > math.MaxUint32 {
		return 0, 0, 0, 0, false
	}
	return meta, n, vals[0], vals[1], true
}

// parseTs is badger's y.ParseTs: a key's last 8 bytes hold MaxUint64-ts.
func parseTs(key []byte) uint64 {
	if len(key) <= 8 {
		return 0
	}
	return math.MaxUint64 - binary.BigEndian.Uint64(key[len(key)-8:])
}

// firstNonzero returns the offset of the first nonzero byte of f in
// [from, to), or -1. It skips the holes of a sparse file (see dataAfter):
// a killed writer leaves its log preallocated to hundreds of MiB.
func firstNonzero(f *os.File, from, to int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for off := from; off < to; {
		next, err := dataAfter(f, off)
		if err != nil {
			return 0, fmt.Errorf("read %s: %v", filepath.Base(f.Name()), err)
		}
		if next < 0 || next >= to {
			return -1, nil
		}
		off = next
		n, err := f.ReadAt(buf[:min(int64(len(buf)), to-off)], off)
		if err != nil && err != io.EOF {
			return 0, fmt.Errorf("read %s: %v", filepath.Base(f.Name()), err)
		}
		for i, c := range buf[:n] {
			if c != 0 {
				return off + int64(i), nil
			}
		}
		if n == 0 {
			break
		}
		off += int64(n)
	}
	return -1, nil
}
