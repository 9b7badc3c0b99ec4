package provider

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// Opener opens a driver for one account.
type Opener func(ctx context.Context, cfg Config) (Storage, error)

// The registry is the one piece of global mutable state the project allows:
// drivers add themselves in init under a name, like database/sql drivers.
var (
	registryMu sync.RWMutex
	registry   = map[string]Opener{}
)

// Register makes a driver available under name. The drivers of this module
// register the names of DriverName's table; a third-party driver registers
// a name of its own and is opened with Config.Driver set to it. Register
// panics when name is empty, open is nil, or name already has a driver: all
// programming errors caught at start-up, as with sql.Register.
func Register(name string, open Opener) {
	if name == "" {
		panic("provider: Register with an empty driver name")
	}
	if open == nil {
		panic("provider: Register with nil Opener for driver " + name)
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[name]; dup {
		panic("provider: Register called twice for driver " + name)
	}
	registry[name] = open
}

// Registered reports whether a driver is registered under name.
func Registered(name string) bool {
	registryMu.RLock()
	defer registryMu.RUnlock()
	_, ok := registry[name]
	return ok
}

// Drivers returns the names of the registered drivers, sorted.
func Drivers() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry))
	for name := range registry {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// ResolveDriver returns cfg with Driver and CloudType made consistent, as
// Open passes it to the driver: an empty Driver becomes CloudType's
// DriverName, and a zero CloudType becomes the product type of a product
// driver name, so the drivers of this module see both. A third-party
// driver name keeps the CloudType it was given, zero or not. A CloudType
// that is neither zero nor one of the 14, an empty configuration, or a
// product driver name paired with another product's CloudType is
// ErrInvalid.
func ResolveDriver(cfg Config) (Config, error) {
	if cfg.CloudType != 0 && !cfg.CloudType.Valid() {
		return cfg, fmt.Errorf("%w: unknown cloud type %d", ErrInvalid, int(cfg.CloudType))
	}
	if cfg.Driver == "" {
		if cfg.CloudType == 0 {
			return cfg, fmt.Errorf("%w: no driver name and no cloud type", ErrInvalid)
		}
		cfg.Driver = cfg.CloudType.DriverName()
		return cfg, nil
	}
	t, product := CloudTypeOfDriver(cfg.Driver)
	switch {
	case !product:
	case cfg.CloudType == 0:
		cfg.CloudType = t
	case cfg.CloudType != t:
		return cfg, fmt.Errorf("%w: driver %q serves %s, not %s", ErrInvalid, cfg.Driver, t, cfg.CloudType)
	}
	return cfg, nil
}

// Open opens the driver named by cfg.Driver, or by cfg.CloudType's
// DriverName when Driver is empty (see ResolveDriver). An inconsistent
// configuration is ErrInvalid; a name without a driver linked in is
// ErrUnsupported.
func Open(ctx context.Context, cfg Config) (Storage, error) {
	cfg, err := ResolveDriver(cfg)
	if err != nil {
		return nil, err
	}
	registryMu.RLock()
	open := registry[cfg.Driver]
	registryMu.RUnlock()
	if open == nil {
		return nil, fmt.Errorf("%w: no driver registered as %q (import the driver package, or provider/all for this module's drivers)", ErrUnsupported, cfg.Driver)
	}
	return open(ctx, cfg)
}

// OpenerOf adapts a driver's Open, which returns its concrete storage type
// (the one constructor shape of this module's drivers), to an Opener. A
// failed open yields a nil Storage rather than a non-nil interface holding
// a nil pointer.
func OpenerOf[S Storage](open func(ctx context.Context, cfg Config) (S, error)) Opener {
	return func(ctx context.Context, cfg Config) (Storage, error) {
		st, err := open(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return st, nil
	}
}
