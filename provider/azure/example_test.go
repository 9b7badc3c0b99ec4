package azure_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/azure"
)

// ExampleOpen opens the driver on a storage account with its shared key
// (Azurite's well-known development account here; a real account leaves
// ServiceURL empty), writes a blob and reads its attributes. It needs that
// server, so go test compiles it without running it.
func ExampleOpen() {
	ctx := context.Background()
	st, err := azure.Open(ctx, provider.Config{
		CloudType:  provider.Azure,
		AccessKey:  "devstoreaccount1", // the account name
		SecretKey:  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
		ServiceURL: "http://127.0.0.1:10000/devstoreaccount1",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	body := "hello, azure\n"
	if _, err := st.Write(ctx, "media", "notes/hello.txt", strings.NewReader(body), int64(len(body)), provider.WriteOptions{}); err != nil {
		log.Fatal(err)
	}
	o, err := st.Stat(ctx, "media", "notes/hello.txt")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(o.Key, o.Size, o.Checksums.MD5)
}
