package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Chart geometry, in SVG user units.
const (
	chartLeft   = 150 // room for the axis labels and the first rotated group label
	chartTop    = 48  // title and legend
	chartPlot   = 260 // plot height
	chartBottom = 120 // rotated group labels
	groupWidth  = 64
	barWidth    = 22
)

var series = []struct {
	name, color string
	value       func(Group) float64
}{
	{"amove / s5cmd", "#2b6cb0", func(g Group) float64 { return g.AmoveS5cmd }},
	{"amove / rclone", "#dd6b20", func(g Group) float64 { return g.AmoveRclone }},
}

// chart draws the wall time ratios of every group as bars, with a dashed
// line at 1.0: a bar under the line is a row where amove is faster.
func chart(res Results) string {
	groups := make([]Group, 0, len(res.Groups))
	top := 1.5
	for _, g := range res.Groups {
		if g.AmoveS5cmd == 0 && g.AmoveRclone == 0 {
			continue
		}
		groups = append(groups, g)
		top = max(top, g.AmoveS5cmd*1.1, g.AmoveRclone*1.1)
	}
	top = math.Ceil(top*2) / 2 // a multiple of 0.5
	width := chartLeft + max(len(groups), 1)*groupWidth + 24
	height := chartTop + chartPlot + chartBottom
	y := func(v float64) float64 { return chartTop + chartPlot - v/top*chartPlot }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/>`+"\n", width, height)
	title := "Wall time of amove cp over the peer's (median; below 1.0 amove is faster)"
	if res.Meta.Date != "" {
		title += " — " + res.Meta.Date
	}
	fmt.Fprintf(&b, `<text x="%d" y="16" font-size="13" font-weight="bold">%s</text>`+"\n", chartLeft, html.EscapeString(title))
	for i, s := range series {
		x := chartLeft + i*130
		fmt.Fprintf(&b, `<rect x="%d" y="26" width="12" height="12" fill="%s"/><text x="%d" y="36">%s</text>`+"\n", x, s.color, x+16, html.EscapeString(s.name))
	}
	// Axis with a tick every 0.5.
	for v := 0.0; v <= top+1e-9; v += 0.5 {
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e2e8f0"/><text x="%d" y="%.1f" text-anchor="end">%.1f</text>`+"\n",
			chartLeft, width-16, y(v), y(v), chartLeft-6, y(v)+4, v)
	}
	for i, g := range groups {
		x0 := chartLeft + i*groupWidth + (groupWidth-2*barWidth)/2
		for j, s := range series {
			v := s.value(g)
			if v == 0 {
				continue
			}
			x := x0 + j*barWidth
			fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="%d" height="%.1f" fill="%s"><title>%s: %s %.2f</title></rect>`+"\n",
				x, y(v), barWidth-2, y(0)-y(v), s.color, html.EscapeString(g.Label), html.EscapeString(s.name), v)
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="middle" font-size="9">%.2f</text>`+"\n", x+barWidth/2-1, y(v)-3, v)
		}
		cx := chartLeft + i*groupWidth + groupWidth/2
		fmt.Fprintf(&b, `<text transform="translate(%d,%d) rotate(-40)" text-anchor="end">%s</text>`+"\n",
			cx, chartTop+chartPlot+14, html.EscapeString(shortLabel(g)))
	}
	// The line at 1.0, over the bars.
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#c53030" stroke-width="1.5" stroke-dasharray="6 3"/>`+"\n",
		chartLeft, width-16, y(1), y(1))
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#4a5568"/>`+"\n", chartLeft, chartLeft, chartTop, chartTop+chartPlot)
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#4a5568"/>`+"\n", chartLeft, width-16, chartTop+chartPlot, chartTop+chartPlot)
	b.WriteString("</svg>\n")
	return b.String()
}

// shortLabel names a group in few enough characters to sit under its bars.
func shortLabel(g Group) string {
	l := strings.TrimSuffix(g.Label, " upload")
	if l != g.Label {
		return l + " up"
	}
	if l, ok := strings.CutSuffix(g.Label, "'s objects"); ok {
		l = strings.Replace(l, " download of ", " down, from ", 1)
		return l
	}
	return g.Label
}
