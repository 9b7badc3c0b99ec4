package transfer_test

import "sync/atomic"

type atomicInt = atomic.Int64
