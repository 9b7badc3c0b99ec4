package provider

import (
	"context"
	"fmt"
	"sync"
)

// Opener opens a driver for one account.
type Opener func(ctx context.Context, cfg Config) (Storage, error)

// The registry is the one piece of global mutable state the project allows:
// drivers add themselves in init, like database/sql drivers.
var (
	registryMu sync.RWMutex
	registry   = map[CloudType]Opener{}
)

// Register makes a driver available for t. It panics when t is not a valid
// cloud type, open is nil, or t already has a driver: all programming errors
// caught at start-up.
func Register(t CloudType, open Opener) {
	if !t.Valid() {
		panic(fmt.Sprintf("provider: Register of unknown cloud type %d", int(t)))
	}
	if open == nil {
		panic("provider: Register with nil Opener for " + t.String())
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[t]; dup {
		panic("provider: Register called twice for " + t.String())
	}
	registry[t] = open
}

// Registered reports whether a driver is registered for t.
func Registered(t CloudType) bool {
	registryMu.RLock()
	defer registryMu.RUnlock()
	_, ok := registry[t]
	return ok
}

// Open opens the driver registered for cfg.CloudType. An unknown cloud type
// is ErrInvalid; a known one without a driver linked in is ErrUnsupported.
func Open(ctx context.Context, cfg Config) (Storage, error) {
	if !cfg.CloudType.Valid() {
		return nil, fmt.Errorf("%w: unknown cloud type %d", ErrInvalid, int(cfg.CloudType))
	}
	registryMu.RLock()
	open := registry[cfg.CloudType]
	registryMu.RUnlock()
	if open == nil {
		return nil, fmt.Errorf("%w: no driver registered for %s (import the driver package or provider/all)", ErrUnsupported, cfg.CloudType)
	}
	return open(ctx, cfg)
}
