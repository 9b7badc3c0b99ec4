package storj

import (
	"crypto/rand"
	"fmt"

	"storj.io/common/grant"
	"storj.io/common/macaroon"
	"storj.io/common/storj"
)

// Grant is a root access grant made offline, as a satellite would issue
// one for a new API key: a root macaroon (no caveats) signed with Secret,
// and a random root encryption key with AES-GCM path encryption. Its
// serialized form is a real grant: uplink.ParseAccess reads it and
// Access.Share restricts it. Only a satellite that knows Secret would
// accept it; none runs in tests, so Secret is what lets a test check a
// restricted key the way the satellite does (macaroon.APIKey.Check).
type Grant struct {
	Serialized string
	Secret     []byte
}

// NewGrant makes a root grant for the satellite at addr
// ("nodeid@host:port").
func NewGrant(addr string) (Grant, error) {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	key, err := macaroon.NewAPIKey(secret)
	if err != nil {
		return Grant{}, err
	}
	var encKey storj.Key
	_, _ = rand.Read(encKey[:])
	enc := grant.NewEncryptionAccessWithDefaultKey(&encKey)
	enc.SetDefaultPathCipher(storj.EncAESGCM)
	s, err := (&grant.Access{SatelliteAddress: addr, APIKey: key, EncAccess: enc}).Serialize()
	if err != nil {
		return Grant{}, fmt.Errorf("serialize grant: %w", err)
	}
	return Grant{Serialized: s, Secret: secret}, nil
}

// SatelliteAddress is a well-formed satellite address on a port where no
// satellite listens: a project opened with it fails on its first request.
func SatelliteAddress() string {
	var id storj.NodeID
	_, _ = rand.Read(id[:])
	return id.String() + "@127.0.0.1:1"
}
