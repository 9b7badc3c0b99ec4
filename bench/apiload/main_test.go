package main

import (
	"os"
	"testing"
	"time"
)

// cpuOf reads /proc/PID/stat; on this process it must agree with getrusage.
func TestCPUOfSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc here")
	}
	end := time.Now().Add(300 * time.Millisecond)
	for x := 0; time.Now().Before(end); x++ {
		_ = x * x
	}
	got, want := cpuOf(os.Getpid()), selfCPU()
	if got <= 0 || got > want+0.05 || got < want-0.1 {
		t.Errorf("cpuOf(self) = %.2f s, getrusage says %.2f s", got, want)
	}
	if cpuOf(0) != 0 {
		t.Error("cpuOf(0) should be 0")
	}
}
