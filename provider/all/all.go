// Package all links every driver into a program:
//
//	import _ "github.com/amove/amove-go/provider/all"
package all

import (
	_ "github.com/amove/amove-go/provider/azure"    // Azure Blob
	_ "github.com/amove/amove-go/provider/box"      // Box
	_ "github.com/amove/amove-go/provider/dropbox"  // Dropbox
	_ "github.com/amove/amove-go/provider/fastr"    // LocalHttp and FastrServer
	_ "github.com/amove/amove-go/provider/frameio"  // Frame.io V4
	_ "github.com/amove/amove-go/provider/gcs"      // Google Cloud Storage (HMAC keys go through s3)
	_ "github.com/amove/amove-go/provider/gdrive"   // Google Drive
	_ "github.com/amove/amove-go/provider/onedrive" // OneDrive
	_ "github.com/amove/amove-go/provider/s3"       // AWS, Wasabi, S3Generic, Cloudflare R2
	_ "github.com/amove/amove-go/provider/storj"    // Storj (native, access grants)
)
