package engine

import (
	"math"
	"time"
)

// watermarks tracks the watermark of every sender of a subtask's inputs.
// The subtask's watermark is the minimum over senders that have not ended
// and are not idle; it only moves forward.
type watermarks struct {
	base    []int // first sender slot of each input
	single  []bool
	wm      []int64
	ended   []bool
	last    []time.Time // when each sender last sent anything
	idle    time.Duration
	current int64
	now     func() time.Time
}

func newWatermarks(senders []int, idle time.Duration) *watermarks {
	if idle == 0 {
		idle = DefaultIdleTimeout
	}
	w := &watermarks{idle: idle, current: math.MinInt64, now: time.Now}
	total := 0
	for _, n := range senders {
		w.base = append(w.base, total)
		w.single = append(w.single, n == 1)
		total += n
	}
	w.wm = make([]int64, total)
	for i := range w.wm {
		w.wm[i] = math.MinInt64
	}
	w.ended = make([]bool, total)
	w.last = make([]time.Time, total)
	start := w.now()
	for i := range w.last {
		w.last[i] = start
	}
	return w
}

func (w *watermarks) slot(input, from int) int {
	if input >= len(w.base) {
		return -1
	}
	if w.single[input] {
		return w.base[input]
	}
	return w.base[input] + from
}

// seen notes that a sender is active. It is called for every message, so
// it reads the clock only for signals' sake every so often.
func (w *watermarks) seen(input, from int) {
	if w.idle < 0 {
		return
	}
	if i := w.slot(input, from); i >= 0 && i < len(w.last) {
		w.last[i] = w.now()
	}
}

// update records a sender's watermark and returns the new subtask
// watermark if it advanced.
func (w *watermarks) update(input, from int, wm int64) (int64, bool) {
	i := w.slot(input, from)
	if i < 0 || i >= len(w.wm) {
		return 0, false
	}
	if wm > w.wm[i] {
		w.wm[i] = wm
	}
	return w.advance()
}

// end records that a sender ended: it no longer holds anything back.
func (w *watermarks) end(input, from int) (int64, bool) {
	i := w.slot(input, from)
	if i < 0 || i >= len(w.wm) {
		return 0, false
	}
	w.ended[i] = true
	return w.advance()
}

func (w *watermarks) advance() (int64, bool) {
	lo, any := int64(math.MaxInt64), false
	now := w.now()
	for i, v := range w.wm {
		if w.ended[i] {
			continue
		}
		if w.idle > 0 && now.Sub(w.last[i]) > w.idle {
			continue
		}
		any = true
		lo = min(lo, v)
	}
	if !any || lo == math.MinInt64 || lo <= w.current {
		return 0, false
	}
	w.current = lo
	return lo, true
}
