package progress_test

import (
	"fmt"
	"os"
	"time"

	"github.com/fastslow/fastslow/internal/progress"
)

func ExampleMeter() {
	// A fake clock where every step takes 2 seconds, so the output is the same on every run.
	t := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return t }

	m := progress.New(os.Stdout, 5, progress.Options{
		Label: "train", Unit: "steps", Mode: progress.Lines, Every: 3 * time.Second, Now: clock,
	})
	defer m.Finish()
	loss := 2.0
	for step := 1; step <= 5; step++ {
		loss *= 0.5
		m.Update(step, fmt.Sprintf("loss %.3f", loss))
		t = t.Add(2 * time.Second)
	}
	// Output:
	// train: 1/5 steps (20%), loss 1.000
	// train: 3/5 steps (60%), 2.0 s/step, ETA 4s, loss 0.250
	// train: 5/5 steps (100%), 2.0 s/step, loss 0.062
}
