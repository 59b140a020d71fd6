// Package prompts is the fast channel of fastslow: a durable, searchable and
// guarded store of what a model has learned about its tasks, kept as text
// rather than as weights.
//
// A [Store] lives in one directory, on badger (embedded). It holds, per task:
//
//   - prompt candidates: system text, lesson bullets, demos, pinned notes,
//     parents, generation and per-validation-instance scores;
//   - lessons (ACE-style bullets) with their provenance — the feedback
//     records that produced them — and helpful/harmful counts;
//   - demos (worked input/output pairs) and notes (facts to look up rather
//     than memorize);
//   - feedback records: what a served answer scored and why;
//   - the promoted version, with its full history and rollback;
//   - optimizer runs, resumable after a crash.
//
// Retrieval ranks a task's notes, demos and lessons for a query with BM25
// over an inverted index kept in the same badger database (see [Store.Search]),
// optionally fused with an embedding ranking ([Embedder]). [Assemble] renders
// the prompt to serve within a character or token budget, deterministically.
// [Optimizer] searches candidates GEPA-style (minibatch, reflect, keep the
// child if it beats its parent, Pareto front over validation instances) and
// promotes through the gate: nothing is promoted that lowers the validation
// score, and every promotion is recorded with its evidence. Outside a run,
// [Gate] does the same for a single candidate or a few new lessons.
//
// # Proposers
//
// [Reflective] asks any langchaingo llms.Model to learn from failures: by
// default as ACE-style lesson deltas (add or edit bullets, tag helpful and
// harmful ones, never a full rewrite), or as a GEPA-style rewrite of the
// system text. [DemoSelector], [VerifierLessons] and [FactNotes] need no
// model at all, which is what helps very small models: worked examples for
// the failing inputs, the verifier's messages as lessons, and the expected
// answers as notes to look up.
//
// # Durability and concurrency
//
// Every write is a badger transaction; record, index postings and document
// frequencies of a write commit together, and large batches commit in
// atomic chunks. Promotions and rollbacks are fsynced before they return.
// An optimizer run checkpoints after every rollout and every step, so a run
// killed at any point (even with SIGKILL) loses no promoted version and
// resumes with [Optimizer.Resume] without repeating a rollout it saved. A
// Store is safe for concurrent use; index writes are serialized per task.
//
// # Directory
//
// A store directory holds badger's files plus a marker file, STORE_MARKER
// ("FASTSLOW_PROMPTS"), written before badger ever touches an empty directory.
// [Open] refuses a non-empty directory without the marker ([ErrForeign]) and
// never writes into it; a directory held by another process yields
// [ErrLocked]; damaged badger files yield [ErrCorrupt].
//
// # Keys
//
// Every key starts with a short prefix naming its record type. Task names are
// restricted to [A-Za-z0-9._-] so the "/" after a task name is unambiguous.
// <id> is a big-endian uint64 (8 bytes) so keys sort by id; <seq> likewise.
//
//	m/schema                          schema version (decimal text)
//	m/seq                             id lease high-water mark (uint64)
//	t/<task>                          Task (JSON)
//	c/<task>/<id>                     Candidate (JSON)
//	l/<task>/<id>                     Lesson (JSON)
//	d/<task>/<id>                     Demo (JSON)
//	n/<task>/<id>                     Note (JSON)
//	f/<task>/<id>                     Feedback (JSON)
//	v/<task>/<seq>                    Version: one promotion or rollback (JSON)
//	p/<task>                          pointer: current and last version seq
//	r/<task>/<id>                     optimizer RunState (JSON)
//	rd/<task>/<id>                    optimizer run data: train and validation instances
//	ri/<task>/<id>/<iter>             optimizer iteration record (JSON)
//	ro/<task>/<id>/<cand>/<instance>  one rollout outcome (JSON), the run's memo
//	x/<task>/<kind>/<term>\x00<lvl><seq>  posting chunk; lvl = 0xff - impact level (1 byte)
//	xf/<task>/<kind>/<term>           document frequency of term (uvarint)
//	xs/<task>/<kind>                  index statistics: documents, total length (uvarints)
//	xd/<task>/<kind>/<id>             forward entry: the document's terms and impacts
//	e/<task>/<kind>/<id>/<embedder>   cached embedding (little-endian float32s)
//
// <kind> is one byte: 'n' notes, 'd' demos, 'l' lessons.
//
// Postings are impact-ordered. A posting's impact is its BM25 term weight
// quantized to 16 bits; its level is the impact's high byte. The postings a
// transaction adds for one term and level form one chunk (a packed list of
// document ids and impacts), and a term's chunks sort by descending level,
// so a top-k query reads the most promising postings first and stops as
// soon as no unread posting can change the answer (see search.go). A batch
// of documents thus costs a few keys per distinct term, not one per posting.
// The length normalization of a posting uses the task's average document
// length at the time the document was indexed; [Store.Reindex] recomputes it
// (and merges small chunks).
package prompts
