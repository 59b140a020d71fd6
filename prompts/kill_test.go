package prompts

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// childEnv selects a child-process mode when the test binary re-executes
// itself (see TestMain); childDirEnv names the store directory.
const (
	childEnv    = "FASTSLOW_PROMPTS_CHILD"
	childDirEnv = "FASTSLOW_PROMPTS_CHILD_DIR"
)

// runChild is the child side of the multi-process tests.
func runChild(mode string) int {
	dir := os.Getenv(childDirEnv)
	switch mode {
	case "list-ro": // print the task names of a store opened read-only
		s, err := Open(dir, &Options{Small: true, ReadOnly: true})
		if err != nil {
			fmt.Println("error", err)
			return 1
		}
		defer s.Close()
		ts, err := s.Tasks(context.Background())
		if err != nil {
			fmt.Println("error", err)
			return 1
		}
		var names []string
		for _, t := range ts {
			names = append(names, t.Name)
		}
		fmt.Println(strings.Join(names, " "))
		return 0
	case "hold-write": // write a task, then hold the store open until killed
		s, err := Open(dir, &Options{Small: true})
		if err != nil {
			fmt.Println("error", err)
			return 1
		}
		if _, err := s.CreateTask(context.Background(), Task{Name: "held"}); err != nil {
			fmt.Println("error", err)
			return 1
		}
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin)
		s.Close()
		return 0
	case "open-rw": // print the error of a read-write open
		s, err := Open(dir, &Options{Small: true})
		if err != nil {
			fmt.Println("error", err)
			return 1
		}
		s.Close()
		return 0
	}
	s, err := Open(dir, &Options{Small: true})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	defer s.Close()
	switch mode {
	case "hold":
		// Hold the store open until the parent closes our stdin.
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin)
		return 0
	case "optimize":
		ctx := context.Background()
		if _, err := s.EnsureTask(ctx, "kill", ""); err != nil {
			fmt.Println("error", err)
			return 1
		}
		train, val := killSets()
		o := &Optimizer{Store: s, Runner: &slowRunner{delay: 4 * time.Millisecond},
			Proposers: []Proposer{FactNotes{Max: 2}, VerifierLessons{}},
			OnEvent: func(e Event) {
				switch e.Kind {
				case "promoted":
					fmt.Printf("promoted %d %d %d\n", e.Version, e.Candidate, e.Rollouts)
				case "rollout":
					fmt.Printf("rollout %d\n", e.Rollouts)
				}
			}}
		_, err := o.Start(ctx, killConfig(train, val))
		fmt.Println("finished", err)
		return 0
	}
	return 2
}

// slowRunner is copyRunner with a delay, so the parent can kill the child
// mid-run; it records calls like copyRunner.
type slowRunner struct {
	copyRunner
	delay time.Duration
}

func (r *slowRunner) Run(ctx context.Context, p Rendered, in Instance) (Outcome, error) {
	time.Sleep(r.delay)
	return r.copyRunner.Run(ctx, p, in)
}

func killSets() (train, val []Instance) {
	for i := range 30 {
		land, city := fmt.Sprintf("Land%02d", i), fmt.Sprintf("City%02d", i)
		train = append(train, Instance{ID: fmt.Sprintf("t%d", i), Input: "Capital of " + land + "?", Answer: city})
		val = append(val, Instance{ID: fmt.Sprintf("v%d", i), Input: "Which city is the capital of " + land + "?", Answer: city})
	}
	return train, val
}

func killConfig(train, val []Instance) RunConfig {
	return RunConfig{Task: "kill", Train: train, Val: val, Budget: 5000, Minibatch: 4, Seed: 11, SeedSystem: "Answer."}
}

func childCmd(t *testing.T, mode, dir string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, childDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	return cmd
}

