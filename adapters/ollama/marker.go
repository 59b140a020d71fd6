package ollama

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ErrForeignModel means a create would replace a model that this package
// did not make (it lacks the marker Marker writes), and the client was not
// told to replace such models (see ReplacingForeign).
var ErrForeignModel = errors.New("ollama: model was not made by fastslow")

// markerPrefix starts the license entry every model created through a
// Client carries.
const markerPrefix = "Created by fastslow as "

// Marker is the license entry a model created as name carries: it names
// the model, so a copy or a derivative under another name (which inherits
// the entry) is not taken for fastslow's own. A license entry is the one
// part of a model that changes neither its weights nor its answers.
func Marker(name string) string { return markerPrefix + fullName(name) + "." }

// ReplacingForeign returns a copy of c that replaces models it did not make
// when asked to create one of the same name (the --force of deploy).
func (c *Client) ReplacingForeign() *Client {
	c2 := *c
	c2.replaceForeign = true
	return &c2
}

// Made reports whether the server's model name carries the marker of a
// model this package created under that name.
func (c *Client) Made(ctx context.Context, name string) (bool, error) {
	show, err := c.show(ctx, name)
	if err != nil {
		return false, err
	}
	return strings.Contains(show.License, Marker(name)), nil
}

// withMarker adds the marker of name to a create request's license.
func withMarker(license any, name string) any {
	switch l := license.(type) {
	case nil:
		return Marker(name)
	case string:
		if l == "" {
			return Marker(name)
		}
		return []string{l, Marker(name)}
	case []string:
		return append(append([]string{}, l...), Marker(name))
	}
	return license
}

// checkReplace refuses to replace an existing model (before is its digest)
// that lacks the marker, unless the client replaces foreign models.
func (c *Client) checkReplace(ctx context.Context, name, before string) error {
	if before == "" || c.replaceForeign {
		return nil
	}
	ours, err := c.Made(ctx, name)
	if err != nil {
		return err
	}
	if !ours {
		return fmt.Errorf("%w: %q exists on %s and fastslow did not make it; refusing to replace it (deploy --force would)",
			ErrForeignModel, name, c.Host())
	}
	return nil
}

// stripMarkers removes fastslow's marker lines from a license text, so that
// a model's settings read as its maker wrote them.
func stripMarkers(license string) string {
	lines := strings.Split(license, "\n")
	out := lines[:0]
	for _, l := range lines {
		if !strings.HasPrefix(l, markerPrefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
