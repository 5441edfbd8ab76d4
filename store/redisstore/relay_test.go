package redisstore_test

import (
	"io"
	"net"
	"sync"
)

// relay forwards the TCP connections accepted on listeners to a target,
// as the tests' links between a client and Redis (or a replica and its
// master) do. Requests pass at once; each chunk of the target's replies
// goes through reply first, which may hold it (a slow link) or return
// false to drop it (a cut link).
type relay struct {
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

// start relays the connections of ln to target until ln is closed.
func (r *relay) start(ln net.Listener, target string, reply func() bool) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			r.mu.Lock()
			r.conns = append(r.conns, c, up)
			r.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() {
				buf := make([]byte, 32<<10)
				for {
					n, err := up.Read(buf)
					if n > 0 && reply() {
						if _, werr := c.Write(buf[:n]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				c.Close()
			}()
		}
	}()
}

// closeConns closes every relayed connection and waits for the accept
// loops, whose listeners the caller has closed.
func (r *relay) closeConns() {
	r.mu.Lock()
	for _, c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}
