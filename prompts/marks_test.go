package prompts

import (
	"context"
	"errors"
	"testing"
)

func TestMarksSurviveReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir, &Options{Small: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetMark(ctx, "nope", "m", 1); !errors.Is(err, ErrUnknownTask) {
		t.Fatalf("mark of an unknown task: %v", err)
	}
	if _, err := s.EnsureTask(ctx, "t", ""); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Mark(ctx, "t", "m"); err != nil || v != 0 {
		t.Fatalf("unset mark: %d, %v", v, err)
	}
	for _, v := range []uint64{7, 42} {
		if err := s.SetMark(ctx, "t", "m", v); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetMark(ctx, "t", "other", 3); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(dir, &Options{Small: true}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for name, want := range map[string]uint64{"m": 42, "other": 3} {
		if v, err := s.Mark(ctx, "t", name); err != nil || v != want {
			t.Errorf("mark %s after reopen: %d, %v; want %d", name, v, err, want)
		}
	}
}
