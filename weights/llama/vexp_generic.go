//go:build !amd64 || purego

package llama

// expAsm reports false: there is no assembly here.
func expAsm(dst, src []float32) bool { return false }
