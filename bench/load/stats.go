package load

import (
	"math"
	"slices"
	"sync"
	"time"
)

// Recorder collects latency samples. Every sample is kept (a benchmark run records at most a few
// million), so percentiles are exact rather than bucketed. Safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex
	samples []float64 // milliseconds
}

// Observe records one latency.
func (r *Recorder) Observe(d time.Duration) {
	ms := float64(d) / float64(time.Millisecond)
	r.mu.Lock()
	r.samples = append(r.samples, ms)
	r.mu.Unlock()
}

// Len is the number of samples recorded.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.samples)
}

// Snapshot returns the samples recorded so far, sorted ascending; the caller owns the slice.
func (r *Recorder) Snapshot() []float64 {
	r.mu.Lock()
	s := slices.Clone(r.samples)
	r.mu.Unlock()
	slices.Sort(s)
	return s
}

// Percentile returns the q-quantile (0 ≤ q ≤ 1) of sorted by the nearest-rank method: the
// smallest sample such that at least q of all samples are ≤ it. It returns NaN for no samples
// and clamps q into [0, 1].
func Percentile(sorted []float64, q float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	if q <= 0 || math.IsNaN(q) {
		return sorted[0]
	}
	if q >= 1 {
		return sorted[n-1]
	}
	rank := int(math.Ceil(q * float64(n))) // 1-based
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

// Latencies is the usual percentile set of a sorted sample, in milliseconds.
type Latencies struct {
	P50, P99, P999, Max float64
	Count               int
}

// Summarize computes Latencies of a sorted sample (all NaN for no samples).
func Summarize(sorted []float64) Latencies {
	l := Latencies{
		P50:   Percentile(sorted, 0.50),
		P99:   Percentile(sorted, 0.99),
		P999:  Percentile(sorted, 0.999),
		Max:   Percentile(sorted, 1),
		Count: len(sorted),
	}
	return l
}

// CDFPoint is one point of an empirical distribution: Fraction of samples are ≤ Ms.
type CDFPoint struct {
	Ms       float64 `json:"ms"`
	Fraction float64 `json:"fraction"`
}

// CDF reduces a sorted sample to at most about maxPoints points of its empirical CDF, denser in the
// tail (fractions 1-10^-k are always kept), so that a plot of p99.9 stays faithful. Nil for no
// samples.
func CDF(sorted []float64, maxPoints int) []CDFPoint {
	n := len(sorted)
	if n == 0 || maxPoints < 2 {
		return nil
	}
	idx := make(map[int]bool)
	half := maxPoints / 2
	for i := 0; i <= half; i++ { // evenly spaced over the body
		idx[int(math.Round(float64(i)*float64(n-1)/float64(half)))] = true
	}
	for k := 1; k <= 6; k++ { // the tail: 0.9, 0.99, ... in steps
		lo := 1 - math.Pow(10, -float64(k-1))
		hi := 1 - math.Pow(10, -float64(k))
		steps := max(1, (maxPoints-half)/6)
		for s := 0; s <= steps; s++ {
			q := lo + (hi-lo)*float64(s)/float64(steps)
			i := int(math.Ceil(q*float64(n))) - 1
			idx[min(max(i, 0), n-1)] = true
		}
	}
	keys := make([]int, 0, len(idx))
	for i := range idx {
		keys = append(keys, i)
	}
	slices.Sort(keys)
	out := make([]CDFPoint, 0, len(keys))
	for _, i := range keys {
		out = append(out, CDFPoint{Ms: sorted[i], Fraction: float64(i+1) / float64(n)})
	}
	return out
}

// Median returns the median of vs (mean of the middle two for an even count) ignoring NaNs, or NaN
// when there is none.
func Median(vs []float64) float64 {
	s := make([]float64, 0, len(vs))
	for _, v := range vs {
		if !math.IsNaN(v) {
			s = append(s, v)
		}
	}
	if len(s) == 0 {
		return math.NaN()
	}
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}
