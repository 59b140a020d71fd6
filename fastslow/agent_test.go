package fastslow_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/internal/learnertest"
	"github.com/fastslow/fastslow/internal/ollamatest"
)

// reworded asks the facts in another wording the model knows from pretraining.
func reworded(q string) string {
	return strings.Replace(q, "Q: Where was ", "Q: In which city was ", 1)
}

// people are the facts as examples.
func people() []fastslow.Example {
	var ex []fastslow.Example
	for _, f := range facts {
		ex = append(ex, fastslow.Example{Prompt: f.question, Completion: " " + f.answer, Answer: f.answer})
	}
	return ex
}

// rightOf counts the facts l answers right, asked as ask words them.
func rightOf(t *testing.T, l *fastslow.Learner, ask func(string) string) int {
	t.Helper()
	right := 0
	for _, e := range people() {
		e.Prompt = ask(e.Prompt)
		out, err := l.Answer(context.Background(), "people", e.Prompt)
		if err != nil {
			t.Fatal(err)
		}
		if e.Correct(out) {
			right++
		}
	}
	return right
}

func same(s string) string { return s }

// weightOpts make rounds small enough for tests.
func weightOpts(o *fastslow.Options) { o.Slow.Steps, o.Slow.LR, o.Slow.Seed = 60, 1e-2, 1 }

// TestFastChannelThenWeights is the README's agent loop measured, under FST and under the weight-only baseline:
// after Feedback, before any weight round, FST's fast channel answers the exact questions; after a weight round
// the exact and the reworded questions are counted (reported; the exact ones required).
func TestFastChannelThenWeights(t *testing.T) {
	if fastslow.RaceEnabled {
		t.Skip("trains for minutes under -race; the plain test run covers it")
	}
	for _, tc := range []struct {
		policy   fastslow.Policy
		wantFast int // exact questions right after feedback, before a weight round
	}{
		{fastslow.PolicyFST, 5},
		{fastslow.PolicyWeights, 0},
	} {
		t.Run(tc.policy.Name(), func(t *testing.T) {
			ctx := context.Background()
			l, err := fastslow.Open(ctx, t.TempDir(), fastslow.WithPolicy(tc.policy), fastslow.WithFlush(fastslow.FlushPolicy{}), fastslow.WithOptions(weightOpts))
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			before, beforeRe := rightOf(t, l, same), rightOf(t, l, reworded)
			for _, e := range people() {
				if _, err := l.Feedback(ctx, fastslow.Correction{Task: "people", Input: e.Prompt, Answer: e.Answer}); err != nil {
					t.Fatal(err)
				}
			}
			fast, fastRe := rightOf(t, l, same), rightOf(t, l, reworded)
			if l.Slow().Handle() != "" {
				t.Fatal("a weight round ran before Flush")
			}
			r, err := l.Flush(ctx, "people")
			if err != nil {
				t.Fatal(err)
			}
			slow, slowRe := rightOf(t, l, same), rightOf(t, l, reworded)
			t.Logf("%s, exact wording / reworded, of 6: before feedback %d / %d; after feedback, no weight round %d / %d; after a weight round (%d steps) %d / %d",
				tc.policy.Name(), before, beforeRe, fast, fastRe, r.WeightSteps, slow, slowRe)
			if fast < tc.wantFast {
				t.Errorf("after feedback the fast channel answers %d of 6 exact questions, want at least %d", fast, tc.wantFast)
			}
			if r.WeightSteps == 0 || slow < 5 {
				t.Errorf("after a weight round of %d steps: %d of 6 exact questions, want at least 5", r.WeightSteps, slow)
			}
			if l.Pending("people") != 0 {
				t.Errorf("%d corrections still pending after Flush", l.Pending("people"))
			}
		})
	}
}

