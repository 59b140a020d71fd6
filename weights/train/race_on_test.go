//go:build race

package train

// raceEnabled is set when the tests run with -race, whose shadow memory makes resident-memory measurements
// meaningless; those tests skip then (the plain run covers them).
const raceEnabled = true
