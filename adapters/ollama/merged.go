package ollama

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"

	ollamaapi "github.com/ollama/ollama/api"
)

// Settings are the parts of a model's definition, besides its weights, that shape what it answers: what a
// Modelfile sets with TEMPLATE, SYSTEM, PARAMETER, LICENSE and MESSAGE (and, on newer servers, the renderer
// and parser of its chat format).
type Settings struct {
	// Template is the prompt template (Go template syntax). A model created without one reports the server's
	// default, the bare prompt.
	Template string
	// System is the default system prompt.
	System string
	// Parameters are the default request options, typed as the server expects them ("stop" is a list).
	Parameters map[string]any
	// License is the license text; several licenses come joined by newlines.
	License string
	// Messages are the conversation the model starts from.
	Messages []ollamaapi.Message
	// Renderer and Parser name the built-in chat format of the model, if the server uses one (newer
	// servers; empty on v0.6.5).
	Renderer, Parser string
	// Adapter says whether the model applies a LoRA adapter to its weights (an ADAPTER line in its
	// Modelfile). CreateMerged does not copy it.
	Adapter bool
}

// Settings returns the settings of the model name as the server reports them (/api/show).
func (c *Client) Settings(ctx context.Context, name string) (Settings, error) {
	show, err := c.show(ctx, name)
	if err != nil {
		return Settings{}, err
	}
	params, err := parseParameters(show.Parameters)
	if err != nil {
		return Settings{}, fmt.Errorf("ollama show %q: parameters: %w", name, err)
	}
	return Settings{
		Template: show.Template, System: show.System, Parameters: params, License: stripMarkers(show.License),
		Messages: show.Messages, Renderer: show.Renderer, Parser: show.Parser,
		Adapter: modelfileHas(show.Modelfile, "ADAPTER"),
	}, nil
}

// modelfileHas reports whether a Modelfile has a line with the instruction.
func modelfileHas(modelfile, instruction string) bool {
	for _, line := range strings.Split(modelfile, "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && strings.EqualFold(f[0], instruction) {
			return true
		}
	}
	return false
}

// Blob is one file of a model in the server's store.
type Blob struct {
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
}

// Blobs lists the files of the model name (its config and layers: weights, adapter, template, ...) from
// its manifest in the server's store (Options.ModelsDir), so that disk use can count a file shared by
// several models once. It needs the store on this machine.
func (c *Client) Blobs(name string) ([]Blob, error) {
	if c.opt.ModelsDir == "" {
		return nil, fmt.Errorf("blobs of %q: no models directory known (set OLLAMA_MODELS)", name)
	}
	m, err := readManifest(c.opt.ModelsDir, name)
	if err != nil {
		return nil, fmt.Errorf("blobs of %q: %w", name, err)
	}
	return append([]Blob{m.Config}, m.Layers...), nil
}

// CreateMerged creates (or replaces) the model name from the whole GGUF at ggufPath, a merged model made from
// the existing model from, with from's settings (template, system prompt, parameters, license, messages), so
// that it answers as from does except for what its weights changed. The file is uploaded once; the new model
// is loaded once, so a GGUF the runner rejects is reported here. If anything fails, no new model is left
// under name. Unlike CreateAdapted it works on every server version and engine: the model is an ordinary
// GGUF without an adapter.
func (c *Client) CreateMerged(ctx context.Context, name, from, ggufPath string) error {
	// Check from locally: an unknown name must not start a pull from the registry.
	st, err := c.Settings(ctx, from)
	if err != nil {
		return fmt.Errorf("create %q from %q: %w", name, from, err)
	}
	req := &ollamaapi.CreateRequest{
		Template:   st.Template,
		System:     st.System,
		Parameters: st.Parameters,
		Messages:   st.Messages,
		Renderer:   st.Renderer,
		Parser:     st.Parser,
		License:    st.License, // create adds the marker; "" means none
	}
	return c.createGGUF(ctx, name, ggufPath, req, true)
}

// parseParameters reads the parameters of /api/show: one "name value" line per value, the value printed
// with Go's %#v (quoted strings, plain numbers and booleans), a list as one line per element. Each name is
// typed by the api package's Options, as the CLI types a Modelfile's PARAMETER lines; a name it does not
// know (from a newer server) keeps the value as printed, a number or a boolean where it reads as one.
func parseParameters(s string) (map[string]any, error) {
	vals := map[string][]string{}
	var order []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		key, val, ok := strings.Cut(line, " ")
		if !ok {
			return nil, fmt.Errorf("line %q has no value", line)
		}
		val = strings.TrimSpace(val)
		if strings.HasPrefix(val, `"`) {
			u, err := strconv.Unquote(val)
			if err != nil {
				return nil, fmt.Errorf("line %q: %w", line, err)
			}
			val = u
		}
		if _, seen := vals[key]; !seen {
			order = append(order, key)
		}
		vals[key] = append(vals[key], val)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(vals) == 0 {
		return nil, nil
	}
	out := make(map[string]any, len(vals))
	for _, key := range order {
		v := vals[key]
		typed, err := ollamaapi.FormatParams(map[string][]string{key: v})
		if err == nil {
			out[key] = typed[key]
			continue
		}
		// Unknown to this api package, or a number printed in exponent form for an integer option.
		guess := make([]any, len(v))
		for i, x := range v {
			guess[i] = x
			if b, err := strconv.ParseBool(x); err == nil {
				guess[i] = b
			} else if f, err := strconv.ParseFloat(x, 64); err == nil {
				guess[i] = f
			}
		}
		if len(guess) == 1 {
			out[key] = guess[0]
		} else {
			out[key] = guess
		}
	}
	return out, nil
}
