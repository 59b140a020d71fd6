package server

import (
	"strings"
	"testing"
)

func TestAnswersEviction(t *testing.T) {
	for _, tc := range []struct {
		name      string
		max, n    int
		inputSize int
		wantKept  int
	}{
		{"by count", 3, 10, 10, 3},
		{"under both limits", 100, 10, 10, 10},
		{"by bytes", 100, 10, maxAnswerBytes/4 + 1, 3},
		{"one over-large answer is still kept", 100, 1, maxAnswerBytes + 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAnswers(tc.max)
			var ids []string
			for range tc.n {
				x := Answer{ID: newID(), Input: strings.Repeat("x", tc.inputSize)}
				a.add(x)
				ids = append(ids, x.ID)
			}
			if len(a.order) != tc.wantKept || len(a.byID) != tc.wantKept {
				t.Fatalf("kept %d (map %d), want %d", len(a.order), len(a.byID), tc.wantKept)
			}
			for i, id := range ids {
				_, ok := a.get(id)
				if want := i >= tc.n-tc.wantKept; ok != want {
					t.Errorf("answer %d kept=%v, want %v (the newest are kept)", i, ok, want)
				}
			}
			total := 0
			for _, x := range a.byID {
				total += size(x)
			}
			if total != a.bytes {
				t.Errorf("bytes %d, answers hold %d", a.bytes, total)
			}
		})
	}
}
