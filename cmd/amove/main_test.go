package main

import (
	"context"
	"io"
	"os"
	"strings"
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
	// Where amoveBin builds the binary, once for the package's tests.
	dir, err := os.MkdirTemp("", "amove-bin")
	if err != nil {
		panic(err)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runCLI runs amove in the test process with args, its stdout into out and
// its stderr into errOut, and returns the error the command ended with.
func runCLI(ctx context.Context, out, errOut io.Writer, args ...string) error {
	a := &app{stdin: strings.NewReader(""), stdout: out, stderr: errOut}
	return a.run(ctx, args)
}
