package pretrain_test

import (
	"fmt"

	"github.com/fastslow/fastslow/eval/pretrain"
)

// The recipe of the embedded default model, and the way to change it for a quick trial run.
func ExampleDefaultRecipe() {
	r := pretrain.DefaultRecipe()
	fmt.Printf("%s: %d known people, vocabulary %d, %d layers of width %d\n",
		r.Name, r.World.Known, r.VocabSize, r.Model.Layers, r.Model.Dim)

	r.Train.Steps = 100 // a short trial; the result is not the default model any more
	fmt.Println(r.Validate())
	// Output:
	// fastslow-base: 200 known people, vocabulary 1024, 4 layers of width 128
	// <nil>
}

// Correct is the exact-match rule of the evaluation: the answer, then the end of the answer.
func ExampleCorrect() {
	fmt.Println(pretrain.Correct(" Veltmor", "Veltmor"))
	fmt.Println(pretrain.Correct(" Veltmor on 3 May 1990.", "Veltmor"))
	fmt.Println(pretrain.Correct(" Veltmore", "Veltmor"))
	// Output:
	// true
	// true
	// false
}
