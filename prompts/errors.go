package prompts

import "errors"

// Errors returned by the store. Callers test them with errors.Is; the
// returned errors wrap them with the details (path, task, ids).
var (
	// ErrLocked means another process (or another Store in this process)
	// has the directory open.
	ErrLocked = errors.New("prompts: store locked by another process")
	// ErrForeign means the directory holds files that are not a prompts
	// store; nothing was written to it.
	ErrForeign = errors.New("prompts: directory is not a prompts store")
	// ErrCorrupt means the directory is marked as a prompts store but its
	// database cannot be opened or lacks the schema record.
	ErrCorrupt = errors.New("prompts: store is corrupt")
	// ErrInterrupted means a read-only Open found files a killed writer
	// left (table files the MANIFEST does not list, a write-ahead log not
	// closed); opening the store for writing recovers it.
	ErrInterrupted = errors.New("prompts: store was left by an interrupted write")
	// ErrReadOnly means a write was attempted on a store opened read-only.
	ErrReadOnly = errors.New("prompts: store opened read-only")
	// ErrSchema means the store was written by an incompatible schema version.
	ErrSchema = errors.New("prompts: unsupported store schema version")
	// ErrUnknownTask means no task of that name exists.
	ErrUnknownTask = errors.New("prompts: unknown task")
	// ErrTaskExists means a task of that name already exists.
	ErrTaskExists = errors.New("prompts: task already exists")
	// ErrNotFound means a record (candidate, lesson, demo, note, feedback,
	// version, run) does not exist in the task.
	ErrNotFound = errors.New("prompts: not found")
	// ErrInvalid means an argument is malformed (empty text, bad name, ...).
	ErrInvalid = errors.New("prompts: invalid argument")
	// ErrMalformedImport means an import document failed to parse or
	// validate; nothing was written.
	ErrMalformedImport = errors.New("prompts: malformed import")
	// ErrNoVersion means the task has no promoted version.
	ErrNoVersion = errors.New("prompts: task has no promoted version")
	// ErrNotEvaluated means a gate decision lacks validation scores.
	ErrNotEvaluated = errors.New("prompts: candidate not evaluated on the validation instances")
	// ErrGateRejected means a promotion would lower the validation score.
	ErrGateRejected = errors.New("prompts: promotion would lower the validation score")
	// ErrBudget means the rendered prompt cannot fit the budget even with
	// no lessons, notes or demos.
	ErrBudget = errors.New("prompts: system text exceeds the budget")
	// ErrClosed means the store has been closed.
	ErrClosed = errors.New("prompts: store closed")
)
