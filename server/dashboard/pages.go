package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/prompts"
)

// taskRow is one line of the tasks page.
type taskRow struct {
	Name, Description string
	Versions          int
	Current           uint64 // current prompt version, 0 if none
	Score             float64
	Pending           int
	Feedback          int
	Adapters          int // adapter versions trained on this task
}

type tasksData struct {
	Tasks   []taskRow
	Adapter string // what the slow channel serves
	Policy  string
}

// storeTasks returns the learner's tasks; on an error it answers it and returns false.
func (h *Handler) storeTasks(w http.ResponseWriter, r *http.Request) ([]prompts.Task, bool) {
	ts, err := h.opt.Learner.Store().Tasks(r.Context())
	if err != nil {
		h.fail(w, r, http.StatusInternalServerError, err)
		return nil, false
	}
	return ts, true
}

func (h *Handler) tasks(w http.ResponseWriter, r *http.Request) {
	ts, ok := h.storeTasks(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	l := h.opt.Learner
	vs := l.Slow().Versions()
	d := tasksData{Adapter: servedAdapter(l.Slow()), Policy: l.Policy().Name()}
	for _, t := range ts {
		row := taskRow{Name: t.Name, Description: t.Description, Pending: len(l.PendingIDs(t.Name))}
		hist, err := l.Store().History(ctx, t.Name)
		if err != nil {
			h.fail(w, r, http.StatusInternalServerError, err)
			return
		}
		row.Versions = len(hist)
		if cur, err := l.Store().Current(ctx, t.Name); err == nil {
			row.Current, row.Score = cur.Seq, cur.Evidence.Score
		} else if !errors.Is(err, prompts.ErrNoVersion) {
			h.fail(w, r, http.StatusInternalServerError, err)
			return
		}
		fbs, err := l.Store().ListFeedback(ctx, t.Name)
		if err != nil {
			h.fail(w, r, http.StatusInternalServerError, err)
			return
		}
		row.Feedback = len(fbs)
		for _, v := range vs {
			if v.Task == t.Name {
				row.Adapters++
			}
		}
		d.Tasks = append(d.Tasks, row)
	}
	h.render(w, r, http.StatusOK, "tasks", "Tasks", d)
}

// servedAdapter says in words what the slow channel serves.
func servedAdapter(s *fastslow.SlowChannel) string {
	v, ok := s.Current()
	if !ok {
		return "the base model (no adapter)"
	}
	return fmt.Sprintf("adapter version %d (%s)", v.Seq, v.Handle)
}

// versionRow is one prompt version with its evidence and the diff from the version before it.
type versionRow struct {
	prompts.Version
	Current  bool
	Restored uint64 // for a rollback: the version whose candidate it serves again
	Per      []instanceScore
	Diff     []diffLine
	Changed  bool // the candidate differs from the previous version's
	Proposer string
	Serving  bool // its candidate is the one served now (no rollback offered)
}

type instanceScore struct {
	ID              string
	Score, Baseline float64
	HasBaseline     bool
}

type taskData struct {
	Task     prompts.Task
	Versions []versionRow // newest first
	Current  uint64
	served   uint64 // the current version's candidate
}

func (h *Handler) task(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	st := h.opt.Learner.Store()
	t, err := st.Task(ctx, r.PathValue("task"))
	if errors.Is(err, prompts.ErrUnknownTask) {
		h.fail(w, r, http.StatusNotFound, err)
		return
	} else if err != nil {
		h.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	d, err := h.taskData(ctx, t)
	if err != nil {
		h.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	h.render(w, r, http.StatusOK, "task", "Task "+t.Name, d)
}

func (h *Handler) taskData(ctx context.Context, t prompts.Task) (taskData, error) {
	st := h.opt.Learner.Store()
	hist, err := st.History(ctx, t.Name)
	if err != nil {
		return taskData{}, err
	}
	d := taskData{Task: t}
	if cur, err := st.Current(ctx, t.Name); err == nil {
		d.Current, d.served = cur.Seq, cur.Candidate
	} else if !errors.Is(err, prompts.ErrNoVersion) {
		return taskData{}, err
	}
	texts := map[uint64][]string{} // candidate id → its lines
	text := func(id uint64) ([]string, string, error) {
		if id == 0 {
			return nil, "", nil
		}
		c, err := st.Candidate(ctx, t.Name, id)
		if err != nil {
			return nil, "", err
		}
		if lines, ok := texts[id]; ok {
			return lines, c.Proposer, nil
		}
		lines, err := candidateLines(ctx, st, c)
		if err != nil {
			return nil, "", err
		}
		texts[id] = lines
		return lines, c.Proposer, nil
	}
	bySeq := map[uint64]prompts.Version{}
	for _, v := range hist {
		bySeq[v.Seq] = v
	}
	for _, v := range hist {
		row := versionRow{Version: v, Current: v.Seq == d.Current, Serving: v.Candidate == d.served}
		if v.Action == prompts.ActionRollback {
			row.Restored = v.Restores
		}
		lines, proposer, err := text(v.Candidate)
		if err != nil {
			return taskData{}, err
		}
		row.Proposer = proposer
		var prev []string
		if p, ok := bySeq[v.Previous]; ok {
			if prev, _, err = text(p.Candidate); err != nil {
				return taskData{}, err
			}
		}
		row.Diff = diffLines(prev, lines)
		row.Changed = slices.ContainsFunc(row.Diff, func(l diffLine) bool { return l.Op != " " })
		for id, s := range v.Evidence.PerInstance {
			b, ok := v.Evidence.BaselinePer[id]
			row.Per = append(row.Per, instanceScore{ID: id, Score: s, Baseline: b, HasBaseline: ok})
		}
		slices.SortFunc(row.Per, func(a, b instanceScore) int { return strings.Compare(a.ID, b.ID) })
		d.Versions = append(d.Versions, row)
	}
	slices.Reverse(d.Versions)
	return d, nil
}

// candidateLines is a candidate as lines of text, for diffs: its system text, then every lesson, demo and
// note it carries.
func candidateLines(ctx context.Context, st *prompts.Store, c prompts.Candidate) ([]string, error) {
	var out []string
	if c.System == "" {
		out = append(out, "system: (none)")
	} else {
		for _, l := range strings.Split(c.System, "\n") {
			out = append(out, "system: "+l)
		}
	}
	for _, id := range c.Lessons {
		l, err := st.Lesson(ctx, c.Task, id)
		if err != nil {
			return nil, err
		}
		out = append(out, fmt.Sprintf("lesson %d [%s] (+%d/-%d): %s", l.ID, l.Section, l.Helpful, l.Harmful, oneLine(l.Text)))
	}
	for _, id := range c.Demos {
		d, err := st.Demo(ctx, c.Task, id)
		if err != nil {
			return nil, err
		}
		out = append(out, fmt.Sprintf("demo %d: %s → %s", d.ID, oneLine(d.Input), oneLine(d.Output)))
	}
	for _, id := range c.Notes {
		n, err := st.Note(ctx, c.Task, id)
		if err != nil {
			return nil, err
		}
		out = append(out, fmt.Sprintf("note %d: %s", n.ID, oneLine(n.Text)))
	}
	return out, nil
}

// oneLine shows text's line breaks as ⏎ so that one record stays one diff line.
func oneLine(s string) string { return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", " ⏎ ") }

// adapterRow is one slow-channel version.
type adapterRow struct {
	fastslow.AdapterVersion
	Current    bool
	Forgetting float64 // retention before − after
}

type adaptersData struct {
	Versions []adapterRow // newest first
	Current  int
	Handle   string
}

func (h *Handler) adapters(w http.ResponseWriter, r *http.Request) {
	s := h.opt.Learner.Slow()
	cur, ok := s.Current()
	d := adaptersData{Handle: s.Handle()}
	if ok {
		d.Current = cur.Seq
	}
	vs := s.Versions()
	for _, v := range vs {
		row := adapterRow{AdapterVersion: v, Current: ok && v.Seq == cur.Seq, Forgetting: v.Before - v.After}
		d.Versions = append(d.Versions, row)
	}
	slices.Reverse(d.Versions)
	h.render(w, r, http.StatusOK, "adapters", "Adapters", d)
}

// pendingRow is one correction waiting for a weight round.
type pendingRow struct {
	prompts.Feedback
	Waiting string
}

type feedbackData struct {
	Tasks   []pendingTask
	Total   int
	Flush   fastslow.FlushPolicy
	Weights bool   // the policy has a weight channel (else nothing ever waits)
	Policy  string // its name
}

type pendingTask struct {
	Task    string
	Pending []pendingRow
}

func (h *Handler) feedback(w http.ResponseWriter, r *http.Request) {
	ts, ok := h.storeTasks(w, r)
	if !ok {
		return
	}
	l := h.opt.Learner
	d := feedbackData{Flush: l.Options().Flush, Weights: l.Policy().Channels().Weights, Policy: l.Policy().Name()}
	now := time.Now()
	for _, t := range ts {
		pt := pendingTask{Task: t.Name}
		for _, id := range l.PendingIDs(t.Name) {
			fb, err := l.Store().Feedback(r.Context(), t.Name, id)
			if err != nil {
				h.fail(w, r, http.StatusInternalServerError, err)
				return
			}
			pt.Pending = append(pt.Pending, pendingRow{Feedback: fb, Waiting: now.Sub(fb.Created).Round(time.Second).String()})
		}
		if len(pt.Pending) > 0 {
			d.Tasks = append(d.Tasks, pt)
			d.Total += len(pt.Pending)
		}
	}
	h.render(w, r, http.StatusOK, "feedback", "Feedback queue", d)
}

// confirmData is the confirmation page of a rollback.
type confirmData struct {
	Action  string // form action, relative to the base
	What    string // what will happen, in words
	Fields  map[string]string
	Back    string
	Details []string
}

// rollbackPrompt rolls a task's prompt back to a version (prompts.Store.Rollback), after a confirmation.
func (h *Handler) rollbackPrompt(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	st := h.opt.Learner.Store()
	task := r.PathValue("task")
	seq, err := strconv.ParseUint(r.PostForm.Get("version"), 10, 64)
	if err != nil || seq == 0 {
		h.fail(w, r, http.StatusBadRequest, fmt.Errorf("version %q is not a version number", r.PostForm.Get("version")))
		return
	}
	target, err := st.Version(ctx, task, seq)
	if errors.Is(err, prompts.ErrNotFound) || errors.Is(err, prompts.ErrUnknownTask) {
		h.fail(w, r, http.StatusNotFound, err)
		return
	} else if err != nil {
		h.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	back := "tasks/" + pathEscape(task)
	if r.PostForm.Get("confirm") != "yes" {
		cur, err := st.Current(ctx, task)
		if err != nil {
			h.fail(w, r, http.StatusInternalServerError, err)
			return
		}
		h.render(w, r, http.StatusOK, "confirm", "Confirm rollback", confirmData{
			Action: back + "/rollback",
			What:   fmt.Sprintf("Roll task %s's prompt back from version %d (candidate %d) to version %d (candidate %d)?", task, cur.Seq, cur.Candidate, target.Seq, target.Candidate),
			Fields: map[string]string{"version": strconv.FormatUint(seq, 10)},
			Back:   back,
			Details: []string{
				fmt.Sprintf("Version %d was a %s with score %.4g on %d validation instances.", target.Seq, target.Action, target.Evidence.Score, target.Evidence.Instances),
				"The history is kept: the rollback is a new version, and it can itself be rolled back.",
			},
		})
		return
	}
	reason := "dashboard"
	if v, err := st.Rollback(ctx, task, seq, reason); err != nil {
		h.fail(w, r, http.StatusConflict, err)
		return
	} else {
		h.opt.Log.Info("dashboard: prompt rollback", "task", task, "to", seq, "version", v.Seq)
	}
	http.Redirect(w, r, h.opt.Base+back+"#v"+strconv.FormatUint(seq, 10), http.StatusSeeOther)
}

// rollbackAdapter serves an earlier adapter version again (fastslow.SlowChannel.Rollback; 0 is the base
// model), after a confirmation.
func (h *Handler) rollbackAdapter(w http.ResponseWriter, r *http.Request) {
	s := h.opt.Learner.Slow()
	seq, err := strconv.Atoi(r.PostForm.Get("version"))
	if err != nil || seq < 0 {
		h.fail(w, r, http.StatusBadRequest, fmt.Errorf("version %q is not a version number", r.PostForm.Get("version")))
		return
	}
	var target fastslow.AdapterVersion
	found := seq == 0
	for _, v := range s.Versions() {
		if v.Seq == seq {
			target, found = v, true
		}
	}
	if !found {
		h.fail(w, r, http.StatusNotFound, fmt.Errorf("no adapter version %d", seq))
		return
	}
	if r.PostForm.Get("confirm") != "yes" {
		from := "the base model"
		if cur, ok := s.Current(); ok {
			from = fmt.Sprintf("version %d", cur.Seq)
		}
		to, details := "the base model alone (no adapter)", []string{"Nothing is deleted: every version stays on disk and can be served again.",
			"A weight round that is running now is not waited for: it ends without being promoted, since it trains from the version served before the rollback."}
		if seq != 0 {
			to = fmt.Sprintf("version %d (task %s, %d steps)", seq, target.Task, target.Steps)
			made := fmt.Sprintf("Retention when it was made: %.4g before, %.4g after.", target.Before, target.After)
			if target.Unmeasured != "" {
				made = fmt.Sprintf("Forgetting was not measured when it was made: %s.", target.Unmeasured)
			}
			details = append([]string{made}, details...)
		}
		h.render(w, r, http.StatusOK, "confirm", "Confirm rollback", confirmData{
			Action: "adapters/rollback", What: fmt.Sprintf("Serve %s instead of %s?", to, from),
			Fields: map[string]string{"version": strconv.Itoa(seq)}, Back: "adapters", Details: details,
		})
		return
	}
	if err := s.Rollback(r.Context(), seq); err != nil {
		h.fail(w, r, http.StatusConflict, err)
		return
	}
	h.opt.Log.Info("dashboard: adapter rollback", "to", seq)
	http.Redirect(w, r, h.opt.Base+"adapters", http.StatusSeeOther)
}

// pathEscape escapes a path segment (task names are [A-Za-z0-9._-], but the dashboard does not rely on it).
func pathEscape(s string) string { return url.PathEscape(s) }
