package llama_test

import (
	"fmt"

	"github.com/fastslow/fastslow/weights/llama"
)

// ExampleGemm multiplies a 2×3 matrix by the transpose of another 2×3 matrix, the layout of a projection
// y = x·Wᵀ with W stored as GGUF stores weights (one row per output).
func ExampleGemm() {
	x := []float32{1, 2, 3, 4, 5, 6}  // 2 rows of 3 inputs
	w := []float32{1, 0, 0, 0, 1, -1} // 2 outputs: the first input, the second minus the third
	y := make([]float32, 4)
	if err := llama.Gemm(false, true, 2, 2, 3, 1, x, 3, w, 3, false, y, 2); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(y)
	// Output: [1 -1 4 -1]
}
