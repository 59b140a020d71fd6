package metrics

import (
	"errors"
	"fmt"
	"math"
)

// Float is the element type of logits: models compute in float32, analysis
// code often in float64.
type Float interface{ ~float32 | ~float64 }

// LogSoftmax returns log softmax(logits) in float64, computed stably as
// x − max − log Σ exp(x − max). Logits of −Inf (masked tokens) get
// probability zero; NaN or +Inf logits, or all −Inf, are an error.
func LogSoftmax[F Float](logits []F) ([]float64, error) {
	if len(logits) == 0 {
		return nil, errors.New("metrics: log-softmax of no logits")
	}
	hi := math.Inf(-1)
	for j, l := range logits {
		x := float64(l)
		if math.IsNaN(x) || math.IsInf(x, 1) {
			return nil, fmt.Errorf("metrics: logit %d is %v", j, x)
		}
		hi = max(hi, x)
	}
	if math.IsInf(hi, -1) {
		return nil, errors.New("metrics: every logit is -Inf")
	}
	sum := 0.0
	for _, l := range logits {
		sum += math.Exp(float64(l) - hi)
	}
	lse := hi + math.Log(sum)
	out := make([]float64, len(logits))
	for j, l := range logits {
		out[j] = float64(l) - lse
	}
	return out, nil
}

// KL returns KL(P‖Q) = Σ_v p_v (log p_v − log q_v) for the next-token
// distributions given by logits p and q over the same vocabulary. It is
// +Inf when Q gives zero probability to a token P can emit. Rounding can
// make a true zero come out as a tiny negative number; it is clamped to 0.
func KL[F Float](p, q []F) (float64, error) {
	if len(p) != len(q) {
		return 0, fmt.Errorf("metrics: KL over vocabularies of different sizes %d and %d", len(p), len(q))
	}
	lp, err := LogSoftmax(p)
	if err != nil {
		return 0, fmt.Errorf("distribution p: %w", err)
	}
	lq, err := LogSoftmax(q)
	if err != nil {
		return 0, fmt.Errorf("distribution q: %w", err)
	}
	kl := 0.0
	for v := range lp {
		if math.IsInf(lp[v], -1) {
			continue // p_v = 0 contributes nothing, whatever q_v is.
		}
		kl += math.Exp(lp[v]) * (lp[v] - lq[v])
	}
	return max(kl, 0), nil
}

// MeanKL returns the mean over positions of KL(P_t‖Q_t), where p[t] and q[t]
// are the logits at position t of two models on the same input (typically
// the base model as P and the adapted model as Q).
func MeanKL[F Float](p, q [][]F) (float64, error) {
	if len(p) == 0 {
		return 0, errors.New("metrics: KL over no positions")
	}
	if len(p) != len(q) {
		return 0, fmt.Errorf("metrics: KL over %d and %d positions", len(p), len(q))
	}
	sum := 0.0
	for t := range p {
		kl, err := KL(p[t], q[t])
		if err != nil {
			return 0, fmt.Errorf("metrics: position %d: %w", t, err)
		}
		sum += kl
	}
	return sum / float64(len(p)), nil
}

// LogLikelihood returns Σ_t log softmax(logits[t])[targets[t]], the natural
// log-likelihood of the target tokens, where logits[t] predicts targets[t].
func LogLikelihood[F Float](logits [][]F, targets []int) (float64, error) {
	if len(logits) != len(targets) {
		return 0, fmt.Errorf("metrics: %d logit rows for %d targets", len(logits), len(targets))
	}
	sum := 0.0
	for t, row := range logits {
		if targets[t] < 0 || targets[t] >= len(row) {
			return 0, fmt.Errorf("metrics: position %d: target %d outside vocabulary of %d", t, targets[t], len(row))
		}
		lp, err := LogSoftmax(row)
		if err != nil {
			return 0, fmt.Errorf("metrics: position %d: %w", t, err)
		}
		sum += lp[targets[t]]
	}
	return sum, nil
}

// Perplexity returns exp(−sumLogLik/tokens): the perplexity of text whose
// tokens have summed natural log-likelihood sumLogLik. Sums over several
// documents may be added before calling, which weights documents by length.
func Perplexity(sumLogLik float64, tokens int) (float64, error) {
	if tokens <= 0 {
		return 0, fmt.Errorf("metrics: perplexity over %d tokens", tokens)
	}
	if math.IsNaN(sumLogLik) || sumLogLik > 0 {
		return 0, fmt.Errorf("metrics: log-likelihood %v is not a sum of log-probabilities (must be <= 0)", sumLogLik)
	}
	return math.Exp(-sumLogLik / float64(tokens)), nil
}
