package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/internal/dirhash"
	"github.com/fastslow/fastslow/prompts"
)

// TestPromptsIntegrity: rm snapshots first; a damaged store is refused by a read command with one clear
// line and left byte-identical; doctor says what is wrong; restore brings the snapshot back; backup and
// doctor --json work on a healthy store.
func TestPromptsIntegrity(t *testing.T) {
	home := t.TempDir()
	seedStore(t, home)
	env := []string{"FASTSLOW_HOME=" + home}
	dir := promptsDir(home)

	var removed map[string][]string
	runJSON(t, env, &removed, "prompts", "rm", "math", "--json")
	var list promptsListOutput
	runJSON(t, env, &list, "prompts", "list", "--json")
	if len(list.Tasks) != 1 || list.Tasks[0].Name != "qa" {
		t.Fatalf("after rm: %+v", list.Tasks)
	}

	var c prompts.Checkup
	runJSON(t, env, &c, "prompts", "doctor", "--json")
	if c.Tasks != 1 || c.Keys == 0 || len(c.Snapshots) == 0 {
		t.Errorf("doctor: %+v", c)
	}
	backup := filepath.Join(t.TempDir(), "b.backup")
	if _, stderr, code := runCLI(t, env, "prompts", "backup", backup); code != 0 {
		t.Fatalf("backup: exit %d, %s", code, stderr)
	}
	if err := prompts.VerifyBackup(backup); err != nil {
		t.Fatal(err)
	}

	// The MANIFEST cut by 3 bytes, as in issue 14.
	fi, err := os.Stat(filepath.Join(dir, "MANIFEST"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(dir, "MANIFEST"), fi.Size()-3); err != nil {
		t.Fatal(err)
	}
	before := dirhash.Digest(t, dir)
	for _, args := range [][]string{{"prompts", "list"}, {"prompts", "show", "qa"}, {"prompts", "export"}, {"prompts", "doctor"}, {"prompts", "rm", "qa"}} {
		stdout, stderr, code := runCLI(t, env, args...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code != exitFailure || len(lines) != 1 || !strings.Contains(stderr, "corrupt") || !strings.Contains(stderr, "prompts restore") || stdout != "" {
			t.Errorf("%v on a damaged store: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
		if dirhash.Digest(t, dir) != before {
			t.Fatalf("%v changed the damaged store", args)
		}
	}

	// restore brings back the newest snapshot: the one rm took, with math.
	stdout, stderr, code := runCLI(t, env, "prompts", "restore")
	if code != 0 || !strings.Contains(stdout, "kept in") {
		t.Fatalf("restore: exit %d, %s%s", code, stdout, stderr)
	}
	runJSON(t, env, &list, "prompts", "list", "--json")
	if len(list.Tasks) != 2 {
		t.Fatalf("after restore: %+v", list.Tasks)
	}
	// and a named backup: the state after rm.
	if _, stderr, code := runCLI(t, env, "prompts", "restore", backup); code != 0 {
		t.Fatalf("restore %s: exit %d, %s", backup, code, stderr)
	}
	runJSON(t, env, &list, "prompts", "list", "--json")
	if len(list.Tasks) != 1 {
		t.Fatalf("after restoring the backup: %+v", list.Tasks)
	}
	if _, stderr, code := runCLI(t, env, "prompts", "rm", "nosuch"); code != exitFailure || !strings.Contains(stderr, "unknown task") {
		t.Errorf("rm of an unknown task: exit %d, %s", code, stderr)
	}
}
