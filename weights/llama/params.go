package llama

// Param is one trainable tensor and its gradient buffer. Data and Grad have the same length; Shape is in ggml
// order (Shape[0] is the fastest-varying dimension), so a weight matrix with n_in inputs and n_out outputs has
// Shape {n_in, n_out} and is stored row-major as n_out rows of n_in values.
type Param struct {
	Name  string
	Shape []int
	Data  []float32
	Grad  []float32
}

// Sequence is one training or scoring sequence: the loss covers the predictions of Tokens[i] for every
// i >= Start (Start >= 1), so a prompt's tokens can be context only and the completion carries the loss.
type Sequence struct {
	Tokens []int32
	Start  int
}
