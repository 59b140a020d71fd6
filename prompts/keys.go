package prompts

import (
	"encoding/binary"
	"fmt"
)

// Key prefixes; the layout is documented in doc.go.
const (
	pfxCandidate = "c/"
	pfxLesson    = "l/"
	pfxDemo      = "d/"
	pfxNote      = "n/"
	pfxFeedback  = "f/"
	pfxVersion   = "v/"
	pfxPointer   = "p/"
	pfxTask      = "t/"
	pfxRun       = "r/"
	pfxRunData   = "rd/"
	pfxRunIter   = "ri/"
	pfxRollout   = "ro/"
	pfxPosting   = "x/"
	pfxDF        = "xf/"
	pfxStats     = "xs/"
	pfxForward   = "xd/"
	pfxEmbed     = "e/"
)

var (
	keySchema = []byte("m/schema")
	keySeq    = []byte("m/seq")
)

// schemaVersion is written under keySchema and in the marker file.
const schemaVersion = 1

// validTaskName reports whether name may be used as a task name. The
// restriction keeps "/" out of names, which makes every key prefix
// unambiguous.
func validTaskName(name string) error {
	if len(name) == 0 || len(name) > 64 {
		return fmt.Errorf("%w: task name %q must have 1 to 64 characters", ErrInvalid, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: task name %q may only use [A-Za-z0-9._-]", ErrInvalid, name)
		}
	}
	return nil
}

// taskPrefix is pfx + task + "/".
func taskPrefix(pfx, task string) []byte {
	b := make([]byte, 0, len(pfx)+len(task)+1+8)
	b = append(b, pfx...)
	b = append(b, task...)
	return append(b, '/')
}

// idKey is pfx + task + "/" + id.
func idKey(pfx, task string, id uint64) []byte {
	return binary.BigEndian.AppendUint64(taskPrefix(pfx, task), id)
}

func taskKey(task string) []byte    { return append([]byte(pfxTask), task...) }
func pointerKey(task string) []byte { return append([]byte(pfxPointer), task...) }

// recordPrefix returns the key prefix of records of kind k.
func recordPrefix(k Kind) string {
	switch k {
	case KindNote:
		return pfxNote
	case KindDemo:
		return pfxDemo
	default:
		return pfxLesson
	}
}

// kindPrefix is pfx + task + "/" + kind + "/".
func kindPrefix(pfx, task string, k Kind) []byte {
	return append(append(taskPrefix(pfx, task), byte(k)), '/')
}

// termPrefix is the prefix of all posting chunks of term: x/<task>/<kind>/<term>\x00.
func termPrefix(task string, k Kind, term string) []byte {
	return append(append(kindPrefix(pfxPosting, task, k), term...), 0)
}

func dfKey(task string, k Kind, term string) []byte {
	return append(kindPrefix(pfxDF, task, k), term...)
}

func statsKey(task string, k Kind) []byte {
	return append(taskPrefix(pfxStats, task), byte(k))
}

func forwardKey(task string, k Kind, id uint64) []byte {
	return binary.BigEndian.AppendUint64(kindPrefix(pfxForward, task, k), id)
}

func embedKey(task string, k Kind, id uint64, embedder string) []byte {
	b := binary.BigEndian.AppendUint64(kindPrefix(pfxEmbed, task, k), id)
	return append(append(b, '/'), embedder...)
}

func runIterKey(task string, run uint64, iter int) []byte {
	b := binary.BigEndian.AppendUint64(taskPrefix(pfxRunIter, task), run)
	return binary.BigEndian.AppendUint64(append(b, '/'), uint64(iter))
}

func rolloutPrefix(task string, run uint64) []byte {
	return append(binary.BigEndian.AppendUint64(taskPrefix(pfxRollout, task), run), '/')
}

func rolloutKey(task string, run, cand uint64, instance string) []byte {
	b := binary.BigEndian.AppendUint64(rolloutPrefix(task, run), cand)
	return append(append(b, '/'), instance...)
}

// ValidTaskName reports whether name may be used as a task name: 1 to 64
// characters of [A-Za-z0-9._-]. The error matches ErrInvalid.
func ValidTaskName(name string) error { return validTaskName(name) }
