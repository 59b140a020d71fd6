package parallel

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// TestFor: every index is visited exactly once, whatever the number of workers.
func TestFor(t *testing.T) {
	for _, tc := range []struct{ n, workers int }{{0, 4}, {1, 4}, {7, 1}, {7, 0}, {100, 3}, {5, 16}} {
		t.Run(fmt.Sprintf("n=%d,workers=%d", tc.n, tc.workers), func(t *testing.T) {
			seen := make([]atomic.Int32, tc.n)
			For(tc.n, tc.workers, func(i int) { seen[i].Add(1) })
			for i := range seen {
				if c := seen[i].Load(); c != 1 {
					t.Errorf("index %d visited %d times", i, c)
				}
			}
		})
	}
}

func ExampleFor() {
	squares := make([]int, 5)
	For(len(squares), 2, func(i int) { squares[i] = i * i })
	fmt.Println(squares)
	// Output: [0 1 4 9 16]
}
