package gcs_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"testing"

	"github.com/amove/amove-go/internal/testenv"
	"github.com/amove/amove-go/provider"
	_ "github.com/amove/amove-go/provider/gcs"
	"github.com/amove/amove-go/provider/providertest"
)

// throwawayServiceAccount returns a service-account JSON with a fresh RSA
// key: enough to sign URLs, useless against real Google.
func throwawayServiceAccount(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "amove-test",
		"private_key_id": "0123456789abcdef",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   "amove-test@amove-test.iam.gserviceaccount.com",
		"client_id":      "1",
		"token_uri":      "https://oauth2.googleapis.com/token",
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestConformance(t *testing.T) {
	endpoint := testenv.RequireGCS(t)
	ctx := context.Background()
	// An http:// endpoint is the emulator: the driver does not authenticate
	// and uses the key only to sign URLs.
	st, err := provider.Open(ctx, provider.Config{
		CloudType:       provider.Google,
		Endpoint:        endpoint,
		CredentialsData: throwawayServiceAccount(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	bucket := "amove-conformance-" + hex.EncodeToString(b)
	bm := st.(provider.BucketManager)
	if err := bm.CreateBucket(ctx, bucket, ""); err != nil {
		t.Fatal(err)
	}
	providertest.Run(t, providertest.Harness{
		Storage: st,
		Bucket:  bucket,
		Limitations: map[string]string{
			"PresignSignature": "fake-gcs-server does not verify V4 signatures",
		},
	})
}
