//go:build unix

package main

import "syscall"

// openFileLimit returns how many files the process may open (the soft
// RLIMIT_NOFILE, which the Go runtime raises to the hard limit at start).
func openFileLimit() (uint64, bool) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, false
	}
	return r.Cur, true
}
