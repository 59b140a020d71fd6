package train

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fastslow/fastslow/weights/llama"
)

// checkpointAt runs the base options until step stop and returns the checkpoint file's path.
func checkpointAt(t *testing.T, opt Options, data []llama.Sequence, stop int) string {
	t.Helper()
	opt.CheckpointPath = filepath.Join(t.TempDir(), "ckpt")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := Run(ctx, newBigram(8, 3), data, opt, func(p Progress) {
		if p.Step == stop {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("making checkpoint: %v", err)
	}
	return opt.CheckpointPath
}

// TestCorruptCheckpoint damages a valid checkpoint in many ways; Run must refuse each one with
// ErrCorruptCheckpoint, leave the parameters and the file alone, and never start over.
func TestCorruptCheckpoint(t *testing.T) {
	data := markovData(30, 8, 1)
	opt := baseOptions()
	good, err := os.ReadFile(checkpointAt(t, opt, data, 5))
	if err != nil {
		t.Fatal(err)
	}
	n := len(good)
	flip := func(off int) []byte {
		b := bytes.Clone(good)
		b[off] ^= 0x40
		return b
	}
	cases := map[string][]byte{
		"empty":             {},
		"short header":      good[:10],
		"header only":       good[:ckptHeaderSize],
		"cut in options":    good[:ckptHeaderSize+20],
		"cut in tensors":    good[:n/2],
		"missing checksum":  good[:n-4],
		"one byte short":    good[:n-1],
		"one byte extra":    append(bytes.Clone(good), 0),
		"bad magic":         flip(0),
		"bad version":       flip(8),
		"bad length":        flip(16),
		"bit in options":    flip(ckptHeaderSize + 6),
		"bit in step":       flip(ckptHeaderSize + 4 + 200),
		"bit in tensors":    flip(n - 100),
		"bit in checksum":   flip(n - 1),
		"zeroed tail":       append(bytes.Clone(good[:n-64]), make([]byte, 64)...),
		"other file format": []byte("GGUF\x03\x00\x00\x00 this is not a checkpoint at all......."),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			o := opt
			o.CheckpointPath = filepath.Join(t.TempDir(), "ckpt")
			if err := os.WriteFile(o.CheckpointPath, b, 0o644); err != nil {
				t.Fatal(err)
			}
			obj := newBigram(8, 3)
			before := snapshot(obj)
			_, err := Run(context.Background(), obj, data, o, nil)
			if !errors.Is(err, ErrCorruptCheckpoint) {
				t.Fatalf("error %v, want ErrCorruptCheckpoint", err)
			}
			if !strings.Contains(err.Error(), o.CheckpointPath) {
				t.Errorf("error %q does not name the file", err)
			}
			if testing.Verbose() {
				t.Log(err)
			}
			if obj.calls != 0 || !sameBits(before, snapshot(obj)) {
				t.Error("trained or changed parameters despite the corrupt checkpoint")
			}
			after, err := os.ReadFile(o.CheckpointPath)
			if err != nil || !bytes.Equal(after, b) {
				t.Errorf("the corrupt checkpoint was replaced (%v)", err)
			}
		})
	}
}

