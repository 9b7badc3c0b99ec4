package amove

import (
	"encoding/base64"
	"testing"
)

// tokenKID decodes only the header; it must still tell a missing kid from a
// null, empty or non-string one, and refuse what is not a JWS.
func TestTokenKID(t *testing.T) {
	tok := func(header string) string {
		return base64.RawURLEncoding.EncodeToString([]byte(header)) + ".e30.sig"
	}
	for _, c := range []struct {
		name, token, kid string
		ok               bool
	}{
		{"kid", tok(`{"alg":"HS256","kid":"s1"}`), "s1", true},
		{"spaces", tok(`{ "kid" : "s2" , "alg":"HS256"}`), "s2", true},
		{"no kid", tok(`{"alg":"HS256"}`), "", true},
		{"null kid", tok(`{"alg":"HS256","kid":null}`), "", false},
		{"empty kid", tok(`{"alg":"HS256","kid":""}`), "", false},
		{"number kid", tok(`{"alg":"HS256","kid":7}`), "", false},
		{"upper-case KID is another header", tok(`{"alg":"HS256","KID":"s1"}`), "", true},
		{"header not JSON", tok(`{"alg"`), "", false},
		{"header not base64", "!!!.e30.sig", "", false},
		{"two parts", base64.RawURLEncoding.EncodeToString([]byte(`{"kid":"s1"}`)) + ".e30", "", false},
		{"four parts", tok(`{"kid":"s1"}`) + ".x", "", false},
		{"empty", "", "", false},
	} {
		kid, err := tokenKID(c.token)
		if (err == nil) != c.ok || kid != c.kid {
			t.Errorf("%s: tokenKID = %q, %v; want %q, ok %v", c.name, kid, err, c.kid, c.ok)
		}
	}
}
