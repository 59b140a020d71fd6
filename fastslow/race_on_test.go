//go:build race

package fastslow

// raceEnabled is set when the tests run with -race: tests whose claim is about training results (minutes under
// the race detector) skip then; the plain test run covers them, and the concurrent tests still run.
const raceEnabled = true
