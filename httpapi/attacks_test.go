package httpapi

import (
	"testing"
)

// attack is one row of TestAttacks: it performs one attack of the
// "Security" issue (docs/security.md) against a fresh agent and fails if
// the attack succeeds. Each row asserts the exact refusal (status, error
// code) and that nothing was written, started or sent.
type attack struct {
	name string
	// opts are the agent options of the row's env.
	opts []Option
	// env, when set, builds the row's agent instead of newMemoryEnv(t,
	// opts...) (rows that need real drivers or special options).
	env func(t *testing.T) *env
	run func(t *testing.T, e *env)
}

// The rows live in one file per area of the issue, each a slice here.
func allAttacks() []attack {
	var all []attack
	for _, group := range [][]attack{
		fileAttacks,     // attacks_files_test.go: the agent's own files, download targets
		tokenAttacks,    // attacks_tokens_test.go: tokens on every route
		outboundAttacks, // attacks_outbound_test.go: secrets and requests to servers the caller names
		keyAttacks,      // attacks_keys_test.go: key separation, rotation, AAD binding
		limitAttacks,    // attacks_limits_test.go: bounded inputs, login throttling
		sessionAttacks,  // attacks_sessions_test.go: WebSocket expiry, revocation, shutdown
	} {
		all = append(all, group...)
	}
	return all
}

// TestAttacks is the security table of the "Security" issue: one row per
// attack, each on its own agent.
func TestAttacks(t *testing.T) {
	all := allAttacks()
	seen := map[string]bool{}
	for _, a := range all {
		if seen[a.name] {
			t.Fatalf("two rows are named %q", a.name)
		}
		seen[a.name] = true
	}
	for _, a := range all {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			var e *env
			if a.env != nil {
				e = a.env(t)
			} else {
				e = newMemoryEnv(t, a.opts...)
			}
			a.run(t, e)
		})
	}
}
