package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/amove/amove-go/transfer"
)

// progress shows the transfers a command follows: bars on a terminal,
// one line per finished transfer otherwise (logs, pipes, --json).
type progress interface {
	// update shows st, a status of transfer st.ID named name.
	update(name string, st transfer.Status)
	// finish shows the final status of a transfer.
	finish(name string, st transfer.Status)
	// close ends the display; nothing is written after it returns.
	close()
}

// newProgress picks bars when w is a terminal and the output is for
// people, lines otherwise.
func newProgress(w io.Writer, forPeople bool) progress {
	if f, ok := w.(*os.File); ok && forPeople && isatty.IsTerminal(f.Fd()) {
		return newBars(w)
	}
	return &lines{w: w, quiet: !forPeople}
}

// lines prints one line per finished transfer.
type lines struct {
	w     io.Writer
	quiet bool
}

func (l *lines) update(string, transfer.Status) {}
func (l *lines) close()                         {}
func (l *lines) finish(name string, st transfer.Status) {
	if !l.quiet {
		fmt.Fprintln(l.w, summary(name, st))
	}
}

// summary is the one line of a finished transfer.
func summary(name string, st transfer.Status) string {
	s := fmt.Sprintf("%s: %s, %d files, %d bytes, checksum verified: %v: %s", st.Kind, st.State, st.FilesDone, st.BytesDone, st.ChecksumVerified, name)
	if st.Error != "" && st.State != transfer.Completed {
		s += ": " + st.Error
	}
	return s
}

// bars draws a bar per transfer, with its rate and ETA, and one for the
// total when there are several.
type bars struct {
	p     *mpb.Progress
	mu    sync.Mutex
	each  map[string]*bar
	total *mpb.Bar
	// statsMu guards last, which the total's decorator reads while the
	// bars render; mu is never held while it waits for them.
	statsMu sync.Mutex
	last    map[string]transfer.Status
}

type bar struct {
	b  *mpb.Bar
	mu sync.Mutex
	st transfer.Status
}

func newBars(w io.Writer) *bars {
	return &bars{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(40), mpb.WithRefreshRate(150*time.Millisecond)),
		each: map[string]*bar{}, last: map[string]transfer.Status{}}
}

func (b *bars) get(name string, st transfer.Status) *bar {
	b.mu.Lock()
	defer b.mu.Unlock()
	if br, ok := b.each[st.ID]; ok {
		return br
	}
	br := &bar{st: st}
	rate := decor.Any(func(decor.Statistics) string {
		br.mu.Lock()
		defer br.mu.Unlock()
		return rateETA(br.st)
	})
	br.b = b.p.AddBar(max(st.BytesTotal, 1),
		mpb.PrependDecorators(decor.Name(name, decor.WCSyncSpaceR), decor.CountersKibiByte("% .1f / % .1f", decor.WCSyncSpace)),
		mpb.AppendDecorators(decor.OnComplete(decor.Percentage(decor.WCSyncSpace), " done"), rate))
	b.each[st.ID] = br
	if len(b.each) == 2 && b.total == nil {
		b.total = b.p.AddBar(1, mpb.BarPriority(1<<30),
			mpb.PrependDecorators(decor.Name("total", decor.WCSyncSpaceR), decor.CountersKibiByte("% .1f / % .1f", decor.WCSyncSpace)),
			mpb.AppendDecorators(decor.Percentage(decor.WCSyncSpace), decor.Any(func(decor.Statistics) string {
				b.statsMu.Lock()
				defer b.statsMu.Unlock()
				var sum transfer.Status
				for _, s := range b.last {
					sum.BytesPerSecond += s.BytesPerSecond
					sum.BytesDone += s.BytesDone
					sum.BytesTotal += s.BytesTotal
				}
				if sum.BytesPerSecond > 0 {
					sum.ETA = time.Duration(float64(sum.BytesTotal-sum.BytesDone) / sum.BytesPerSecond * float64(time.Second))
				}
				return rateETA(sum)
			})))
	}
	return br
}

// rateETA is the recent rate and the time left.
func rateETA(st transfer.Status) string {
	s := "  " + human(st.BytesPerSecond) + "/s"
	if st.ETA > 0 {
		s += "  ETA " + st.ETA.Round(time.Second).String()
	}
	return s
}

func (b *bars) update(name string, st transfer.Status) {
	br := b.get(name, st)
	br.mu.Lock()
	br.st = st
	br.mu.Unlock()
	if st.BytesTotal > 0 {
		br.b.SetTotal(st.BytesTotal, false)
	}
	br.b.SetCurrent(st.BytesDone)
	b.statsMu.Lock()
	b.last[st.ID] = st
	var done, total int64
	for _, s := range b.last {
		done, total = done+s.BytesDone, total+s.BytesTotal
	}
	b.statsMu.Unlock()
	b.mu.Lock()
	tb := b.total
	b.mu.Unlock()
	if tb != nil {
		tb.SetTotal(max(total, 1), false)
		tb.SetCurrent(done)
	}
}

func (b *bars) finish(name string, st transfer.Status) {
	b.update(name, st)
	br := b.get(name, st)
	if st.State == transfer.Completed {
		br.b.SetTotal(max(st.BytesDone, 1), true)
	} else {
		br.b.Abort(false)
	}
}

func (b *bars) close() {
	b.mu.Lock()
	if b.total != nil {
		b.total.SetTotal(-1, true)
	}
	for _, br := range b.each {
		if !br.b.Completed() {
			br.b.Abort(false)
		}
	}
	b.mu.Unlock()
	b.p.Wait()
}

func human(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for b >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %s", b, units[i])
}
