//go:build race

package manifest

// raceEnabled makes the large tests smaller under the race detector, which slows JSON
// encoding tenfold; the non-race run keeps the full size.
const raceEnabled = true
