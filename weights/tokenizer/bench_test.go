package tokenizer

import "testing"

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
