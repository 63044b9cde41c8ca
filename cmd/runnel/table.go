package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// align is how a column's cells line up.
type align int

const (
	left  align = iota
	right       // numbers, sizes, durations
)

type column struct {
	title string
	align align
}

// table renders rows as aligned columns separated by two spaces, the way
// kubectl and docker do: an upper-case header, no borders, and no
// trailing blanks.
type table struct {
	cols []column
	rows [][]string
}

func newTable(cols ...column) *table { return &table{cols: cols} }

func col(title string) column  { return column{title: title} }
func rcol(title string) column { return column{title: title, align: right} }

// add appends a row; missing cells are blank.
func (t *table) add(cells ...string) {
	row := make([]string, len(t.cols))
	copy(row, cells)
	t.rows = append(t.rows, row)
}

func (t *table) widths() []int {
	w := make([]int, len(t.cols))
	for i, c := range t.cols {
		w[i] = width(c.title)
		for _, r := range t.rows {
			w[i] = max(w[i], width(r[i]))
		}
	}
	return w
}

func (t *table) render(out io.Writer) error {
	w := t.widths()
	var b strings.Builder
	titles := make([]string, len(t.cols))
	for i, c := range t.cols {
		titles[i] = c.title
	}
	writeRow(&b, t.cols, w, titles)
	for _, r := range t.rows {
		writeRow(&b, t.cols, w, r)
	}
	_, err := io.WriteString(out, b.String())
	return err
}

func writeRow(b *strings.Builder, cols []column, w []int, cells []string) {
	var line strings.Builder
	for i, c := range cells {
		if i > 0 {
			line.WriteString("  ")
		}
		pad := strings.Repeat(" ", max(0, w[i]-width(c)))
		if cols[i].align == right {
			line.WriteString(pad)
			line.WriteString(c)
		} else {
			line.WriteString(c)
			line.WriteString(pad)
		}
	}
	b.WriteString(strings.TrimRight(line.String(), " "))
	b.WriteByte('\n')
}

// width is the number of terminal cells s takes, counting each rune as
// one: good enough for ids, names, numbers and SQL identifiers.
func width(s string) int { return utf8.RuneCountInString(s) }

// padRight pads s with spaces to n cells.
func padRight(s string, n int) string {
	return s + strings.Repeat(" ", max(0, n-width(s)))
}

// padLeft pads s with spaces on the left to n cells.
func padLeft(s string, n int) string {
	return strings.Repeat(" ", max(0, n-width(s))) + s
}

// humanBytes formats a size in IEC units: 0 B, 512 B, 1.5 KiB, 12 MiB.
func humanBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v := float64(n)
	i := -1
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if v >= 100 || v == math.Trunc(v) {
		return fmt.Sprintf("%.0f %s", v, units[i])
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

// humanRate formats a per-second rate of bytes.
func humanByteRate(v float64) string {
	return humanBytes(int64(math.Round(v))) + "/s"
}

// humanDuration formats a duration with about three significant digits:
// 850µs, 1.25ms, 125ms, 1.25s, 12.5s, 2m05s, 1h02m.
func humanDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + humanDuration(-d)
	case d == 0:
		return "0s"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond))
	case d < 10*time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		d = d.Round(time.Minute)
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}

// age says how long ago t was, coarsely: 5s, 3m, 2h, 4d.
func age(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}

// interval formats a configured interval the way a user would write it:
// 10s, 1m, 1m30s, 1h.
func interval(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// clock formats a time for tables: the local time of day, with the date
// when it is not today.
func clock(now, t time.Time) string {
	t, now = t.Local(), now.Local()
	y1, m1, d1 := now.Date()
	y2, m2, d2 := t.Date()
	if y1 == y2 && m1 == m2 && d1 == d2 {
		return t.Format("15:04:05")
	}
	return t.Format("2006-01-02 15:04:05")
}

// orDash shows missing values as a dash.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
