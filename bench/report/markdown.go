package main

import (
	"fmt"
	"strings"
)

// markdown renders the results as the tables docs/benchmarks.md shows.
func markdown(res Results) string {
	var b strings.Builder
	m := res.Meta
	if m.Date != "" {
		fmt.Fprintf(&b, "Run of %s, scale %s, %d interleaved repetitions per cell", m.Date, m.Scale, m.Reps)
		if m.C2CReps > 0 && m.C2CReps != m.Reps {
			fmt.Fprintf(&b, " (%d for the copy rows)", m.C2CReps)
		}
		b.WriteString(". Wall seconds are the median with min–max; MB/s is of the median; CPU is user+system of the whole process.\n\n")
	}
	if v := m.Versions; len(v) > 0 {
		fmt.Fprintf(&b, "Versions: %s, s5cmd %s, rclone %s, MinIO %s, amove %s.", v["go"], v["s5cmd"], v["rclone"], v["minio"], v["amove"])
	}
	if mc := m.Machine; len(mc) > 0 {
		fmt.Fprintf(&b, " Machine: %s cores (%s), shared; load average %s at the start, %s at the end.",
			mc["cpus"], mc["cpu"], mc["load_average_at_start"], mc["load_average_at_end"])
	}
	if len(m.Versions) > 0 || len(m.Machine) > 0 {
		b.WriteString("\n\n")
	}

	b.WriteString("**Ratios and targets** (wall time of amove over the peer's, medians; below 1.0 amove is faster)\n\n")
	b.WriteString("| row | amove/s5cmd | amove/rclone | targets of issue 16 |\n|---|---:|---:|---|\n")
	for _, g := range res.Groups {
		var checks []string
		for _, c := range g.Checks {
			mark := "not met"
			if c.Met {
				mark = "met"
			}
			checks = append(checks, fmt.Sprintf("%s %s ≤ %s: **%s**", c.What, num(c.Got), num(c.Max), mark))
		}
		if len(checks) == 0 {
			checks = []string{"–"}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", g.Label, ratio(g.AmoveS5cmd), ratio(g.AmoveRclone), strings.Join(checks, "; "))
	}

	b.WriteString("\n**Every cell**\n\n")
	b.WriteString("| row | tool | wall s, median (min–max) | MB/s | CPU s/GiB | peak RSS MiB | verified |\n|---|---|---:|---:|---:|---:|---|\n")
	for _, g := range res.Groups {
		for _, c := range res.Cells {
			if c.Row != g.Row || c.Op != g.Op || c.Origin != g.Origin {
				continue
			}
			name := toolNames[c.Tool]
			if name == "" {
				name = c.Tool
			}
			if c.WallMed == 0 {
				fmt.Fprintf(&b, "| %s | %s | FAILED (%d of %d runs) | | | | |\n", g.Label, name, c.Failed, c.Runs)
				continue
			}
			failed := ""
			if c.Failed > 0 {
				failed = fmt.Sprintf(", %d of %d runs FAILED", c.Failed, c.Runs)
			}
			fmt.Fprintf(&b, "| %s | %s | %.2f (%.2f–%.2f)%s | %.0f | %.2f | %.0f | %s |\n", g.Label, name,
				c.WallMed, c.WallMin, c.WallMax, failed, c.MBps, c.CPUPerGiB, c.RSSMaxMiB, c.Verified)
		}
	}

	if len(res.API) > 0 {
		b.WriteString("\n**API under concurrent clients** (agent: list_objects through the HTTP API, in its own process; direct: ListObjectsV2 to MinIO with aws-sdk-go-v2; same bucket)\n\n")
		b.WriteString("| mode | ops | clients | s | requests | req/s | p50 ms | p99 ms | errors | agent CPU ms/req | MinIO CPU ms/req |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, a := range res.API {
			per := func(s float64) string {
				if s < 0 || a.Requests == 0 {
					return "–"
				}
				return fmt.Sprintf("%.3f", s*1000/float64(a.Requests))
			}
			fmt.Fprintf(&b, "| %s (%s) | %s | %d | %.0f | %d | %.0f | %.1f | %.1f | %d | %s | %s |\n", a.Mode, a.Backend, a.Ops,
				a.Clients, a.Seconds, a.Requests, a.RPS, a.P50ms, a.P99ms, a.Errors, per(a.AgentCPUs), per(a.MinIOCPUs))
		}
		for _, c := range res.APIChecks {
			mark := "not met"
			if c.Met {
				mark = "met"
			}
			fmt.Fprintf(&b, "\n- %s: %s (target ≤ %s): **%s**", c.What, num(c.Got), num(c.Max), mark)
		}
		if len(res.APIChecks) > 0 {
			b.WriteString("\n")
		}
	}
	return b.String()
}

func ratio(v float64) string {
	if v == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", v)
}

func num(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.2f", v)
}