// TestResumeMismatch makes a checkpoint and resumes it with changed options, data or parameters:
// each must fail with an error saying what differs, before any parameter changes.
func TestResumeMismatch(t *testing.T) {
	data := markovData(30, 8, 1)
	opt := baseOptions()
	path := checkpointAt(t, opt, data, 5)
	otherData := markovData(30, 8, 2)
	for _, tc := range []struct {
		name   string
		change func(o *Options)
		data   []llama.Sequence
		obj    Objective
		want   string
	}{
		{"learning rate", func(o *Options) { o.LR = 0.01 }, data, newBigram(8, 3), "LR 0.05 then, 0.01 now"},
		{"steps", func(o *Options) { o.Steps = 30 }, data, newBigram(8, 3), "Steps 24 then, 30 now"},
		{"seed and clip", func(o *Options) { o.Seed, o.ClipNorm = 8, 0 }, data, newBigram(8, 3), "ClipNorm 1 then, 0 now, Seed 7 then, 8 now"},
		{"data", func(*Options) {}, otherData, newBigram(8, 3), "different data"},
		{"fewer sequences", func(*Options) {}, data[:29], newBigram(8, 3), "30 sequences then, 29 now"},
		{"parameter shapes", func(*Options) {}, data, newBigram(9, 3), `"w" [8 8], the model's is "w" [9 9]`},
		{"parameter count", func(*Options) {}, data, paramsObjective(newBigram(8, 3).Params()[:1]), "2 parameters, the model has 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := opt
			tc.change(&o)
			o.CheckpointPath = path
			before := snapshot(tc.obj)
			_, err := Run(context.Background(), tc.obj, tc.data, o, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if !sameBits(before, snapshot(tc.obj)) {
				t.Error("parameters changed")
			}
		})
	}
	// Checkpoint placement is not part of the trajectory: changing it resumes fine.
	o := opt
	o.CheckpointPath, o.CheckpointEvery = path, 7
	if res, err := Run(context.Background(), newBigram(8, 3), data, o, nil); err != nil || res.ResumedFrom != 5 {
		t.Fatalf("resume with another CheckpointEvery: from %d, %v", res.ResumedFrom, err)
	}
}

