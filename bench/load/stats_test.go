package load

import (
	"math"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(i + 1) // 1..100
	}
	tests := []struct {
		name   string
		sorted []float64
		q      float64
		want   float64
	}{
		{"empty is NaN", nil, 0.5, math.NaN()},
		{"single", []float64{7}, 0.99, 7},
		{"p50 of 1..100", hundred, 0.5, 50},
		{"p99 of 1..100", hundred, 0.99, 99},
		{"p999 of 1..100 is the max", hundred, 0.999, 100},
		{"p0 is the min", hundred, 0, 1},
		{"q above 1 clamps", hundred, 1.5, 100},
		{"q below 0 clamps", hundred, -1, 1},
		{"NaN q is the min", hundred, math.NaN(), 1},
		{"p50 of two is the lower", []float64{1, 2}, 0.5, 1},
		{"p51 of two is the upper", []float64{1, 2}, 0.51, 2},
		{"p25 of four", []float64{10, 20, 30, 40}, 0.25, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Percentile(tt.sorted, tt.q)
			if math.IsNaN(tt.want) != math.IsNaN(got) || (!math.IsNaN(got) && got != tt.want) {
				t.Fatalf("Percentile(q=%v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

func TestPercentileP999OfMany(t *testing.T) {
	s := make([]float64, 10000)
	for i := range s {
		s[i] = float64(i)
	}
	s[9995] = 1e6 // tail outliers above p99.9 must not move it
	slices.Sort(s)
	// Nearest rank: ceil(0.999 × 10000) = 9990, the 9990th smallest, which is 9989.
	if got := Percentile(s, 0.999); got != 9989 {
		t.Fatalf("p99.9 = %v, want 9989", got)
	}
}

func TestRecorderConcurrent(t *testing.T) {
	var r Recorder
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				r.Observe(time.Duration(g*1000+i) * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	s := r.Snapshot()
	if len(s) != 8000 || r.Len() != 8000 {
		t.Fatalf("got %d samples, want 8000", len(s))
	}
	if !slices.IsSorted(s) {
		t.Fatal("snapshot not sorted")
	}
	if s[0] != 0 || s[len(s)-1] != 7.999 {
		t.Fatalf("range [%v, %v], want [0, 7.999] ms", s[0], s[len(s)-1])
	}
	l := Summarize(s)
	if l.Count != 8000 || l.P50 != 3.999 || l.Max != 7.999 {
		t.Fatalf("summary %+v", l)
	}
}

func TestCDF(t *testing.T) {
	if CDF(nil, 100) != nil {
		t.Fatal("CDF of nothing should be nil")
	}
	s := make([]float64, 100000)
	for i := range s {
		s[i] = float64(i)
	}
	pts := CDF(s, 200)
	if len(pts) > 260 || len(pts) < 100 {
		t.Fatalf("got %d points, want about 200", len(pts))
	}
	for i := 1; i < len(pts); i++ {
		if pts[i].Ms < pts[i-1].Ms || pts[i].Fraction <= pts[i-1].Fraction {
			t.Fatalf("points not increasing at %d: %+v %+v", i, pts[i-1], pts[i])
		}
	}
	first, last := pts[0], pts[len(pts)-1]
	if first.Ms != 0 || last.Ms != 99999 || last.Fraction != 1 {
		t.Fatalf("ends %+v %+v", first, last)
	}
	// The tail is kept: some point lies at or beyond p99.9 and before the max.
	var tail bool
	for _, p := range pts {
		if p.Fraction >= 0.999 && p.Fraction < 1 {
			tail = true
		}
	}
	if !tail {
		t.Fatal("no point between p99.9 and the max")
	}
	if got := CDF([]float64{5}, 200); len(got) != 1 || got[0] != (CDFPoint{Ms: 5, Fraction: 1}) {
		t.Fatalf("single sample CDF = %+v", got)
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{nil, math.NaN()},
		{[]float64{math.NaN()}, math.NaN()},
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{1, math.NaN(), 5}, 3},
	}
	for _, tt := range tests {
		got := Median(tt.in)
		if math.IsNaN(tt.want) != math.IsNaN(got) || (!math.IsNaN(got) && got != tt.want) {
			t.Errorf("Median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