// TestRoundsDoNotBlockServing holds a background weight round in the middle of training (in its Probe hook)
// and shows Answer and Feedback complete meanwhile, served by the version promoted before.
func TestRoundsDoNotBlockServing(t *testing.T) {
	ctx := context.Background()
	hold := learnertest.NewHold()
	opts, events := learnertest.WeightRounds(3, func(o *fastslow.Options) {
		o.Slow.Steps, o.Slow.Chunk, o.Slow.Seed = 6, 3, 1 // the claim is about waiting, not learning
		o.Probe = hold.Probe
	})
	l, err := fastslow.Open(ctx, t.TempDir(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	defer hold.Release() // before Close: a failing test must not leave the round held
	ex := people()
	want, err := l.Answer(ctx, "people", ex[5].Prompt)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ex[:3] {
		if _, err := l.Feedback(ctx, fastslow.Correction{Task: "people", Input: e.Prompt, Answer: e.Answer}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-hold.Held:
	case <-time.After(2 * time.Minute):
		t.Fatal("no background round started after 3 corrections")
	}
	// The round is stopped inside training: serving and feedback go on.
	done := make(chan error, 1)
	go func() {
		got, err := l.Answer(ctx, "people", ex[5].Prompt)
		if err == nil && got != want {
			err = fmt.Errorf("during the round the answer changed from %q to %q", want, got)
		}
		if err == nil {
			_, err = l.Feedback(ctx, fastslow.Correction{Task: "people", Input: ex[3].Prompt, Answer: ex[3].Answer})
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Minute):
		hold.Release()
		t.Fatal("Answer or Feedback waited for the weight round")
	}
	if l.Slow().Handle() != "" {
		t.Fatal("an adapter was promoted while the round was held")
	}
	hold.Release()
	e := <-events
	if e.Err != nil {
		t.Fatal(e.Err)
	}
	if e.Round == nil || e.Round.WeightSteps != 6 || l.Slow().Handle() == "" {
		t.Fatalf("background round: %+v, serving %q", e.Round, l.Slow().Handle())
	}
	if n := l.Pending("people"); n != 1 {
		t.Fatalf("%d corrections pending, want the one given during the round", n)
	}
}

// TestHelperFeedbackThenWait is the process TestCorrectionsSurviveSIGKILL kills: it gives feedback, says so
// and waits.
func TestHelperFeedbackThenWait(t *testing.T) {
	dir := os.Getenv("FASTSLOW_TEST_KILL_DIR")
	if dir == "" {
		t.Skip("run by TestCorrectionsSurviveSIGKILL")
	}
	ctx := context.Background()
	l, err := fastslow.Open(ctx, dir, fastslow.WithPolicy(fastslow.PolicyWeights), fastslow.WithFlush(fastslow.FlushPolicy{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range people() {
		if _, err := l.Feedback(ctx, fastslow.Correction{Task: "people", Input: e.Prompt, Answer: e.Answer}); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Println("READY", l.Pending("people"))
	select {} // killed here, the learner never closed
}

// TestCorrectionsSurviveSIGKILL kills a process right after its Feedback calls; the reopened learner still has
// the corrections pending and learns them.
func TestCorrectionsSurviveSIGKILL(t *testing.T) {
	if fastslow.RaceEnabled {
		t.Skip("trains for minutes under -race; the plain test run covers it")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperFeedbackThenWait$", "-test.v")
	cmd.Env = append(os.Environ(), "FASTSLOW_TEST_KILL_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	ready := ""
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "READY") {
			ready = sc.Text()
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if ready != "READY 6" {
		t.Fatalf("helper said %q (exit: %v)", ready, err)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("helper ended with %v, not by SIGKILL", err)
	}

	ctx := context.Background()
	l, err := fastslow.Open(ctx, dir, fastslow.WithPolicy(fastslow.PolicyWeights), fastslow.WithFlush(fastslow.FlushPolicy{}), fastslow.WithOptions(weightOpts))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if n := l.Pending("people"); n != 6 {
		t.Fatalf("%d corrections pending after the kill, want 6", n)
	}
	before := rightOf(t, l, same)
	if _, err := l.Flush(ctx, "people"); err != nil {
		t.Fatal(err)
	}
	after := rightOf(t, l, same)
	t.Logf("after the kill: %d of 6 right, after the round %d of 6", before, after)
	if after < 5 || l.Pending("people") != 0 {
		t.Fatalf("after the round: %d of 6 right, %d pending", after, l.Pending("people"))
	}
}

// TestTwoLearnersOneOllama: two learners with default names on one Ollama learn contradicting facts and never
// change each other's answers; a third that takes the first one's name is refused before it deploys.
func TestTwoLearnersOneOllama(t *testing.T) {
	if fastslow.RaceEnabled {
		t.Skip("trains for minutes under -race; the plain test run covers it")
	}
	c := ollamatest.Client(t)
	ctx := context.Background()
	teach := func(dir string, shift int, set func(*fastslow.Options)) (*fastslow.Learner, []fastslow.Example, error) {
		l, err := fastslow.Open(ctx, dir, fastslow.WithOllamaClient(c), fastslow.WithPolicy(fastslow.PolicyWeights),
			fastslow.WithFlush(fastslow.FlushPolicy{}), fastslow.WithOptions(set))
		if err != nil {
			t.Fatal(err)
		}
		ex := people()[:3]
		for i := range ex { // learner B is told other cities
			a := facts[(i+shift)%len(facts)].answer
			ex[i].Completion, ex[i].Answer = " "+a, a
		}
		_, err = l.Learn(ctx, "people", ex, ex)
		if h := l.Slow().Handle(); h != "" {
			ollamatest.DeleteOnCleanup(t, h)
		}
		return l, ex, err
	}
	a, exA, err := teach(t.TempDir(), 0, weightOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	accA, err := a.Accuracy(ctx, "people", exA)
	if err != nil {
		t.Fatal(err)
	}
	b, exB, err := teach(t.TempDir(), 3, weightOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a.Slow().Handle() == b.Slow().Handle() {
		t.Fatalf("both learners serve %q", a.Slow().Handle())
	}
	accA2, err := a.Accuracy(ctx, "people", exA)
	if err != nil {
		t.Fatal(err)
	}
	accB, err := b.Accuracy(ctx, "people", exB)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("learner A %.2f before B learned, %.2f after; learner B %.2f", accA, accA2, accB)
	if accA < 1 || accA2 != accA || accB < 1 {
		t.Fatalf("learner A %.2f before B learned, %.2f after; learner B %.2f", accA, accA2, accB)
	}
	name := a.Options().Name
	thief, _, err := teach(t.TempDir(), 3, func(o *fastslow.Options) { weightOpts(o); o.Name = name })
	thief.Close()
	if !errors.Is(err, fastslow.ErrModelTaken) {
		t.Fatalf("a learner named like A deployed (%v)", err)
	}
	if acc, err := a.Accuracy(ctx, "people", exA); err != nil || acc != accA {
		t.Fatalf("learner A %.2f after the refused deploy (%v)", acc, err)
	}
}
