package transfer

import (
	"context"
	"encoding/hex"
	"sync"
	"sync/atomic"

	"github.com/amove/amove-go/provider"
)

// readCheck is what a copy in concurrent parts learns about the bytes it
// read from the source, when neither a folding digest (CRC32C...) nor a
// single request covers them:
//   - a source digest that does not fold across ranges (MD5, SHA-1,
//     SHA-256, Dropbox's content hash, QuickXor) is fed the parts in part
//     order. A part waits for its predecessors with its buffer but without
//     its engine slot, so memory stays within the job's concurrency and an
//     earlier part always gets a slot to finish;
//   - a source without a digest may still have readers that vouch for the
//     ranges they return (provider.VerifiedReader): vouched counts them.
//
// It lives for one run of the item: a resumed item whose earlier parts
// were sent by another run cannot rebuild either and stays unverified.
type readCheck struct {
	alg     provider.Hash // empty: no digest to feed
	vouched atomic.Int64

	mu      sync.Mutex
	h       provider.Digest   // closed once broken or summed
	final   provider.Checksum // the digest of every part, once summed
	next    int               // number of the next part to hash
	broken  bool              // a part failed: the digest will never be whole
	advance chan struct{}     // closed and replaced whenever next or broken changes
}

func newReadCheck(alg provider.Hash) *readCheck {
	h, _ := provider.NewHash(alg)
	if h == nil {
		alg = ""
	}
	return &readCheck{alg: alg, h: h, next: 1, advance: make(chan struct{})}
}

// wake tells waiters that next or broken changed; s.mu is held.
func (s *readCheck) wake() {
	close(s.advance)
	s.advance = make(chan struct{})
}

// fail marks the digest unusable and releases every waiting part.
func (s *readCheck) fail() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.broken {
		s.broken = true
		if s.h != nil && s.final.IsZero() {
			s.h.Close()
		}
		s.wake()
	}
}

// sum is the digest of parts 1..n, false unless all of them were added.
func (s *readCheck) sum(n int) (provider.Checksum, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.h == nil || s.broken || s.next != n+1 {
		return provider.Checksum{}, false
	}
	if s.final.IsZero() {
		s.final = provider.Checksum{Hash: s.alg, Value: hex.EncodeToString(s.h.Sum(nil))}
		s.h.Close()
	}
	return s.final, true
}

// addInOrder hashes part num's bytes once parts 1..num-1 are hashed. The
// caller holds an engine slot (it runs inside job.slot); the slot is given
// back while waiting and taken again before returning.
func (j *job) addInOrder(ctx context.Context, s *readCheck, num int, b []byte) error {
	if s.h == nil {
		return nil
	}
	for {
		s.mu.Lock()
		switch {
		case s.broken:
			s.mu.Unlock()
			return nil // another part failed; the item fails with it
		case s.next == num:
			s.h.Write(b)
			s.next++
			s.wake()
			s.mu.Unlock()
			return nil
		}
		ch := s.advance
		s.mu.Unlock()
		j.e.sem.Release(1)
		select {
		case <-ch:
		case <-ctx.Done():
		}
		// Taken again whatever ctx says: job.slot releases it on return.
		_ = j.e.sem.Acquire(context.Background(), 1)
		if err := ctx.Err(); err != nil {
			s.fail()
			return err
		}
	}
}
