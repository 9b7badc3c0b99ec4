// Command agentcopy is the controller of bench/agents.sh: it prepares a
// store for `amove serve` agents, writes the source objects, and starts and
// times cloud-to-cloud copies that the agents run. No HTTP route starts a
// copy between two accounts, so it uses the SDK: a Client with an agent id
// ("bench") puts the copies on the store's queue and works none of it.
//
//	agentcopy setup -dsn URL -schema NAME -key-file K -endpoint EP   # prints the agents' DSN
//	agentcopy seed  -endpoint EP -bucket B -prefixes 10 -per 200 -size 1048576
//	agentcopy copy  -dsn URL -key-file K -endpoint EP -src B -dst B2 -prefixes 10  # prints seconds, bytes, plan seconds
//	agentcopy clean -endpoint EP -bucket B2                            # deletes the bucket and its objects
//	agentcopy drop  -dsn URL -schema NAME
//
// S3 credentials come from AMOVE_TEST_S3_ACCESS_KEY and
// AMOVE_TEST_S3_SECRET_KEY (scripts/testservers.sh).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/s3"
	_ "github.com/amove/amove-go/store/postgres"
	"github.com/amove/amove-go/transfer"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: agentcopy setup|seed|copy|drop [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dsn := fs.String("dsn", "", "PostgreSQL DSN")
	schema := fs.String("schema", "", "schema of the run (setup, drop)")
	keyFile := fs.String("key-file", "", "the agents' key file")
	endpoint := fs.String("endpoint", os.Getenv("AMOVE_TEST_S3_ENDPOINT"), "S3 endpoint")
	bucket := fs.String("bucket", "", "bucket to seed")
	src := fs.String("src", "", "source bucket")
	dst := fs.String("dst", "", "destination bucket (created)")
	prefixes := fs.Int("prefixes", 10, "prefixes p00/, p01/, ...: one copy job each")
	per := fs.Int("per", 200, "objects per prefix")
	size := fs.Int64("size", 1<<20, "object size in bytes")
	_ = fs.Parse(os.Args[2:])
	ctx := context.Background()
	var err error
	switch os.Args[1] {
	case "setup":
		err = setup(ctx, *dsn, *schema, *keyFile, *endpoint)
	case "seed":
		err = seed(ctx, *endpoint, *bucket, *prefixes, *per, *size)
	case "copy":
		err = copyAll(ctx, *dsn, *keyFile, *endpoint, *src, *dst, *prefixes)
	case "clean":
		err = clean(ctx, *endpoint, *bucket)
	case "drop":
		err = exec(ctx, *dsn, "DROP SCHEMA IF EXISTS "+pgx.Identifier{*schema}.Sanitize()+" CASCADE")
	default:
		err = errors.New("unknown command " + os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "agentcopy:", err)
		os.Exit(1)
	}
}

