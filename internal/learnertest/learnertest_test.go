package learnertest

import (
	"context"
	"testing"
	"time"
)

// TestHold: a probe before training (steps 0) passes; the first one after a step waits, with Held closed,
// until Release; later ones pass.
func TestHold(t *testing.T) {
	h := NewHold()
	ctx := context.Background()
	if err := h.Probe(ctx, "t", nil, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.Held:
		t.Fatal("Held closed before a training step")
	default:
	}
	returned := make(chan struct{})
	go func() {
		h.Probe(ctx, "t", nil, 1)
		close(returned)
	}()
	<-h.Held
	select {
	case <-returned:
		t.Fatal("the probe returned before Release")
	case <-time.After(50 * time.Millisecond):
	}
	h.Release()
	<-returned
	h.Release()
	if err := h.Probe(ctx, "t", nil, 2); err != nil {
		t.Fatal(err)
	}
}
