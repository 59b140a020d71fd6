package prompts

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(runChild(mode))
	}
	code := m.Run()
	cleanupBench()
	os.Exit(code)
}
