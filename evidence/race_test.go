//go:build race

package evidence

// raceEnabled skips the allocation test under the race detector, whose sync.Pool drops
// items at random on purpose.
const raceEnabled = true
