package tokenizer

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// llamaCppSplitter compiles testdata/llamacpp_split.cpp against the llama.cpp
// sources vendored in Ollama v0.6.5 (cached across runs) and returns the
// binary's path. It skips the test when g++ or the sources are missing.
func llamaCppSplitter(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("compiles llama.cpp's unicode code with g++")
	}
	gxx, err := exec.LookPath("g++")
	if err != nil {
		t.Skip("g++ not installed")
	}
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Skipf("go env: %v", err)
	}
	src := filepath.Join(strings.TrimSpace(string(out)), "github.com/ollama/ollama@v0.6.5/llama/llama.cpp/src")
	files := []string{filepath.Join("testdata", "llamacpp_split.cpp"), filepath.Join(src, "unicode.cpp"), filepath.Join(src, "unicode-data.cpp")}
	h := sha256.New()
	for _, f := range append(slices.Clone(files), filepath.Join(src, "unicode.h"), filepath.Join(src, "unicode-data.h")) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Skipf("llama.cpp sources unavailable: %v", err)
		}
		h.Write(data)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	bin := filepath.Join(cache, "fastslow-tokenizer", "llamacpp_split-"+hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := bin + fmt.Sprintf(".tmp%d", os.Getpid())
	cmd := exec.Command(gxx, append([]string{"-O1", "-std=c++17", "-I", src, "-o", tmp}, files...)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("g++: %v\n%s", err, msg)
	}
	if err := os.Rename(tmp, bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// llamaCppWords runs llama.cpp's unicode_regex_split on every input.
func llamaCppWords(t *testing.T, bin, pre string, inputs []string) [][]string {
	t.Helper()
	var in bytes.Buffer
	for _, s := range inputs {
		in.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(s))))
		in.WriteString(s)
	}
	cmd := exec.Command(bin, pre)
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("llamacpp_split %s: %v\n%s", pre, err, stderr.Bytes())
	}
	r := bufio.NewReader(bytes.NewReader(out))
	u32 := func() uint32 {
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			t.Fatalf("read llamacpp_split output: %v", err)
		}
		return binary.LittleEndian.Uint32(b[:])
	}
	res := make([][]string, len(inputs))
	for i := range inputs {
		n := u32()
		for range n {
			w := make([]byte, u32())
			if _, err := io.ReadFull(r, w); err != nil {
				t.Fatalf("read llamacpp_split output: %v", err)
			}
			res[i] = append(res[i], string(w))
		}
	}
	return res
}

// randomText draws strings from code points of every plane (assigned or not),
// the characters the patterns single out, and raw bytes that may not be
// UTF-8 (but never lead bytes of sequences above U+10FFFF, on which
// llama.cpp throws).
func randomText(r *rand.Rand) string {
	pieces := []string{" ", "  ", "\t", "\n", "\r", "\v", "\f", "'", "s", "T", "re", "LL", "7", "a", "\u00a0", "\u3000", "\u0085", "\u2028"}
	var b []byte
	for range 1 + r.IntN(16) {
		switch k := r.IntN(10); {
		case k < 4:
			b = append(b, pieces[r.IntN(len(pieces))]...)
		case k < 6:
			b = utf8.AppendRune(b, rune(r.IntN(0x3000))) // dense scripts and symbols
		case k < 8:
			b = appendCpt(b, rune(r.IntN(0x110000))) // anything, surrogates too
		default:
			c := byte(r.IntN(256))
			if c >= 0xF4 && c <= 0xF7 {
				c = 0xFF
			}
			b = append(b, c)
		}
	}
	return string(b)
}

// TestSplitMatchesLlamaCpp compares our pre-tokenizers with llama.cpp's own
// code, compiled from the sources Ollama v0.6.5 builds: the custom GPT-2 and
// llama-3 splitters, and Qwen2's std::regex over category-collapsed text.
func TestSplitMatchesLlamaCpp(t *testing.T) {
	bin := llamaCppSplitter(t)
	inputs := slices.Clone(trickyStrings)
	// Passages of prose; not too much, as std::regex (Qwen2) is slow.
	lines := strings.SplitAfter(warAndPeace(t, 48<<10), "\n")
	for i := 0; i < len(lines); i += 7 {
		inputs = append(inputs, strings.Join(lines[i:min(i+7, len(lines))], ""))
	}
	r := rand.New(rand.NewPCG(7, 8))
	// Many random strings, joined in batches: llama.cpp compiles the Qwen2
	// std::regex on every call, which dominates when calls are tiny.
	for range 1000 {
		inputs = append(inputs, randomText(r))
	}
	for range 400 {
		var b strings.Builder
		for range 50 {
			b.WriteString(randomText(r))
		}
		inputs = append(inputs, b.String())
	}
	for _, p := range []struct {
		name, pre string
		split     func([]rune, []int) []int
	}{
		{"gpt2", PreGPT2, func(c []rune, e []int) []int { return splitGPT2(c, e) }},
		{"llama3", PreLlamaBPE, func(c []rune, e []int) []int { return splitLlama3(c, e, 3) }},
		{"qwen2", PreQwen2, func(c []rune, e []int) []int { return splitLlama3(c, e, 1) }},
		{"smollm", PreSmolLM, splitSmolLM},
	} {
		t.Run(p.pre, func(t *testing.T) {
			want := llamaCppWords(t, bin, p.name, inputs)
			bad := 0
			for i, in := range inputs {
				var got []string
				for _, w := range words(in, p.split) {
					got = append(got, encodeBytes(w))
				}
				if !slices.Equal(got, want[i]) {
					t.Errorf("split(%+q) %s", in, firstDiff(got, want[i]))
					if bad++; bad > 10 {
						t.Fatal("too many differences")
					}
				}
			}
		})
	}
}
