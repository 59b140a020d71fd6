package tokenizer

import (
	"strings"
	"testing"
)

// BenchmarkEncode reports the encoding speed in tokens per second on real
// prose with a vocabulary trained on it.
func BenchmarkEncode(b *testing.B) {
	text := warAndPeace(b, 256<<10)
	tok := trained(b)
	b.SetBytes(int64(len(text)))
	var n int
	for b.Loop() {
		n = len(tok.Encode(text, false))
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkEncodeLlama32 is BenchmarkEncode with the real llama-3.2
// vocabulary (128k tokens, 280k merges).
func BenchmarkEncodeLlama32(b *testing.B) {
	text := warAndPeace(b, 256<<10)
	tok := llama32(b).ours
	b.SetBytes(int64(len(text)))
	var n int
	for b.Loop() {
		n = len(tok.Encode(text, true))
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkLoadHF measures building the llama-3.2 tokenizer.
func BenchmarkLoadHF(b *testing.B) {
	enc := testdataFile(b, "llama3.2/encoder.json")
	bpe := testdataFile(b, "llama3.2/vocab.bpe")
	for b.Loop() {
		if _, err := LoadHF(strings.NewReader(enc), strings.NewReader(bpe), PreLlamaBPE, llama32Specials); err != nil {
			b.Fatal(err)
		}
	}
}
