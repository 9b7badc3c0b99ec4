// Command report turns the raw runs bench/run.sh records into the results
// it commits: a JSON file (every run, and per cell the median, min and max),
// the markdown tables of docs/benchmarks.md and an SVG chart of the wall
// time ratios amove/s5cmd and amove/rclone, one bar group per row, with a
// line at 1.0. It uses the standard library only.
//
//	report -runs runs.tsv [-api api.jsonl] [-meta meta.json] -json out.json -md out.md -svg out.svg
//
// runs.tsv has a header line and, per run, the tab-separated fields
// row op origin tool rep wall user sys rss_kb bytes files verified; wall,
// user and sys are seconds, and a wall of "FAIL" marks a failed run.
// api.jsonl holds the JSON lines of `apiload -json`.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/amove/amove-go/bench/internal/apiresult"
)

func main() {
	runsPath := flag.String("runs", "", "raw runs (TSV) from bench/run.sh")
	apiPath := flag.String("api", "", "apiload -json output (optional)")
	metaPath := flag.String("meta", "", "JSON object of run facts (versions, machine, sizes) copied into the results (optional)")
	jsonOut := flag.String("json", "", "write the results as JSON here")
	mdOut := flag.String("md", "", "write the markdown tables here")
	svgOut := flag.String("svg", "", "write the chart here")
	flag.Parse()
	if *runsPath == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*runsPath, *apiPath, *metaPath, *jsonOut, *mdOut, *svgOut); err != nil {
		log.Fatal("report: ", err)
	}
}

func run(runsPath, apiPath, metaPath, jsonOut, mdOut, svgOut string) error {
	f, err := os.Open(runsPath)
	if err != nil {
		return err
	}
	defer f.Close()
	runs, err := readRuns(f)
	if err != nil {
		return err
	}
	var api []APIResult
	if apiPath != "" {
		if api, err = readAPI(apiPath); err != nil {
			return err
		}
	}
	meta := Meta{}
	if metaPath != "" {
		b, err := os.ReadFile(metaPath)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &meta); err != nil {
			return fmt.Errorf("%s: %w", metaPath, err)
		}
	}
	res := summarize(meta, runs, api)
	if jsonOut != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if mdOut != "" {
		if err := os.WriteFile(mdOut, []byte(markdown(res)), 0o644); err != nil {
			return err
		}
	}
	if svgOut != "" {
		if err := os.WriteFile(svgOut, []byte(chart(res)), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Run is one timed process.
type Run struct {
	Row      string  `json:"row"`    // big, mid, small, c2c
	Op       string  `json:"op"`     // up, down, copy-server, copy-stream
	Origin   string  `json:"origin"` // which tool uploaded the objects a download reads; "-" for uploads
	Tool     string  `json:"tool"`   // amove, amove-nv, amovecp, s5cmd, rclone
	Rep      int     `json:"rep"`
	Failed   bool    `json:"failed,omitempty"`
	Wall     float64 `json:"wall_s"`
	User     float64 `json:"user_s"`
	Sys      float64 `json:"sys_s"`
	RSSKiB   int64   `json:"rss_kib"`
	Bytes    int64   `json:"bytes"`
	Files    int     `json:"files"`
	Verified string  `json:"verified"`
}

func readRuns(r io.Reader) ([]Run, error) {
	var runs []Run
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		if line == 1 || strings.TrimSpace(sc.Text()) == "" {
			continue // the header
		}
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 12 {
			return nil, fmt.Errorf("runs line %d: %d fields, want 12", line, len(f))
		}
		var rn Run
		var errs []error
		num := func(s string) float64 {
			v, err := strconv.ParseFloat(s, 64)
			errs = append(errs, err)
			return v
		}
		rn.Row, rn.Op, rn.Origin, rn.Tool, rn.Verified = f[0], f[1], f[2], f[3], f[11]
		rn.Rep = int(num(f[4]))
		if f[5] == "FAIL" {
			rn.Failed = true
		} else {
			rn.Wall, rn.User, rn.Sys = num(f[5]), num(f[6]), num(f[7])
			rn.RSSKiB = int64(num(f[8]))
		}
		rn.Bytes, rn.Files = int64(num(f[9])), int(num(f[10]))
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("runs line %d: %w", line, err)
		}
		runs = append(runs, rn)
	}
	return runs, sc.Err()
}

// APIResult is one line of `apiload -json`.
type APIResult = apiresult.Result

