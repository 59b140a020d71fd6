package main

import (
	"runtime/debug"
	"strings"
)

// version describes this build for --version: the module version when installed from a tagged release,
// else the VCS revision and time stamped by the go command (with "+dirty" for uncommitted changes).
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	var rev, at string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	var parts []string
	if v != "" && v != "(devel)" {
		parts = append(parts, v)
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if dirty {
			rev += "+dirty"
		}
		parts = append(parts, "commit "+rev)
	}
	if at != "" {
		parts = append(parts, at)
	}
	if len(parts) == 0 {
		parts = append(parts, "devel")
	}
	return strings.Join(parts, ", ") + " (" + bi.GoVersion + ")"
}
