// Package all links every driver into a program:
//
//	import _ "github.com/amove/amove-go/provider/all"
package all

import (
	_ "github.com/amove/amove-go/provider/s3" // AWS, Wasabi, S3Generic, Cloudflare R2
)
