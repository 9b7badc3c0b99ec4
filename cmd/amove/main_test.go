package main

import (
	"os"
	"testing"
)

// envRunMain makes the test binary run main instead of the tests, so that
// a test can start `amove` as a separate process without building it:
// exec.Command(os.Args[0], "serve", ...) with envRunMain=1 in the
// environment (TestAgentsTakeOver).
const envRunMain = "AMOVE_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envRunMain) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}