func readAPI(path string) ([]APIResult, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []APIResult
	for i, l := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		var a APIResult
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, i+1, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// Meta is what bench/run.sh knows about the run: versions, machine, sizes.
// Rows maps a row key (big, mid, small, c2c) to its label ("1 GiB").
type Meta struct {
	Date     string            `json:"date,omitempty"`
	Scale    string            `json:"scale,omitempty"`
	Reps     int               `json:"reps,omitempty"`
	C2CReps  int               `json:"c2c_reps,omitempty"`
	Rows     map[string]string `json:"rows,omitempty"`
	Versions map[string]string `json:"versions,omitempty"`
	Machine  map[string]string `json:"machine,omitempty"`
	Commands map[string]string `json:"commands,omitempty"`
}

// Cell is the summary of the runs of one tool on one row.
type Cell struct {
	Row       string  `json:"row"`
	Op        string  `json:"op"`
	Origin    string  `json:"origin"`
	Tool      string  `json:"tool"`
	Runs      int     `json:"runs"`
	Failed    int     `json:"failed"`
	WallMed   float64 `json:"wall_median_s"`
	WallMin   float64 `json:"wall_min_s"`
	WallMax   float64 `json:"wall_max_s"`
	MBps      float64 `json:"mb_per_s"` // of the median wall, 10^6 bytes
	CPUMed    float64 `json:"cpu_median_s"`
	CPUPerGiB float64 `json:"cpu_s_per_gib"`
	RSSMedMiB float64 `json:"rss_median_mib"`
	RSSMaxMiB float64 `json:"rss_max_mib"`
	Bytes     int64   `json:"bytes"`
	Files     int     `json:"files"`
	Verified  string  `json:"verified"`
}

// Group is one row of the comparison: a dataset, a direction and, for
// downloads, who uploaded the objects.
type Group struct {
	Row    string `json:"row"`
	Op     string `json:"op"`
	Origin string `json:"origin"`
	Label  string `json:"label"`
	// Ratios of median wall times, amove cp over the peer; 0 when either
	// side has no successful run.
	AmoveS5cmd  float64 `json:"amove_over_s5cmd"`
	AmoveRclone float64 `json:"amove_over_rclone"`
	// NoVerifyS5cmd is `amove cp --no-verify` over s5cmd.
	NoVerifyS5cmd float64 `json:"amove_noverify_over_s5cmd,omitempty"`
	Checks        []Check `json:"checks"`
}

// Check is one target of issue 16 on one row.
type Check struct {
	What string  `json:"what"`
	Got  float64 `json:"got"`
	Max  float64 `json:"max"`
	Met  bool    `json:"met"`
}

// Results is what report writes as JSON.
type Results struct {
	Meta   Meta        `json:"meta"`
	Cells  []Cell      `json:"cells"`
	Groups []Group     `json:"groups"`
	API    []APIResult `json:"api,omitempty"`
	// APIChecks compare the agent's listing with MinIO's own.
	APIChecks []Check `json:"api_checks,omitempty"`
	Runs      []Run   `json:"runs"`
}

var (
	rowOrder  = []string{"big", "mid", "small", "c2c"}
	toolOrder = []string{"amove", "amove-nv", "amovecp", "s5cmd", "rclone"}
	toolNames = map[string]string{
		"amove":    "amove cp",
		"amove-nv": "amove cp --no-verify",
		"amovecp":  "bench/amovecp (engine)",
		"s5cmd":    "s5cmd",
		"rclone":   "rclone",
	}
)

// opOrder orders a row's groups: uploads, downloads of amove's objects,
// of s5cmd's, then copies.
func opOrder(op, origin string) int {
	switch {
	case op == "up":
		return 0
	case op == "down" && origin == "amove":
		return 1
	case op == "down":
		return 2
	case op == "copy-server":
		return 3
	default:
		return 4
	}
}

func index(list []string, s string) int {
	if i := slices.Index(list, s); i >= 0 {
		return i
	}
	return len(list)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func summarize(meta Meta, runs []Run, api []APIResult) Results {
	type key struct{ row, op, origin, tool string }
	byKey := map[key][]Run{}
	var keys []key
	for _, r := range runs {
		k := key{r.Row, r.Op, r.Origin, r.Tool}
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], r)
	}
	slices.SortStableFunc(keys, func(a, b key) int {
		if d := index(rowOrder, a.row) - index(rowOrder, b.row); d != 0 {
			return d
		}
		if d := opOrder(a.op, a.origin) - opOrder(b.op, b.origin); d != 0 {
			return d
		}
		return index(toolOrder, a.tool) - index(toolOrder, b.tool)
	})
	res := Results{Meta: meta, Runs: runs, API: api}
	cells := map[key]Cell{}
	for _, k := range keys {
		c := Cell{Row: k.row, Op: k.op, Origin: k.origin, Tool: k.tool}
		var walls, cpus, rss []float64
		var verified []string
		for _, r := range byKey[k] {
			c.Runs++
			c.Bytes, c.Files = max(c.Bytes, r.Bytes), max(c.Files, r.Files)
			if r.Failed {
				c.Failed++
				continue
			}
			walls = append(walls, r.Wall)
			cpus = append(cpus, r.User+r.Sys)
			rss = append(rss, float64(r.RSSKiB)/1024)
			if !slices.Contains(verified, r.Verified) {
				verified = append(verified, r.Verified)
			}
		}
		c.Verified = strings.Join(verified, " / ")
		if len(walls) > 0 {
			c.WallMed, c.WallMin, c.WallMax = median(walls), slices.Min(walls), slices.Max(walls)
			c.CPUMed = median(cpus)
			c.RSSMedMiB, c.RSSMaxMiB = median(rss), slices.Max(rss)
			if c.WallMed > 0 {
				c.MBps = float64(c.Bytes) / c.WallMed / 1e6
			}
			if c.Bytes > 0 {
				c.CPUPerGiB = c.CPUMed / (float64(c.Bytes) / (1 << 30))
			}
		}
		cells[k] = c
		res.Cells = append(res.Cells, c)
	}
	// One group per (row, op, origin), in the cells' order.
	seen := map[key]bool{}
	for _, k := range keys {
		gk := key{k.row, k.op, k.origin, ""}
		if seen[gk] {
			continue
		}
		seen[gk] = true
		get := func(tool string) (Cell, bool) {
			c, ok := cells[key{k.row, k.op, k.origin, tool}]
			return c, ok && c.WallMed > 0
		}
		ratio := func(a, b string) float64 {
			x, ok1 := get(a)
			y, ok2 := get(b)
			if !ok1 || !ok2 {
				return 0
			}
			return x.WallMed / y.WallMed
		}
		g := Group{Row: k.row, Op: k.op, Origin: k.origin, Label: groupLabel(meta, k.row, k.op, k.origin),
			AmoveS5cmd: ratio("amove", "s5cmd"), AmoveRclone: ratio("amove", "rclone")}
		if k.op == "down" {
			g.NoVerifyS5cmd = ratio("amove-nv", "s5cmd")
		}
		check := func(what string, got, limit float64) {
			if got > 0 {
				g.Checks = append(g.Checks, Check{What: what, Got: got, Max: limit, Met: got <= limit})
			}
		}
		// The targets of issue 16 ("Done when").
		switch {
		case k.op == "up":
			check("amove/s5cmd wall", g.AmoveS5cmd, 1.0)
			check("amove/rclone wall", g.AmoveRclone, 0.77)
			if k.row == "big" {
				if a, ok := get("amove"); ok {
					check("amove peak RSS MiB", a.RSSMaxMiB, 64)
				}
			}
		case k.op == "down" && k.origin == "amove":
			check("amove/s5cmd wall", g.AmoveS5cmd, 1.05)
			check("amove/rclone wall", g.AmoveRclone, 1.0)
		case k.op == "down":
			check("amove/s5cmd wall", g.AmoveS5cmd, 1.25)
			check("amove --no-verify/s5cmd wall", g.NoVerifyS5cmd, 0.8)
		}
		if k.op == "up" || k.op == "down" {
			a, ok1 := get("amove")
			s, ok2 := get("s5cmd")
			if ok1 && ok2 && s.CPUPerGiB > 0 {
				check("amove/s5cmd CPU s per GiB", a.CPUPerGiB/s.CPUPerGiB, 1.0)
			}
		}
		res.Groups = append(res.Groups, g)
	}
	// The API targets: the agent adds at most 20 ms to MinIO's p99 and at
	// most 10 % to its CPU per request.
	var agent, direct *APIResult
	for i := range api {
		if api[i].Ops != "list" {
			continue
		}
		switch api[i].Mode {
		case "agent":
			agent = &api[i]
		case "direct":
			direct = &api[i]
		}
	}
	if agent != nil && direct != nil {
		add := agent.P99ms - direct.P99ms
		res.APIChecks = append(res.APIChecks, Check{What: "agent p99 − MinIO p99 (ms)", Got: add, Max: 20, Met: add <= 20})
		if agent.Requests > 0 && direct.Requests > 0 && direct.MinIOCPUs > 0 && agent.AgentCPUs >= 0 {
			share := (agent.AgentCPUs / float64(agent.Requests)) / (direct.MinIOCPUs / float64(direct.Requests))
			res.APIChecks = append(res.APIChecks, Check{What: "agent CPU per request / MinIO CPU per request", Got: share, Max: 0.10, Met: share <= 0.10})
		}
	}
	return res
}

func rowLabel(meta Meta, row string) string {
	if l := meta.Rows[row]; l != "" {
		return l
	}
	return row
}

func groupLabel(meta Meta, row, op, origin string) string {
	l := rowLabel(meta, row)
	switch op {
	case "up":
		return l + " upload"
	case "down":
		return l + " download of " + origin + "'s objects"
	case "copy-server":
		return l + " copy, server-side"
	case "copy-stream":
		return l + " copy, streamed"
	}
	return l + " " + op
}
