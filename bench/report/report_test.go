package main

import (
	"encoding/xml"
	"io"
	"math"
	"strings"
	"testing"
)

const sample = `row	op	origin	tool	rep	wall	user	sys	rss_kb	bytes	files	verified
big	up	-	amove	1	2.0	1.0	0.5	40960	1073741824	1	CRC
big	up	-	amove	2	4.0	1.0	0.5	81920	1073741824	1	CRC
big	up	-	amove	3	3.0	1.0	0.5	61440	1073741824	1	CRC
big	up	-	s5cmd	1	2.0	0.5	0.5	20480	1073741824	1	none
big	up	-	s5cmd	2	FAIL	0	0	0	1073741824	1	none
big	up	-	s5cmd	3	4.0	0.5	0.5	20480	1073741824	1	none
big	down	s5cmd	amove	1	1.5	1	1	1024	1073741824	1	MD5
big	down	s5cmd	amove-nv	1	0.5	1	1	1024	1073741824	1	none
big	down	s5cmd	s5cmd	1	1.0	1	1	1024	1073741824	1	none
`

func TestSummarize(t *testing.T) {
	runs, err := readRuns(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	res := summarize(Meta{Rows: map[string]string{"big": "1 GiB"}}, runs, nil)
	if len(res.Cells) != 5 || len(res.Groups) != 2 {
		t.Fatalf("%d cells, %d groups; want 5, 2", len(res.Cells), len(res.Groups))
	}
	a := res.Cells[0]
	if a.Tool != "amove" || a.WallMed != 3 || a.WallMin != 2 || a.WallMax != 4 || a.RSSMaxMiB != 80 {
		t.Errorf("amove cell %+v", a)
	}
	s := res.Cells[1]
	if s.Tool != "s5cmd" || s.Failed != 1 || s.WallMed != 3 { // median of 2 and 4
		t.Errorf("s5cmd cell %+v", s)
	}
	up := res.Groups[0]
	if up.Label != "1 GiB upload" || up.AmoveS5cmd != 1 || up.AmoveRclone != 0 {
		t.Errorf("upload group %+v", up)
	}
	want := map[string]bool{"amove/s5cmd wall": true, "amove peak RSS MiB": false, "amove/s5cmd CPU s per GiB": false}
	for _, c := range up.Checks {
		met, ok := want[c.What]
		if !ok || met != c.Met {
			t.Errorf("check %+v, want met=%v (listed: %v)", c, met, ok)
		}
		delete(want, c.What)
	}
	if len(want) > 0 {
		t.Errorf("checks missing: %v", want)
	}
	down := res.Groups[1]
	if down.AmoveS5cmd != 1.5 || down.NoVerifyS5cmd != 0.5 {
		t.Errorf("download group %+v", down)
	}
}

func TestAPIChecks(t *testing.T) {
	api := []APIResult{
		{Mode: "agent", Ops: "list", Requests: 1000, P99ms: 50, AgentCPUs: 0.5},
		{Mode: "direct", Ops: "list", Requests: 1000, P99ms: 40, MinIOCPUs: 2, AgentCPUs: -1},
	}
	res := summarize(Meta{}, nil, api)
	if len(res.APIChecks) != 2 {
		t.Fatalf("api checks %+v", res.APIChecks)
	}
	if c := res.APIChecks[0]; c.Got != 10 || !c.Met {
		t.Errorf("p99 check %+v", c)
	}
	if c := res.APIChecks[1]; math.Abs(c.Got-0.25) > 1e-9 || c.Met {
		t.Errorf("cpu check %+v", c)
	}
}

func TestChartIsSVG(t *testing.T) {
	runs, err := readRuns(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	svg := chart(summarize(Meta{Rows: map[string]string{"big": "1 GiB <&>"}}, runs, nil))
	d := xml.NewDecoder(strings.NewReader(svg))
	bars, dashed, labels := 0, 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok {
			attr := map[string]string{}
			for _, a := range se.Attr {
				attr[a.Name.Local] = a.Value
			}
			switch {
			case se.Name.Local == "rect" && attr["width"] == "20":
				bars++
			case se.Name.Local == "line" && attr["stroke-dasharray"] != "":
				dashed++
			case se.Name.Local == "text" && strings.Contains(attr["transform"], "rotate"):
				labels++
			}
		}
	}
	// Two groups with an s5cmd ratio each, no rclone runs.
	if bars != 2 || dashed != 1 || labels != 2 {
		t.Errorf("%d bars, %d dashed lines, %d group labels; want 2, 1, 2", bars, dashed, labels)
	}
}