// TestCheckpointIsAtomic checks that saving leaves no temporary files and replaces the old file.
func TestCheckpointIsAtomic(t *testing.T) {
	data := markovData(30, 8, 1)
	opt := baseOptions()
	opt.CheckpointPath = filepath.Join(t.TempDir(), "ckpt")
	opt.CheckpointEvery = 1
	var steps []int
	_, err := Run(context.Background(), newBigram(8, 3), data, opt, func(p Progress) {
		if p.Step > 1 {
			ck, err := openCheckpoint(opt.CheckpointPath)
			if err != nil {
				t.Fatal(err)
			}
			steps = append(steps, ck.state.step)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// At progress of step s the checkpoint of step s-1 is on disk.
	for i, s := range steps {
		if s != i+1 {
			t.Fatalf("at step %d the checkpoint was of step %d", i+2, s)
		}
	}
	entries, err := os.ReadDir(filepath.Dir(opt.CheckpointPath))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only the checkpoint", names)
	}
}

// The environment variables of the child process TestKillAndResume starts from the test binary.
const (
	envKillChild = "FASTSLOW_TRAIN_KILL_CHILD" // checkpoint path
	envKillMode  = "FASTSLOW_TRAIN_KILL_MODE"
)

// killOptions are the options of the SIGKILL test, in parent and child alike.
func killOptions(path, mode string) Options {
	opt := baseOptions()
	opt.Steps = 200
	opt.CheckpointPath = path
	opt.CheckpointEvery = 5
	if mode == "running" {
		opt.CheckpointEvery = 1
	}
	return opt
}

// killChild is the child's side of TestKillAndResume: it trains and reports every step on stdout.
// In mode "blocked" it stops inside the progress callback of step 12 and waits to be killed, so the
// last checkpoint is step 10; in mode "running" it saves every step and keeps going until the kill
// lands wherever it lands, most likely while writing a checkpoint, which takes most of a step's time.
func killChild(path, mode string) {
	out := bufio.NewWriter(os.Stdout)
	_, err := Run(context.Background(), newBigram(8, 3), markovData(30, 8, 1), killOptions(path, mode), func(p Progress) {
		fmt.Fprintf(out, "step %d\n", p.Step)
		out.Flush()
		if mode == "blocked" && p.Step == 12 {
			time.Sleep(time.Hour)
		}
	})
	fmt.Fprintf(out, "finished: %v\n", err)
	out.Flush()
	os.Exit(0)
}

// TestKillAndResume kills a training process with SIGKILL and resumes its run from the checkpoint
// on disk, which must reach the parameters of an uninterrupted run bit for bit.
func TestKillAndResume(t *testing.T) {
	if path := os.Getenv(envKillChild); path != "" {
		killChild(path, os.Getenv(envKillMode))
		return
	}
	data := markovData(30, 8, 1)
	straight := newBigram(8, 3)
	o := killOptions("", "")
	o.CheckpointEvery = 0
	if _, err := Run(context.Background(), straight, data, o, nil); err != nil {
		t.Fatal(err)
	}
	want := snapshot(straight)

	for _, tc := range []struct {
		mode     string
		killAt   int // kill once the child has reported this step
		resumeAt int // expected resume step, or -1 for any
	}{
		{"blocked", 12, 10},
		{"running", 30, -1},
		{"running", 77, -1},
	} {
		t.Run(fmt.Sprintf("%s at %d", tc.mode, tc.killAt), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ckpt")
			cmd := exec.Command(os.Args[0], "-test.run=^TestKillAndResume$")
			cmd.Env = append(os.Environ(), envKillChild+"="+path, envKillMode+"="+tc.mode)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(stdout)
			reached := 0
			for reached < tc.killAt && sc.Scan() {
				if s, ok := strings.CutPrefix(sc.Text(), "step "); ok {
					reached, _ = strconv.Atoi(s)
				} else {
					t.Logf("child: %s", sc.Text())
				}
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			if reached < tc.killAt {
				t.Fatalf("child stopped reporting at step %d", reached)
			}

			obj := newBigram(8, 42)
			res, err := Run(context.Background(), obj, data, killOptions(path, tc.mode), nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.resumeAt >= 0 && res.ResumedFrom != tc.resumeAt {
				t.Errorf("resumed from step %d, want %d", res.ResumedFrom, tc.resumeAt)
			}
			if res.ResumedFrom < tc.killAt-5 || res.ResumedFrom > 200 {
				t.Errorf("resumed from step %d after a kill at step %d", res.ResumedFrom, tc.killAt)
			}
			t.Logf("killed after step %d, resumed from step %d", reached, res.ResumedFrom)
			if !sameBits(snapshot(obj), want) {
				t.Fatal("resumed run ended with different parameters than the straight run")
			}
		})
	}
}

// TestCheckpointBadFieldsWithValidChecksum checks the parser's own bounds: files whose checksum is
// right but whose fields are inconsistent (as a writer bug would produce) are still rejected.
func TestCheckpointBadFieldsWithValidChecksum(t *testing.T) {
	good, err := os.ReadFile(checkpointAt(t, baseOptions(), markovData(30, 8, 1), 5))
	if err != nil {
		t.Fatal(err)
	}
	jsonLen := int(binary.LittleEndian.Uint32(good[ckptHeaderSize:]))
	afterJSON := ckptHeaderSize + 4 + jsonLen
	nLossOff := afterJSON + 32 + 8 + 5*8
	nParamsOff := nLossOff + 8 + 8*5 + 8
	// reseal recomputes the body length and checksum of a modified file.
	reseal := func(b []byte) []byte {
		binary.LittleEndian.PutUint64(b[16:], uint64(len(b)-ckptHeaderSize-4))
		binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
		return b
	}
	put := func(off int, width int, v uint64) []byte {
		b := bytes.Clone(good)
		if width == 4 {
			binary.LittleEndian.PutUint32(b[off:], uint32(v))
		} else {
			binary.LittleEndian.PutUint64(b[off:], v)
		}
		return reseal(b)
	}
	if nl := binary.LittleEndian.Uint64(good[nLossOff:]); nl != 5 {
		t.Fatalf("layout assumption broken: loss count %d, want 5", nl)
	}
	for name, b := range map[string][]byte{
		"options length":  put(ckptHeaderSize, 4, 1<<30),
		"options garbage": put(ckptHeaderSize+4, 4, 0x21212121),
		"loss count":      put(nLossOff, 8, 1<<40),
		"negative count":  put(nLossOff, 8, 1<<63),
		"step vs losses":  put(afterJSON+32+8, 8, 4),
		"param count":     put(nParamsOff, 4, 3),
		"name length":     put(nParamsOff+4, 4, 1<<20),
		"trailing bytes": func() []byte {
			b := bytes.Clone(good[:len(good)-4])
			return reseal(append(b, 0, 0, 0, 0, 0, 0, 0, 0))
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ckpt")
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := openCheckpoint(path)
			if !errors.Is(err, ErrCorruptCheckpoint) {
				t.Fatalf("error %v, want ErrCorruptCheckpoint", err)
			}
			if testing.Verbose() {
				t.Log(err)
			}
		})
	}
}
