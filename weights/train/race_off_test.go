//go:build !race

package train

// raceEnabled is set when the tests run with -race.
const raceEnabled = false
