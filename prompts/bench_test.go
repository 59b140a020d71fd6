package prompts

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// The retrieval benchmark builds one store of FASTSLOW_BENCH_NOTES notes
// (default 1,000,000) of real English prose, once per test binary run, and
// reports:
//
//	writes/s        notes written per second while building (batches of 10,000)
//	write-cpu-us    process CPU time per note written (all threads)
//	p50-ms, p99-ms  wall-clock latency of a top-10 Retrieve (records loaded)
//	p99-cpu-ms      CPU time of the same queries (the work, without waiting
//	                for a core on a shared machine)
//	recall@10       share of the exhaustive BM25 top 10 returned
//	exact-%         queries whose answer is provably exact
//
// Run: go test -run '^$' -bench Retrieve1M -benchtime 2000x ./prompts/

const benchTask = "bench"

var bench struct {
	once    sync.Once
	err     error
	s       *Store
	dir     string
	notes   int
	writes  float64 // notes per second
	cpuNote time.Duration
	compact time.Duration
	queries []string
	exact   map[string][]Hit
}

func benchNotes() int {
	if n, err := strconv.Atoi(os.Getenv("FASTSLOW_BENCH_NOTES")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

func benchStore(b *testing.B) {
	words := prose(b)
	bench.once.Do(func() {
		ctx := context.Background()
		bench.notes = benchNotes()
		bench.dir, bench.err = os.MkdirTemp("", "fastslow-bench-*")
		if bench.err != nil {
			return
		}
		if bench.s, bench.err = Open(bench.dir, nil); bench.err != nil {
			return
		}
		if _, bench.err = bench.s.CreateTask(ctx, Task{Name: benchTask}); bench.err != nil {
			return
		}
		notes := proseNotes(words, bench.notes, 1)
		start, cpu := time.Now(), processCPU()
		for i := 0; i < len(notes); i += 10_000 {
			if _, bench.err = bench.s.AddNotes(ctx, benchTask, notes[i:min(i+10_000, len(notes))]); bench.err != nil {
				return
			}
		}
		bench.writes = float64(len(notes)) / time.Since(start).Seconds()
		bench.cpuNote = (processCPU() - cpu) / time.Duration(len(notes))
		start = time.Now()
		if bench.err = bench.s.Compact(ctx, benchTask); bench.err != nil {
			return
		}
		bench.compact = time.Since(start)
		bench.queries = proseQueries(notes, 1000, 2)
		bench.exact = map[string][]Hit{}
		for _, q := range bench.queries {
			var hits []Hit
			if hits, _, bench.err = bench.s.search(ctx, benchTask, KindNote, q, 10, 1<<40); bench.err != nil {
				return
			}
			bench.exact[q] = hits
		}
		fmt.Fprintf(os.Stderr, "built %d notes: %.0f writes/s, %v CPU per note; compact %v\n",
			bench.notes, bench.writes, bench.cpuNote, bench.compact)
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
}

func cleanupBench() {
	if bench.s != nil {
		bench.s.Close()
	}
	if bench.dir != "" {
		os.RemoveAll(bench.dir)
	}
}

func BenchmarkRetrieve1M(b *testing.B) {
	benchStore(b)
	ctx := context.Background()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	wall := make([]time.Duration, 0, b.N)
	cpu := make([]time.Duration, 0, b.N)
	var found, total, exact int
	b.ResetTimer()
	for i := range b.N {
		q := bench.queries[i%len(bench.queries)]
		t0, c0 := time.Now(), threadCPU()
		r, err := bench.s.Retrieve(ctx, benchTask, q, RetrieveOptions{Notes: 10})
		c1, t1 := threadCPU(), time.Now()
		if err != nil {
			b.Fatal(err)
		}
		wall = append(wall, t1.Sub(t0))
		cpu = append(cpu, c1-c0)
		want := bench.exact[q]
		for _, w := range want {
			for _, h := range r.Notes {
				// A tie with the exhaustive 10th score counts as found.
				if h.Item.ID == w.ID || h.Score >= want[len(want)-1].Score-1e-9 && h.Score <= w.Score+1e-9 {
					found++
					break
				}
			}
		}
		total += len(want)
		if _, st, _ := bench.s.search(ctx, benchTask, KindNote, q, 10, DefaultMaxPostings); st.Exact {
			exact++
		}
	}
	b.StopTimer()
	slices.Sort(wall)
	slices.Sort(cpu)
	pct := func(d []time.Duration, p float64) float64 {
		return float64(d[min(len(d)-1, int(p*float64(len(d))))]) / 1e6
	}
	b.ReportMetric(pct(wall, 0.50), "p50-ms")
	b.ReportMetric(pct(wall, 0.99), "p99-ms")
	b.ReportMetric(pct(cpu, 0.99), "p99-cpu-ms")
	b.ReportMetric(float64(found)/float64(max(total, 1)), "recall@10")
	b.ReportMetric(100*float64(exact)/float64(b.N), "exact-%")
	b.ReportMetric(bench.writes, "writes/s")
	b.ReportMetric(float64(bench.cpuNote)/1e3, "write-cpu-us")
}

// BenchmarkBatchWrite measures batched note writes into a fresh store:
// b.N notes in AddNotes batches of 10,000.
func BenchmarkBatchWrite(b *testing.B) {
	words := prose(b)
	ctx := context.Background()
	s, err := Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateTask(ctx, Task{Name: benchTask}); err != nil {
		b.Fatal(err)
	}
	notes := proseNotes(words, b.N, 7)
	b.ResetTimer()
	for i := 0; i < len(notes); i += 10_000 {
		if _, err := s.AddNotes(ctx, benchTask, notes[i:min(i+10_000, len(notes))]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}
