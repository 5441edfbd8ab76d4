//go:build race

package signer_test

// raceDetector: the race detector is on; it allocates on its own (and
// sync.Pool drops items at random), so allocation counts are not checked.
const raceDetector = true
