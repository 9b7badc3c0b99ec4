package transfer

import (
	"context"
	"sync"

	"golang.org/x/time/rate"
)

// bufferPool hands out part buffers by size class. A buffer is only held
// while its task holds a slot of the engine's semaphore, so the memory in
// buffers stays near Concurrency x PartSize.
type bufferPool struct {
	mu    sync.Mutex
	pools map[int64]*sync.Pool
}

func (b *bufferPool) get(size int64) *[]byte {
	b.mu.Lock()
	if b.pools == nil {
		b.pools = map[int64]*sync.Pool{}
	}
	p := b.pools[size]
	if p == nil {
		p = &sync.Pool{New: func() any { s := make([]byte, size); return &s }}
		b.pools[size] = p
	}
	b.mu.Unlock()
	return p.Get().(*[]byte)
}

func (b *bufferPool) put(buf *[]byte) {
	b.mu.Lock()
	p := b.pools[int64(cap(*buf))]
	b.mu.Unlock()
	if p != nil {
		*buf = (*buf)[:cap(*buf)]
		p.Put(buf)
	}
}

// sizeClass rounds small sizes up so thousands of small files share a few
// pools instead of one per distinct size.
func sizeClass(n int64) int64 {
	c := int64(64 << 10)
	for c < n {
		c <<= 1
	}
	return c
}

// waitBandwidth blocks until lim allows n more bytes.
func waitBandwidth(ctx context.Context, lim *rate.Limiter, n int64) error {
	if lim == nil {
		return nil
	}
	for n > 0 {
		step := min(n, int64(lim.Burst()))
		if err := lim.WaitN(ctx, int(step)); err != nil {
			return err
		}
		n -= step
	}
	return nil
}
