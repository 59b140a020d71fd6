package tokenizer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// llamaOracle is a running testdata/llamaoracle: the llama.cpp of Ollama
// v0.6.5, through the very Go binding its runner uses, tokenizing with a
// vocabulary-only GGUF.
type llamaOracle struct {
	cmd *exec.Cmd
	in  *bufio.Writer
	out *bufio.Reader
}

// buildLlamaOracle builds testdata/llamaoracle once per test binary.
var buildLlamaOracle = sync.OnceValues(func() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	bin := filepath.Join(cache, "fastslow-tokenizer", "llamaoracle")
	src, err := filepath.Abs(filepath.Join("testdata", "llamaoracle"))
	if err != nil {
		return "", err
	}
	env := append(os.Environ(), "CGO_ENABLED=1", "GOFLAGS=-mod=mod", "GOWORK=off")
	// Compiling llama.cpp takes minutes on a cold build cache; do it only
	// when asked, or when Go has it cached already (as after building the
	// Ollama v0.6.5 server on this machine).
	if os.Getenv("FASTSLOW_LLAMACPP") != "1" {
		list := exec.Command("go", "list", "-f", "{{.Stale}}", "github.com/ollama/ollama/llama")
		list.Dir, list.Env = src, env
		out, err := list.Output()
		if err != nil || strings.TrimSpace(string(out)) != "false" {
			return "", errSkip{fmt.Sprintf("llama.cpp (Ollama v0.6.5) is not in the Go build cache (%v); set FASTSLOW_LLAMACPP=1 to build it", err)}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Dir, build.Env = src, env
	if msg, err := build.CombinedOutput(); err != nil {
		if inCI() { // CI runs the oracle: a build that fails there is a failure, not a reason to skip
			return "", fmt.Errorf("cannot build the llama.cpp oracle: %v\n%s", err, msg)
		}
		return "", errSkip{fmt.Sprintf("cannot build the llama.cpp oracle: %v\n%s", err, msg)}
	}
	return bin, nil
})

// inCI reports whether the tests run in CI (CI=true), as ollamatest.InCI does (this package cannot import it:
// ollamatest depends on weights, which depends on this package).
func inCI() bool {
	v, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && v
}

// errSkip is a reason to skip rather than fail.
type errSkip struct{ msg string }

func (e errSkip) Error() string { return e.msg }

// startLlamaOracle starts the llama.cpp oracle on a GGUF holding md. It is
// skipped in -short mode and when the oracle cannot be built.
func startLlamaOracle(t *testing.T, md []KV) *llamaOracle {
	t.Helper()
	if testing.Short() {
		t.Skip("runs llama.cpp through cgo")
	}
	bin, err := buildLlamaOracle()
	if skip, ok := err.(errSkip); ok {
		t.Skip(skip.msg)
	}
	if err != nil {
		t.Fatal(err)
	}

	path := filepath.Join(t.TempDir(), "vocab.gguf")
	if err := writeVocabGGUF(path, md); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	o := &llamaOracle{cmd: cmd, in: bufio.NewWriter(stdin), out: bufio.NewReader(stdout)}
	t.Cleanup(func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("llamaoracle: %v\n%s", err, lastLines(stderr.String(), 20))
		}
	})
	return o
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func (o *llamaOracle) tokenize(t *testing.T, text string, addSpecial bool) []int32 {
	t.Helper()
	add := byte(0)
	if addSpecial {
		add = 1
	}
	o.in.WriteByte('T')
	o.in.WriteByte(add)
	o.in.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(text))))
	o.in.WriteString(text)
	if err := o.in.Flush(); err != nil {
		t.Fatalf("llamaoracle: %v", err)
	}
	n := o.u32(t)
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(o.u32(t))
	}
	return ids
}

func (o *llamaOracle) piece(t *testing.T, id int32) string {
	t.Helper()
	o.in.WriteByte('P')
	o.in.Write(binary.LittleEndian.AppendUint32(nil, uint32(id)))
	if err := o.in.Flush(); err != nil {
		t.Fatalf("llamaoracle: %v", err)
	}
	b := make([]byte, o.u32(t))
	if _, err := io.ReadFull(o.out, b); err != nil {
		t.Fatalf("llamaoracle: %v", err)
	}
	return string(b)
}

func (o *llamaOracle) u32(t *testing.T) uint32 {
	t.Helper()
	var b [4]byte
	if _, err := io.ReadFull(o.out, b[:]); err != nil {
		t.Fatalf("llamaoracle died: %v", err)
	}
	return binary.LittleEndian.Uint32(b[:])
}

