package main

import (
	"fmt"
	"strings"

	"github.com/fastslow/fastslow/eval/world"
)

// maxLine is the max_line setting, installed when the configuration is loaded: the longest JSONL line the
// readers accept.
var maxLine int

// readExamples reads a JSONL file of {"prompt","completion"} (or chat "messages") examples; a malformed line is
// named by file and line.
func readExamples(path string) ([]world.Example, error) {
	if path == "" {
		return nil, usagef("--data is required")
	}
	ex, err := world.ReadJSONLWith(path, world.ReadOptions{MaxLine: maxLine})
	if err != nil {
		return nil, err
	}
	if len(ex) == 0 {
		return nil, fmt.Errorf("%s: no examples", path)
	}
	return ex, nil
}

// expected is the text a correct answer must equal: the example's answer if it has one, else its completion,
// compared without surrounding space.
func expected(e world.Example) string {
	if e.Answer != "" {
		return strings.TrimSpace(e.Answer)
	}
	return strings.TrimSpace(e.Completion)
}
