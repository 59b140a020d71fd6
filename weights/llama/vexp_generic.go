//go:build !amd64 || purego

package llama

// Without assembly every vector helper reports false and vexp.go computes in Go.

func expAsm(dst, src []float32) bool                              { return false }
func expSumAsm(dst, src []float32, shift float32) (float64, bool) { return 0, false }
func maxScaleAsm(s []float32, scale float32) (float32, bool)      { return 0, false }
func maxAsm(s []float32) (float32, bool)                          { return 0, false }
func scaleAsm(s []float32, c float32) bool                        { return false }
func siluMulAsm(h, g, u []float32) bool                           { return false }
func swigluBackAsm(dg, du, dh, g, u []float32) bool               { return false }
