package transfer

import (
	"context"
	"encoding/hex"
	"hash"
	"sync"

	"github.com/amove/amove-go/provider"
)

// seqHash feeds the parts of one item into one digest in part order, so a
// copy in concurrent parts can still check the bytes it read against a
// source digest that does not fold across ranges (MD5, SHA-1, SHA-256,
// Dropbox's content hash, QuickXor). A part waits for its predecessors with
// its buffer but without its engine slot, so memory stays within the job's
// concurrency and an earlier part always gets a slot to finish.
type seqHash struct {
	alg provider.Hash

	mu      sync.Mutex
	h       hash.Hash
	next    int           // number of the next part to hash
	broken  bool          // a part failed: the digest will never be whole
	advance chan struct{} // closed and replaced whenever next or broken changes
}

func newSeqHash(alg provider.Hash) *seqHash {
	h, ok := provider.NewHash(alg)
	if !ok {
		return nil
	}
	return &seqHash{alg: alg, h: h, next: 1, advance: make(chan struct{})}
}

// wake tells waiters that next or broken changed; s.mu is held.
func (s *seqHash) wake() {
	close(s.advance)
	s.advance = make(chan struct{})
}

// fail marks the digest unusable and releases every waiting part.
func (s *seqHash) fail() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.broken {
		s.broken = true
		s.wake()
	}
}

// sum is the digest of parts 1..n, false unless all of them were added.
func (s *seqHash) sum(n int) (provider.Checksum, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken || s.next != n+1 {
		return provider.Checksum{}, false
	}
	return provider.Checksum{Hash: s.alg, Value: hex.EncodeToString(s.h.Sum(nil))}, true
}

// addInOrder hashes part num's bytes once parts 1..num-1 are hashed. The
// caller holds an engine slot (it runs inside job.slot); the slot is given
// back while waiting and taken again before returning.
func (j *job) addInOrder(ctx context.Context, s *seqHash, num int, b []byte) error {
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
