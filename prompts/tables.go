package prompts

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/badger/v4/y"
	"google.golang.org/protobuf/proto"
)

// checkTable verifies the footer and index checksum of a table file the
// way badger does when it opens it. Badger opens tables in background
// goroutines and panics on a damaged index, which would take the whole
// process down; checking first turns that into ErrCorrupt.
func checkTable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	read := func(off, n int64) ([]byte, error) {
		if off < 0 || n < 0 || off+n > size {
			return nil, fmt.Errorf("footer points outside the file (%d bytes)", size)
		}
		b := make([]byte, n)
		_, err := f.ReadAt(b, off)
		if err == io.EOF {
			err = nil
		}
		return b, err
	}
	pos := size - 4
	b, err := read(pos, 4)
	if err != nil {
		return err
	}
	chkLen := int64(binary.BigEndian.Uint32(b))
	pos -= chkLen
	b, err = read(pos, chkLen)
	if err != nil {
		return err
	}
	var chk pb.Checksum
	if err := proto.Unmarshal(b, &chk); err != nil {
		return fmt.Errorf("checksum record: %v", err)
	}
	pos -= 4
	if b, err = read(pos, 4); err != nil {
		return err
	}
	idxLen := int64(binary.BigEndian.Uint32(b))
	pos -= idxLen
	index, err := read(pos, idxLen)
	if err != nil {
		return err
	}
	if err := y.VerifyChecksum(index, &chk); err != nil {
		return fmt.Errorf("index checksum: %v", err)
	}
	return nil
}
