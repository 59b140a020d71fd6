package prompts

// childEnv selects a child-process mode when the test binary re-executes
// itself (see TestMain).
const childEnv = "FASTSLOW_PROMPTS_CHILD"

func runChild(mode string) int { return 2 }
