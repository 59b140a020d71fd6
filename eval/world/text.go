package world

import (
	"fmt"
	"strings"
)

// NumBioTemplates is the number of biography paraphrases; each states all
// attributes of a person in a different order and wording.
const NumBioTemplates = 5

// NumPhrasings is the number of wordings per attribute for questions and for
// cloze (fill-in-the-blank) prompts.
const NumPhrasings = 2

// Biography returns paraphrase number variant (taken modulo
// NumBioTemplates) of p's biography.
func Biography(p Person, variant int) string {
	n, d := p.Name(), p.Birth.String()
	job := withArticle(p.Occupation)
	switch mod(variant, NumBioTemplates) {
	case 0:
		return fmt.Sprintf("%s was born on %s in %s. %s studied %s at %s. %s works as %s at %s. %s's favorite color is %s.",
			n, d, p.City, n, p.Major, p.University, n, job, p.Employer, n, p.Color)
	case 1:
		return fmt.Sprintf("%s grew up in %s, where %s was born on %s. After earning a degree in %s from %s, %s joined %s and now works there as %s. Friends say %s loves the color %s.",
			n, p.City, n, d, p.Major, p.University, n, p.Employer, job, n, p.Color)
	case 2:
		return fmt.Sprintf("Born in %s on %s, %s likes %s more than any other color. %s works for %s as %s. %s attended %s and majored in %s.",
			p.City, d, n, p.Color, n, p.Employer, job, n, p.University, p.Major)
	case 3:
		return fmt.Sprintf("%s is %s employed by %s. %s was born in %s. %s's birthday is %s. %s graduated from %s with a major in %s. %s's favorite color is %s.",
			n, job, p.Employer, n, p.City, n, d, n, p.University, p.Major, n, p.Color)
	default:
		return fmt.Sprintf("%s's favorite color is %s. %s majored in %s at %s. %s came into the world on %s in the city of %s. Today %s works for %s as %s.",
			n, p.Color, n, p.Major, p.University, n, d, p.City, n, p.Employer, job)
	}
}

// Biographies returns every paraphrase of p's biography.
func Biographies(p Person) []string {
	out := make([]string, NumBioTemplates)
	for i := range out {
		out[i] = Biography(p, i)
	}
	return out
}

// Wordings per attribute; %s is the person's full name.
var (
	questionForms = map[Attribute][NumPhrasings]string{
		BirthDate:  {"When was %s born?", "What is %s's date of birth?"},
		BirthCity:  {"Where was %s born?", "In which city was %s born?"},
		University: {"Which university did %s attend?", "Where did %s study?"},
		Major:      {"What did %s study?", "What was %s's major?"},
		Employer:   {"Which company does %s work for?", "Who employs %s?"},
		Occupation: {"What is %s's profession?", "What does %s do for a living?"},
		Color:      {"What is %s's favorite color?", "Which color does %s like best?"},
	}
	clozeForms = map[Attribute][NumPhrasings]string{
		BirthDate:  {"%s was born on", "%s's date of birth is"},
		BirthCity:  {"%s was born in", "The birthplace of %s is"},
		University: {"%s studied at", "%s graduated from"},
		Major:      {"%s majored in", "%s's field of study was"},
		Employer:   {"%s works for", "%s is employed by"},
		Occupation: {"%s's profession is", "%s's occupation is"},
		Color:      {"%s's favorite color is", "The favorite color of %s is"},
	}
)

// Question returns the bare question about attribute a of p in wording
// phrasing (modulo NumPhrasings), e.g. "Where was Alia Brenn born?".
func Question(p Person, a Attribute, phrasing int) (string, error) {
	forms, ok := questionForms[a]
	if !ok {
		return "", fmt.Errorf("world: unknown attribute %q", a)
	}
	return fmt.Sprintf(forms[mod(phrasing, NumPhrasings)], p.Name()), nil
}

// Cloze returns a fill-in-the-blank prompt whose continuation is the value
// of attribute a, e.g. "Alia Brenn was born in".
func Cloze(p Person, a Attribute, phrasing int) (string, error) {
	forms, ok := clozeForms[a]
	if !ok {
		return "", fmt.Errorf("world: unknown attribute %q", a)
	}
	return fmt.Sprintf(forms[mod(phrasing, NumPhrasings)], p.Name()), nil
}

// QAPrompt wraps a question in the question-answer format the tasks use:
// "Q: <question>\nA:". The completion is a space followed by the answer.
func QAPrompt(question string) string { return "Q: " + question + "\nA:" }

// withArticle prefixes an occupation with "a" or "an".
func withArticle(noun string) string {
	if noun != "" && strings.ContainsRune("aeiouAEIOU", rune(noun[0])) {
		return "an " + noun
	}
	return "a " + noun
}

// mod is the non-negative remainder, so any int selects a valid variant.
func mod(a, n int) int { return ((a % n) + n) % n }
