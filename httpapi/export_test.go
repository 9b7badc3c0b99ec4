package httpapi

import (
	"net/http"
	"testing"
)

// SpecClient is an http.Client that checks every request to the agent at
// base, and every answer, against the agent's /openapi.json
// (openapi_check_test.go), for the tests of package httpapi_test.
func SpecClient(t testing.TB, base string) *http.Client { return newSpecCheck(t, base).client() }
