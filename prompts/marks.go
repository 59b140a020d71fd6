package prompts

import (
	"context"
	"encoding/binary"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
)

// pfxMark holds marks: "mk/" + task + "/" + name → big-endian uint64.
const pfxMark = "mk/"

func markKey(task, name string) []byte { return append(taskPrefix(pfxMark, task), name...) }

// Mark returns the value of task's mark called name, 0 if it was never set. A mark is a small durable
// counter a client keeps beside its records, for example the id of the last feedback record a learner has
// trained on, so that what came after it is still waiting after a restart or a crash.
func (s *Store) Mark(ctx context.Context, task, name string) (uint64, error) {
	var v uint64
	err := s.view(ctx, func(txn *badger.Txn) error {
		var err error
		v, err = getUint(txn, markKey(task, name))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("mark %s/%s: %w", task, name, err)
	}
	return v, nil
}

// SetMark sets task's mark called name to v, durably (the write is synced). The task must exist.
func (s *Store) SetMark(ctx context.Context, task, name string, v uint64) error {
	if name == "" {
		return fmt.Errorf("%w: empty mark name", ErrInvalid)
	}
	err := s.update(ctx, func(txn *badger.Txn) error {
		if err := requireTask(txn, task); err != nil {
			return err
		}
		return txn.Set(markKey(task, name), binary.BigEndian.AppendUint64(nil, v))
	})
	if err == nil {
		err = s.sync()
	}
	if err != nil {
		return fmt.Errorf("set mark %s/%s: %w", task, name, err)
	}
	return nil
}
