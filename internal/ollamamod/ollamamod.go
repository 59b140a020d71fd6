// Package ollamamod finds files of the github.com/ollama/ollama module this project depends on, in the module
// cache of every machine that builds it: real vocabularies and prose in its test data, and the chat templates
// Ollama matches models against. Tests and small models read them; nothing is downloaded.
package ollamamod

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// Path is the module's import path.
const Path = "github.com/ollama/ollama"

// Dir returns the module's directory, as `go list -m` reports it (asked once per process).
func Dir() (string, error) { return dir() }

var dir = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", Path).Output()
	if err != nil {
		return "", fmt.Errorf("ollamamod: locate %s: %w", Path, err)
	}
	d := strings.TrimSpace(string(out))
	if d == "" {
		return "", fmt.Errorf("ollamamod: %s is not downloaded", Path)
	}
	return d, nil
})

// Testdata returns the path of a file of the module's test data (tokenizer/testdata from v0.7 on,
// model/testdata in v0.6.5), for example "llama3.2/encoder.json" or "war-and-peace.txt".
func Testdata(name string) (string, error) {
	d, err := Dir()
	if err != nil {
		return "", err
	}
	for _, sub := range []string{"tokenizer/testdata", "model/testdata"} {
		p := filepath.Join(d, filepath.FromSlash(sub), filepath.FromSlash(name))
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("ollamamod: %s is not in the test data of %s", name, d)
}

// Templates returns the Jinja chat templates Ollama's template package matches models against
// (template/index.json), by name.
func Templates() (map[string]string, error) {
	d, err := Dir()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(d, "template", "index.json"))
	if err != nil {
		return nil, fmt.Errorf("ollamamod: %w", err)
	}
	var index []struct{ Name, Template string }
	if err := json.Unmarshal(b, &index); err != nil {
		return nil, fmt.Errorf("ollamamod: template/index.json: %w", err)
	}
	if len(index) == 0 {
		return nil, errors.New("ollamamod: template/index.json lists no templates")
	}
	m := make(map[string]string, len(index))
	for _, e := range index {
		m[e.Name] = e.Template
	}
	return m, nil
}
