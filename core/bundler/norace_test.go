//go:build !race

package bundler

const raceEnabled = false
