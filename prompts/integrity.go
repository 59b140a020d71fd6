package prompts

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"
	"google.golang.org/protobuf/proto"
)

// manifestState is what a badger MANIFEST says about the table files.
type manifestState struct {
	live        map[uint64]options.CompressionType // tables the database consists of
	mentioned   map[uint64]bool                    // every table id the MANIFEST ever named
	records     int
	size, valid int64 // file size, and the offset after the last whole record
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// readManifest parses the MANIFEST in dir the way badger replays it, but
// strictly: badger treats a record cut short as a torn write, truncates the
// file there and deletes the table files the lost records named. A single
// write(2) is never torn by a killed process, so a cut record means the
// file was damaged, and it is reported as ErrCorrupt.
func readManifest(dir string) (*manifestState, error) {
	f, err := os.Open(filepath.Join(dir, "MANIFEST"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	m := &manifestState{live: map[uint64]options.CompressionType{}, mentioned: map[uint64]bool{}, size: fi.Size()}
	r := bufio.NewReader(f)
	var magic [8]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, fmt.Errorf("%w: MANIFEST has %d bytes, fewer than its 8-byte header", ErrCorrupt, m.size)
	}
	if !bytes.Equal(magic[:4], []byte("Bdgr")) {
		return nil, fmt.Errorf("%w: MANIFEST does not start with badger's magic bytes", ErrCorrupt)
	}
	off := int64(8)
	m.valid = off
	for off < m.size {
		var hdr [8]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil, fmt.Errorf("%w: MANIFEST is cut inside the header of record %d (byte %d of %d)",
				ErrCorrupt, m.records+1, off, m.size)
		}
		n := int64(binary.BigEndian.Uint32(hdr[:4]))
		if n > m.size-off-8 {
			return nil, fmt.Errorf("%w: MANIFEST record %d at byte %d is cut (%d of its %d bytes present)",
				ErrCorrupt, m.records+1, off, m.size-off-8, n)
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("%w: read MANIFEST: %v", ErrCorrupt, err)
		}
		if crc32.Checksum(buf, castagnoli) != binary.BigEndian.Uint32(hdr[4:]) {
			return nil, fmt.Errorf("%w: MANIFEST record %d at byte %d fails its checksum", ErrCorrupt, m.records+1, off)
		}
		var cs pb.ManifestChangeSet
		if err := proto.Unmarshal(buf, &cs); err != nil {
			return nil, fmt.Errorf("%w: MANIFEST record %d: %v", ErrCorrupt, m.records+1, err)
		}
		for _, c := range cs.Changes {
			m.mentioned[c.Id] = true
			switch c.Op {
			case pb.ManifestChange_CREATE:
				m.live[c.Id] = options.CompressionType(c.Compression)
			case pb.ManifestChange_DELETE:
				delete(m.live, c.Id)
			default:
				return nil, fmt.Errorf("%w: MANIFEST record %d has an unknown operation", ErrCorrupt, m.records+1)
			}
		}
		off += 8 + n
		m.valid = off
		m.records++
	}
	return m, nil
}

// tableFiles lists the table ids of the .sst files in dir.
func tableFiles(dir string) (map[uint64]bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	ids := map[uint64]bool{}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sst") {
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSuffix(name, ".sst"), 10, 64)
		if err != nil {
			continue // badger ignores these too
		}
		ids[id] = true
	}
	return ids, nil
}

// Leftovers are table files a MANIFEST does not list. Badger writes a table
// before it records it, so a process killed in between leaves one; badger
// deletes them when it opens the database. The store sets them aside
// instead (see Options), because a MANIFEST that lost records whole would
// look the same.
type leftovers []uint64

func (l leftovers) String() string {
	names := make([]string, len(l))
	for i, id := range l {
		names[i] = table.IDToFilename(id)
	}
	return strings.Join(names, ", ")
}

// verifyDir checks a store directory before badger opens it: the MANIFEST
// parses whole, every table it lists exists, every table file passes its
// footer, index and block checksums, and the value and memtable logs hold
// whole entries up to their end or a killed writer's tail (checkLogs). It
// returns the table files the
// MANIFEST does not list. It writes nothing.
func verifyDir(dir string) (leftovers, []string, error) {
	m, err := readManifest(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil // a new store; prepareDir checked that no data files exist
	}
	if err != nil {
		return nil, nil, err
	}
	onDisk, err := tableFiles(dir)
	if err != nil {
		return nil, nil, err
	}
	var missing []uint64
	for id := range m.live {
		if !onDisk[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, nil, fmt.Errorf("%w: table files listed in MANIFEST are missing: %s", ErrCorrupt, leftovers(missing))
	}
	var extra leftovers
	ids := make([]uint64, 0, len(onDisk))
	for id := range onDisk {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		comp, ok := m.live[id]
		if !ok {
			extra = append(extra, id)
			continue
		}
		if err := verifyTable(filepath.Join(dir, table.IDToFilename(id)), comp); err != nil {
			return nil, nil, fmt.Errorf("%w: table %s: %v", ErrCorrupt, table.IDToFilename(id), err)
		}
	}
	empty, err := checkLogs(dir)
	if err != nil {
		return nil, nil, err
	}
	return extra, empty, nil
}

// badgerFiles lists the names of the files in dir that badger makes.
func badgerFiles(dir string) (map[string]bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, e := range entries {
		switch n := e.Name(); {
		case n == "MANIFEST", n == "DISCARD", n == "KEYREGISTRY",
			strings.HasSuffix(n, ".sst"), strings.HasSuffix(n, ".vlog"), strings.HasSuffix(n, ".mem"):
			if e.Type().IsRegular() {
				names[n] = true
			}
		}
	}
	return names, nil
}

// removeCreated removes the files badger made in dir during an Open that
// failed: the files it lists now and did not before. Badger preallocates a
// new memtable's log (2 × the memtable size) and a new value log (2 × the
// value log file size, 512 MiB by default) before it has read everything,
// and leaves them when a later step fails.
func removeCreated(dir string, before map[string]bool) {
	now, err := badgerFiles(dir)
	if err != nil {
		return
	}
	for n := range now {
		if !before[n] {
			_ = os.Remove(filepath.Join(dir, n))
		}
	}
}

// verifyTable checks a table's footer and index (checkTable), then reads
// every block and verifies its checksum, as badger does only when told to
// (and then skips a failing table with a log line instead of failing).
func verifyTable(path string, comp options.CompressionType) (err error) {
	if err := checkTable(path); err != nil {
		return err
	}
	mf, err := z.OpenMmapFile(path, os.O_RDONLY, 0)
	if err != nil && !errors.Is(err, z.NewFile) {
		return fmt.Errorf("map: %v", err)
	}
	defer func() {
		if r := recover(); r != nil {
			// Table.VerifyChecksum dereferences the nil block it got
			// with the error of a block that failed its checksum.
			err = fmt.Errorf("a data block fails its checksum or cannot be read (%v)", firstLine(fmt.Sprint(r)))
		}
	}()
	t, err := table.OpenTable(mf, table.Options{
		ChkMode:     options.OnTableAndBlockRead,
		Compression: comp,
		BlockSize:   4 << 10,
	})
	if err != nil {
		if strings.HasPrefix(err.Error(), "failed to initialize table") {
			_ = mf.Fd.Close() // OpenTable closes the file on its other errors
		}
		return errors.New(firstLine(err.Error()))
	}
	return t.Close(-1)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