func exec(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func storage(ctx context.Context, endpoint string) (*s3.Storage, error) {
	return s3.Open(ctx, provider.Config{CloudType: provider.S3Generic, Endpoint: endpoint, Region: "us-east-1",
		AccessKey: os.Getenv("AMOVE_TEST_S3_ACCESS_KEY"), SecretKey: os.Getenv("AMOVE_TEST_S3_SECRET_KEY")})
}

func open(ctx context.Context, dsn, keyFile string) (*amove.Client, error) {
	return amove.New(ctx, amove.Options{DSN: dsn, KeyFile: keyFile, Logger: slog.New(slog.DiscardHandler),
		Transfers: amove.TransferOptions{AgentID: "bench"}})
}

// setup creates the schema, the admin user `amove serve` acts for and two
// S3Generic accounts on the endpoint (two, so that a copy is not
// server-side), and prints the DSN of the schema.
func setup(ctx context.Context, dsn, schema, keyFile, endpoint string) error {
	if err := exec(ctx, dsn, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return err
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	c, err := open(ctx, u.String(), keyFile)
	if err != nil {
		return err
	}
	defer c.Close()
	_, admin, err := c.CreateTenant(ctx, "local", amove.NewUser{Username: "admin", Password: fmt.Sprintf("Pw-%016x", rand.Uint64()), Role: amove.RoleDesktopAdmin})
	if err != nil {
		return err
	}
	for _, name := range []string{"from", "to"} {
		if _, err := c.InsertAccount(ctx, admin.Principal(), amove.NewAccount{CloudType: provider.S3Generic, Name: name, Endpoint: endpoint,
			Region: "us-east-1", AccessKey: os.Getenv("AMOVE_TEST_S3_ACCESS_KEY"), SecretKey: os.Getenv("AMOVE_TEST_S3_SECRET_KEY")}); err != nil {
			return err
		}
	}
	fmt.Println(u.String())
	return nil
}

// seed writes prefixes × per objects of size bytes, the same bytes every
// time, unless the bucket already has them.
func seed(ctx context.Context, endpoint, bucket string, prefixes, per int, size int64) error {
	st, err := storage(ctx, endpoint)
	if err != nil {
		return err
	}
	if err := st.CreateBucket(ctx, bucket, ""); err != nil && !errors.Is(err, provider.ErrExists) {
		return err
	}
	var g errgroup.Group
	g.SetLimit(16)
	for p := range prefixes {
		for i := range per {
			key := fmt.Sprintf("p%02d/%04d.bin", p, i)
			g.Go(func() error {
				if o, err := st.Stat(ctx, bucket, key); err == nil && o.Size == size {
					return nil
				}
				r := io.LimitReader(rand.NewChaCha8([32]byte{byte(p), byte(i), byte(i >> 8)}), size)
				_, err := st.Write(ctx, bucket, key, r, size, provider.WriteOptions{})
				return err
			})
		}
	}
	return g.Wait()
}

// copyAll copies every prefix of src to dst as one job each, waits for all
// of them and prints the wall time in seconds (from the first Copy call:
// the agents start on the first job while the later ones are planned), the
// bytes copied, and the seconds spent planning (listing and stating the
// sources, here in the controller, the same for every agent count).
func copyAll(ctx context.Context, dsn, keyFile, endpoint, src, dst string, prefixes int) error {
	c, err := open(ctx, dsn, keyFile)
	if err != nil {
		return err
	}
	defer c.Close()
	admin, err := c.LookupUser(ctx, "admin")
	if err != nil {
		return err
	}
	p := admin.Principal()
	accounts, err := c.ListAccounts(ctx, p)
	if err != nil {
		return err
	}
	ids := map[string]string{}
	for _, a := range accounts {
		ids[a.Name] = a.ID
	}
	st, err := storage(ctx, endpoint)
	if err != nil {
		return err
	}
	if err := st.CreateBucket(ctx, dst, ""); err != nil && !errors.Is(err, provider.ErrExists) {
		return err
	}
	start := time.Now()
	var jobs []string
	for i := range prefixes {
		prefix := fmt.Sprintf("p%02d/", i)
		id, err := c.Copy(ctx, p, amove.CopyRequest{SourceAccountID: ids["from"], SourceBucket: src, SourceKey: prefix,
			DestAccountID: ids["to"], DestBucket: dst, DestKey: prefix})
		if err != nil {
			return err
		}
		jobs = append(jobs, id)
	}
	planned := time.Since(start)
	var bytes int64
	for _, id := range jobs {
		for {
			s, err := c.TransferStatus(ctx, p, id)
			if err != nil {
				return err
			}
			if s.State.Final() {
				if s.State != transfer.Completed {
					return fmt.Errorf("copy %s: %s %s", id, s.State, s.Error)
				}
				bytes += s.BytesTotal
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	wall := time.Since(start)
	// Which agents ran the slices of the jobs (river_job.attempted_by holds
	// river client ids <agent id>-<8 hex>, one per slice).
	spread, err := slicesPerAgent(ctx, dsn)
	if err != nil {
		return err
	}
	fmt.Printf("%.3f %d %.3f %s\n", wall.Seconds(), bytes, planned.Seconds(), spread)
	return nil
}

func slicesPerAgent(ctx context.Context, dsn string) (string, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT regexp_replace(c, '-[0-9a-f]+$', ''), count(*)
		FROM river_job, unnest(attempted_by) AS c WHERE kind = 'transfer' GROUP BY 1 ORDER BY 1`)
	if err != nil {
		return "", err
	}
	out := ""
	for rows.Next() {
		var agent string
		var n int
		if err := rows.Scan(&agent, &n); err != nil {
			return "", err
		}
		if out != "" {
			out += ","
		}
		out += fmt.Sprintf("%s=%d", agent, n)
	}
	return out, rows.Err()
}

// clean deletes bucket and its objects.
func clean(ctx context.Context, endpoint, bucket string) error {
	st, err := storage(ctx, endpoint)
	if err != nil {
		return err
	}
	var g errgroup.Group
	g.SetLimit(16)
	token := ""
	for {
		page, err := st.ListObjects(ctx, bucket, provider.ListOptions{Token: token})
		if err != nil {
			return err
		}
		for _, o := range page.Objects {
			g.Go(func() error { return st.Delete(ctx, bucket, o.Key) })
		}
		if page.NextToken == "" {
			break
		}
		token = page.NextToken
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return st.DeleteBucket(ctx, bucket)
}
