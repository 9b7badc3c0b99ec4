package provider

import (
	"fmt"
	"strconv"
	"strings"
)

// CloudType identifies a storage provider. The values are the bit flags of the
// Amove API's CloudProvider enum and appear on the wire as plain integers, so
// they must never change.
type CloudType int

// The 14 cloud types of the Amove API.
const (
	AWS         CloudType = 1
	Wasabi      CloudType = 2
	Azure       CloudType = 4
	S3Generic   CloudType = 8
	Google      CloudType = 16
	Frame       CloudType = 32
	Cloudflare  CloudType = 64
	Dropbox     CloudType = 128
	Box         CloudType = 256
	OneDrive    CloudType = 512
	GoogleDrive CloudType = 1024
	LocalHttp   CloudType = 2048
	FastrServer CloudType = 4096
	Atomosphere CloudType = 8192
)

var cloudTypeNames = map[CloudType]string{
	AWS:         "AWS",
	Wasabi:      "Wasabi",
	Azure:       "Azure",
	S3Generic:   "S3Generic",
	Google:      "Google",
	Frame:       "Frame",
	Cloudflare:  "Cloudflare",
	Dropbox:     "Dropbox",
	Box:         "Box",
	OneDrive:    "OneDrive",
	GoogleDrive: "GoogleDrive",
	LocalHttp:   "LocalHttp",
	FastrServer: "FastrServer",
	Atomosphere: "Atomosphere",
}

// driverNames are the registry names of the 14 cloud types: lower case,
// after the service rather than the enum, and stable, because stored
// accounts and configurations name them.
var driverNames = map[CloudType]string{
	AWS:         "s3",
	Wasabi:      "wasabi",
	Azure:       "azure",
	S3Generic:   "s3generic",
	Google:      "gcs",
	Frame:       "frameio",
	Cloudflare:  "r2",
	Dropbox:     "dropbox",
	Box:         "box",
	OneDrive:    "onedrive",
	GoogleDrive: "gdrive",
	LocalHttp:   "localhttp",
	FastrServer: "fastr",
	Atomosphere: "atomosphere",
}

// DriverName returns the name t's driver registers under (see Register):
//
//	AWS         "s3"           Wasabi      "wasabi"
//	Azure       "azure"        S3Generic   "s3generic"
//	Google      "gcs"          Frame       "frameio"
//	Cloudflare  "r2"           Dropbox     "dropbox"
//	Box         "box"          OneDrive    "onedrive"
//	GoogleDrive "gdrive"       LocalHttp   "localhttp"
//	FastrServer "fastr"        Atomosphere "atomosphere"
//
// It returns "" for a value that is not one of the 14 cloud types.
func (t CloudType) DriverName() string { return driverNames[t] }

// CloudTypeOfDriver returns the cloud type whose driver registers as name,
// and false for any other name (a third-party driver's).
func CloudTypeOfDriver(name string) (CloudType, bool) {
	for t, n := range driverNames {
		if n == name {
			return t, true
		}
	}
	return 0, false
}

// CloudTypes returns every known cloud type in ascending order.
func CloudTypes() []CloudType {
	return []CloudType{AWS, Wasabi, Azure, S3Generic, Google, Frame, Cloudflare,
		Dropbox, Box, OneDrive, GoogleDrive, LocalHttp, FastrServer, Atomosphere}
}

// Valid reports whether t is one of the 14 documented cloud types.
func (t CloudType) Valid() bool {
	_, ok := cloudTypeNames[t]
	return ok
}

// String returns the enum name used by the Amove API, or "CloudType(n)" for an
// unknown value.
func (t CloudType) String() string {
	if s, ok := cloudTypeNames[t]; ok {
		return s
	}
	return "CloudType(" + strconv.Itoa(int(t)) + ")"
}

// ParseCloudType accepts an enum name (case-insensitive) or its integer value.
// Anything else is an error wrapping ErrInvalid.
func ParseCloudType(s string) (CloudType, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		t := CloudType(n)
		if !t.Valid() {
			return 0, fmt.Errorf("%w: unknown cloud type %d", ErrInvalid, n)
		}
		return t, nil
	}
	for t, name := range cloudTypeNames {
		if strings.EqualFold(name, s) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown cloud type %q", ErrInvalid, s)
}

// MarshalText encodes t as its enum name, for configuration files and logs.
// The HTTP API sends the integer; it converts explicitly.
func (t CloudType) MarshalText() ([]byte, error) {
	if !t.Valid() {
		return nil, fmt.Errorf("%w: unknown cloud type %d", ErrInvalid, int(t))
	}
	return []byte(t.String()), nil
}

// UnmarshalText accepts what ParseCloudType accepts.
func (t *CloudType) UnmarshalText(b []byte) error {
	v, err := ParseCloudType(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}
