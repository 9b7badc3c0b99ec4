package provider

import (
	"crypto/sha256"
	"hash"

	"github.com/amove/amove-go/provider/hash/quickxor"
)

// dropboxBlock is the block size of Dropbox's content_hash.
const dropboxBlock = 4 << 20

// dropboxHash is Dropbox's content_hash: SHA-256 over the concatenated
// SHA-256 digests of 4 MiB blocks.
type dropboxHash struct {
	all   hash.Hash
	block hash.Hash
	n     int
}

// NewDropboxHash returns a hash.Hash computing Dropbox's content_hash.
func NewDropboxHash() hash.Hash {
	return &dropboxHash{all: sha256.New(), block: sha256.New()}
}

func (c *dropboxHash) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		k := min(len(p), dropboxBlock-c.n)
		c.block.Write(p[:k])
		c.n += k
		p = p[k:]
		if c.n == dropboxBlock {
			c.all.Write(c.block.Sum(nil))
			c.block.Reset()
			c.n = 0
		}
	}
	return total, nil
}

func (c *dropboxHash) Sum(b []byte) []byte {
	all := sha256.New()
	// Copy the running state: Sum must not change it.
	if st, err := c.all.(interface{ MarshalBinary() ([]byte, error) }).MarshalBinary(); err == nil {
		_ = all.(interface{ UnmarshalBinary([]byte) error }).UnmarshalBinary(st)
	}
	if c.n > 0 {
		all.Write(c.block.Sum(nil))
	}
	return all.Sum(b)
}

func (c *dropboxHash) Reset() {
	c.all.Reset()
	c.block.Reset()
	c.n = 0
}

func (c *dropboxHash) Size() int      { return sha256.Size }
func (c *dropboxHash) BlockSize() int { return sha256.BlockSize }

// NewQuickXor returns a hash.Hash computing Microsoft's QuickXorHash; the
// implementation lives in the leaf package quickxor, which the OneDrive fake
// imports without importing a driver.
func NewQuickXor() hash.Hash { return quickxor.New() }
