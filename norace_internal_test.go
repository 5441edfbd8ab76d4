//go:build !race

package hongbao

const raceDetector = false
