package httpapi

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// attack is one row of TestAttacks: it performs one attack of the
// "Security" issue (docs/security.md) against a fresh agent and fails if
// the attack succeeds. Each row asserts the exact refusal (status, error
// code) and that nothing was written, started or sent.
type attack struct {
	name string
	// opts are the agent options of the row's env.
	opts Options
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
				e = newMemoryEnv(t, a.opts)
			}
			a.run(t, e)
			sweepAttack(t, e)
		})
	}
	if len(all) < 25 {
		t.Fatalf("the security table has %d rows, the issue asks for at least 25", len(all))
	}
}

// sweepAttack extends the secret sweep to every row: no response body holds
// the accounts' secret key or the agent's key material, and the database
// (its journal of transfers included) holds no credential in clear.
func sweepAttack(t *testing.T, e *env) {
	t.Helper()
	secrets := [][]byte{[]byte("memory-secret-key")}
	for _, name := range []string{"k.keyring", "k"} {
		b, _ := os.ReadFile(filepath.Join(agentDir(e), name))
		for _, f := range strings.FieldsFunc(string(b), func(r rune) bool { return strings.ContainsRune(" \t\n\r\",:{}[]", r) }) {
			if len(f) >= 40 {
				secrets = append(secrets, []byte(f)) // key material, however encoded
			}
		}
	}
	e.mu.Lock()
	for _, r := range e.replies {
		for _, sec := range secrets {
			if bytes.Contains(r.body, sec) {
				t.Errorf("%s: the response holds a secret", r.path)
			}
		}
	}
	e.mu.Unlock()
	// The logs hold neither secrets nor tokens (a token's signature is
	// enough to tell one).
	var logged string
	if e.logs != nil {
		logged = e.logs.String()
	}
	for _, tok := range []string{e.adminTok, e.aliceTok, e.bobTok} {
		if sig := tok[strings.LastIndexByte(tok, '.')+1:]; sig != "" && strings.Contains(logged, sig) {
			t.Error("the log holds a token")
		}
	}
	for _, sec := range secrets {
		if strings.Contains(logged, string(sec)) {
			t.Errorf("the log holds a secret")
		}
	}
	for _, name := range []string{"a.db", "a.db-wal"} {
		b, _ := os.ReadFile(filepath.Join(agentDir(e), name))
		if bytes.Contains(b, secrets[0]) {
			t.Errorf("%s holds an account's secret key in clear", name)
		}
	}
}
