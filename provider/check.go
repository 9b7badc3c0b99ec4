package provider

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// The Check functions are the input validation every provider shares, so
// bad input gets the same clear ErrInvalid from every provider and never
// reaches the network. They run once, above the drivers, as gocloud's
// blob.Bucket checks for its drivers: in Portable (and its Writer) for SDK
// callers, and in the transfer engine when it admits a job. Drivers do not
// run them again; a driver checks only what is its own (a provider's
// shorter key limit, an upload id's form, a folder key where a file is
// wanted) and bucket names in BucketManager, which is outside the portable
// API.

// CheckBucket rejects an empty or malformed bucket name.
func CheckBucket(bucket string) error {
	if bucket == "" {
		return fmt.Errorf("%w: empty bucket name", ErrInvalid)
	}
	if !utf8.ValidString(bucket) || strings.ContainsAny(bucket, "/\x00") {
		return fmt.Errorf("%w: bucket name %q", ErrInvalid, bucket)
	}
	return nil
}

// CheckKey rejects an empty key, invalid UTF-8, NUL bytes and keys over 1,024
// bytes (the S3 limit, which the other providers also accept).
func CheckKey(bucket, key string) error {
	if err := CheckBucket(bucket); err != nil {
		return err
	}
	switch {
	case key == "":
		return fmt.Errorf("%w: empty object key", ErrInvalid)
	case len(key) > 1024:
		return fmt.Errorf("%w: object key longer than 1024 bytes", ErrInvalid)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: object key is not valid UTF-8", ErrInvalid)
	case strings.ContainsRune(key, 0):
		return fmt.Errorf("%w: object key contains NUL", ErrInvalid)
	}
	return nil
}

// CheckRange rejects a negative offset. A negative length means "to the end".
func CheckRange(offset, length int64) error {
	if offset < 0 {
		return fmt.Errorf("%w: negative range offset %d", ErrInvalid, offset)
	}
	return nil
}

// CheckWrite validates the arguments of Storage.Write.
func CheckWrite(bucket, key string, r io.Reader, size int64) error {
	if err := CheckKey(bucket, key); err != nil {
		return err
	}
	if r == nil {
		return fmt.Errorf("%w: nil reader", ErrInvalid)
	}
	if size < -1 {
		return fmt.Errorf("%w: size %d (use -1 for unknown)", ErrInvalid, size)
	}
	return nil
}

// CheckFolder validates a folder key and returns it with a trailing slash.
func CheckFolder(bucket, key string) (string, error) {
	if !strings.HasSuffix(key, "/") {
		key += "/"
	}
	if key == "/" {
		return "", fmt.Errorf("%w: empty folder name", ErrInvalid)
	}
	return key, CheckKey(bucket, key)
}
