package world_test

import (
	"fmt"
	"log"
	"os"

	"github.com/fastslow/fastslow/eval/world"
)

func ExampleNew() {
	w, err := world.New(world.Options{Seed: 1, Known: 20, Newcomers: 5})
	if err != nil {
		log.Fatal(err)
	}
	p := w.Known[0]
	fmt.Println(world.Biography(p, 0))
	q, _ := world.Question(p, world.BirthCity, 0)
	fmt.Printf("%q\n", world.QAPrompt(q))
	c, _ := world.Cloze(p, world.BirthCity, 0)
	fmt.Printf("%q\n", c)

	tasks, err := w.Stream(world.TaskQA, world.TaskInject)
	if err != nil {
		log.Fatal(err)
	}
	for _, t := range tasks {
		fmt.Printf("%s: %d train, %d validation, %d test\n", t.Name, len(t.Train), len(t.Validation), len(t.Test))
	}
	// Output:
	// Netas Voster was born on 8 November 1951 in Drossholm. Netas Voster studied Astronomy at Eskerwood College. Netas Voster works as a journalist at Lumenor Health. Netas Voster's favorite color is maroon.
	// "Q: Where was Netas Voster born?\nA:"
	// "Netas Voster was born in"
	// qa: 84 train, 28 validation, 28 test
	// inject: 70 train, 17 validation, 18 test
}

func ExampleWriteJSONL() {
	examples := []world.Example{
		{Prompt: "Q: Where was Netas Voster born?\nA:", Completion: " Drossholm", Answer: "Drossholm", Task: world.TaskQA},
	}
	if err := world.WriteJSONL(os.Stdout, examples); err != nil {
		log.Fatal(err)
	}
	// Output:
	// {"prompt":"Q: Where was Netas Voster born?\nA:","completion":" Drossholm","answer":"Drossholm","task":"qa"}
}