// writeVocabGGUF writes a tensor-less GGUF v3 file with the tokenizer
// metadata and the few llama hyper-parameters a vocabulary-only load reads.
func writeVocabGGUF(path string, md []KV) error {
	kvs := append([]KV{
		{"general.architecture", "llama"},
		{"general.name", "tokenizer-test"},
		{"llama.context_length", uint32(2048)},
		{"llama.embedding_length", uint32(64)},
		{"llama.block_count", uint32(1)},
		{"llama.feed_forward_length", uint32(128)},
		{"llama.attention.head_count", uint32(1)},
		{"llama.attention.layer_norm_rms_epsilon", float32(1e-5)},
	}, md...)
	var b bytes.Buffer
	le := binary.LittleEndian
	str := func(s string) {
		b.Write(le.AppendUint64(nil, uint64(len(s))))
		b.WriteString(s)
	}
	b.WriteString("GGUF")
	b.Write(le.AppendUint32(nil, 3))
	b.Write(le.AppendUint64(nil, 0))
	b.Write(le.AppendUint64(nil, uint64(len(kvs))))
	for _, kv := range kvs {
		str(kv.Key)
		switch v := kv.Value.(type) {
		case uint32:
			b.Write(le.AppendUint32(nil, 4))
			b.Write(le.AppendUint32(nil, v))
		case float32:
			b.Write(le.AppendUint32(nil, 6))
			b.Write(le.AppendUint32(nil, math.Float32bits(v)))
		case bool:
			b.Write(le.AppendUint32(nil, 7))
			if v {
				b.WriteByte(1)
			} else {
				b.WriteByte(0)
			}
		case string:
			b.Write(le.AppendUint32(nil, 8))
			str(v)
		case []string:
			b.Write(le.AppendUint32(nil, 9))
			b.Write(le.AppendUint32(nil, 8))
			b.Write(le.AppendUint64(nil, uint64(len(v))))
			for _, s := range v {
				str(s)
			}
		case []float32:
			b.Write(le.AppendUint32(nil, 9))
			b.Write(le.AppendUint32(nil, 6))
			b.Write(le.AppendUint64(nil, uint64(len(v))))
			for _, x := range v {
				b.Write(le.AppendUint32(nil, math.Float32bits(x)))
			}
		case []int32:
			b.Write(le.AppendUint32(nil, 9))
			b.Write(le.AppendUint32(nil, 5))
			b.Write(le.AppendUint64(nil, uint64(len(v))))
			for _, x := range v {
				b.Write(le.AppendUint32(nil, uint32(x)))
			}
		default:
			return fmt.Errorf("gguf: unsupported value %T for %s", v, kv.Key)
		}
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// oracleCases are the inputs compared with llama.cpp: tricky strings, prose
// passages, random text (invalid UTF-8 included) and special tokens mixed in.
func oracleCases(t *testing.T, specials []string) []string {
	inputs := slices.Clone(trickyStrings)
	lines := strings.SplitAfter(warAndPeace(t, 128<<10), "\n")
	for i := 0; i < len(lines); i += 5 {
		inputs = append(inputs, strings.Join(lines[i:min(i+5, len(lines))], ""))
	}
	r := rand.New(rand.NewPCG(9, 10))
	for range 2000 {
		s := randomText(r)
		if len(specials) > 0 && r.IntN(3) == 0 {
			i := r.IntN(len(s) + 1)
			for i > 0 && i < len(s) && !utf8.RuneStart(s[i]) {
				i--
			}
			s = s[:i] + specials[r.IntN(len(specials))] + s[i:]
		}
		inputs = append(inputs, s)
	}
	return inputs
}

// compareWithLlamaCpp compares Encode on the oracle cases and the piece of
// every id checkPiece selects (nil: all) with llama.cpp run on tok's
// metadata. Ollama's TokenToPiece trims trailing NUL bytes off llama.cpp's
// piece. It returns how many texts and pieces it compared.
func compareWithLlamaCpp(t *testing.T, tok Tokenizer, specials []string, checkPiece func(id int32) bool) (texts, pieces int) {
	t.Helper()
	o := startLlamaOracle(t, tok.Metadata())
	bad := 0
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf(format, args...)
		if bad++; bad > 10 {
			t.Fatal("too many differences")
		}
	}
	cases := oracleCases(t, specials)
	for i, s := range cases {
		add := i%2 == 0
		want := o.tokenize(t, s, add)
		if got := tok.Encode(s, add); !slices.Equal(got, want) {
			fail("Encode(%+.80q, %v) = %v, llama.cpp %v", s, add, got, want)
		}
	}
	for id := range int32(tok.Size()) {
		if checkPiece != nil && !checkPiece(id) {
			continue
		}
		pieces++
		if got, want := tok.Piece(id), o.piece(t, id); strings.TrimRight(got, "\x00") != want {
			fail("Piece(%d) = %q, llama.cpp %q", id, got, want)
		}
	}
	return len(cases), pieces
}

// TestEncodeMatchesLlamaCpp compares Encode and Piece with llama.cpp itself
// for our own trained vocabularies (each pre-tokenizer) and for the real
// llama-3.2 vocabulary.
func TestEncodeMatchesLlamaCpp(t *testing.T) {
	for _, pre := range []string{PreGPT2, PreLlamaBPE, PreQwen2, PreSmolLM} {
		t.Run("trained/"+pre, func(t *testing.T) {
			tok, err := Train(context.Background(), append(syntheticCorpus(), warAndPeace(t, 256<<10)), TrainOptions{VocabSize: 1500, Pre: pre})
			if err != nil {
				t.Fatal(err)
			}
			compareWithLlamaCpp(t, tok, DefaultSpecials, nil)
		})
	}
	t.Run("llama-3.2", func(t *testing.T) {
		compareWithLlamaCpp(t, llama32(t).ours, []string{"<|begin_of_text|>", "<|end_of_text|>"}, nil)
	})
}