// TestKillDuringOptimizerRun kills a child process with SIGKILL in the
// middle of an optimizer run, then checks that no promoted version was
// lost and that the run resumes where it stopped without redoing a saved
// rollout.
func TestKillDuringOptimizerRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process for a few seconds")
	}
	dir := filepath.Join(t.TempDir(), "store")
	cmd := childCmd(t, "optimize", dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type promo struct{ seq, cand uint64 }
	var promos []promo
	lastRollout := 0
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch f[0] {
		case "promoted":
			seq, _ := strconv.ParseUint(f[1], 10, 64)
			cand, _ := strconv.ParseUint(f[2], 10, 64)
			promos = append(promos, promo{seq, cand})
		case "rollout":
			lastRollout, _ = strconv.Atoi(f[1])
		case "error", "finished":
			t.Fatalf("child: %s", sc.Text())
		}
		if len(promos) >= 3 && lastRollout >= 150 && !killed {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			killed = true
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatal("the child ended before it could be killed")
	}
	t.Logf("killed after %d promotions, %d rollouts reported", len(promos), lastRollout)

	ctx := context.Background()
	s := openTest(t, dir)
	hist, err := s.History(ctx, "kill")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range promos {
		i := slices.IndexFunc(hist, func(v Version) bool { return v.Seq == p.seq })
		if i < 0 || hist[i].Candidate != p.cand {
			t.Fatalf("promoted version %d (candidate %d) lost; history %+v", p.seq, p.cand, hist)
		}
	}
	cur, err := s.Current(ctx, "kill")
	if err != nil || cur.Seq < promos[len(promos)-1].seq {
		t.Fatalf("current version %+v (%v) is older than the last reported promotion %d", cur, err, promos[len(promos)-1].seq)
	}
	runs, err := s.Runs(ctx, "kill")
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs: %v, %v", runs, err)
	}
	stopped := runs[0]
	if stopped.Status != StatusRunning || stopped.Rollouts < lastRollout {
		t.Fatalf("stored run %s with %d rollouts; the child reported %d", stopped.Status, stopped.Rollouts, lastRollout)
	}
	saved := map[string]bool{}
	s.db.View(func(txn *badger.Txn) error {
		prefix := rolloutPrefix("kill", stopped.ID)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.ValidForPrefix(prefix); it.Next() {
			rest := it.Item().Key()[len(prefix):]
			saved[fmt.Sprintf("%d/%s", idFromKey(rest[:8]), rest[9:])] = true
		}
		return nil
	})
	if len(saved) != stopped.Rollouts {
		t.Fatalf("%d saved outcomes, %d rollouts counted", len(saved), stopped.Rollouts)
	}

	r := &copyRunner{}
	_, val := killSets()
	done, err := (&Optimizer{Store: s, Runner: r, Proposers: []Proposer{FactNotes{Max: 2}, VerifierLessons{}}}).Resume(ctx, "kill", stopped.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.calls {
		if saved[c] {
			t.Fatalf("resumed run redid saved rollout %s", c)
		}
	}
	if done.Rollouts != stopped.Rollouts+len(r.calls) || done.Iteration < stopped.Iteration {
		t.Fatalf("resumed: %d rollouts (%d before + %d new), iteration %d after %d",
			done.Rollouts, stopped.Rollouts, len(r.calls), done.Iteration, stopped.Iteration)
	}
	if done.Status != StatusDone {
		t.Fatalf("resumed run ended %s", done.Status)
	}
	after, _ := s.History(ctx, "kill")
	if len(after) < len(hist) || !slices.EqualFunc(after[:len(hist)], hist, func(a, b Version) bool { return a.Seq == b.Seq && a.Candidate == b.Candidate }) {
		t.Fatal("the resumed run rewrote history")
	}
	final, _ := s.Current(ctx, "kill")
	best, _ := s.Candidate(ctx, "kill", final.Candidate)
	m, _ := best.Mean(valIDs(val))
	t.Logf("resumed %d more rollouts; final validation mean %.3f after %d versions", len(r.calls), m, len(after))
}

// TestStoreLockedByAnotherProcess opens a store held by a child process.
func TestStoreLockedByAnotherProcess(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	cmd := childCmd(t, "hold", dir)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		t.Fatalf("child: %q", line)
	}
	_, err = Open(dir, &Options{Small: true})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("Open of a store held by another process = %v, want ErrLocked", err)
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, &Options{Small: true})
	if err != nil {
		t.Fatalf("Open after the other process exited: %v", err)
	}
	s.Close()
}
