package cost

import (
	"math"
	"net/url"
	"testing"
	"time"
)

func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-12*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

// TestCompute checks the report against figures worked out by hand (see the comments).
func TestCompute(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	hour := Input{
		Start: t0, End: t0.Add(time.Hour), Requested: time.Hour,
		Ops: map[string]uint64{"put": 2000, "get": 10000, "get_range": 5000, "head": 1000, "list": 100, "delete": 300},
		// 4 GiB ingested: 2000 PUTs / 4 = 500 per GiB.
		IngestedBytes: 4 << 30,
		HotBytes:      2 << 30,
		Topics:        []TopicBytes{{Topic: "b", Bytes: 1 << 30, Segments: 2}, {Topic: "a", Bytes: 3 << 30, Segments: 10}},
	}
	type op struct {
		name, class   string
		count         uint64
		cost, monthly float64
	}
	for _, tc := range []struct {
		name        string
		in          Input
		prices      Prices
		ops         []op // sorted by name
		total       op
		object, hot [2]float64 // bytes, monthly
		topics      map[string]float64
		putsPerGiB  float64 // -1: absent
		monthly     float64
		seconds     float64
	}{
		{
			name: "an hour at list prices", in: hour, prices: DefaultPrices(),
			// PUT class $0.000005 a request, GET class $0.0000004; a month is 730 windows of an hour.
			ops: []op{
				{"delete", ClassFree, 300, 0, 0},
				{"get", ClassGet, 10000, 0.004, 2.92},
				{"get_range", ClassGet, 5000, 0.002, 1.46},
				{"head", ClassGet, 1000, 0.0004, 0.292},
				{"list", ClassPut, 100, 0.0005, 0.365},
				{"put", ClassPut, 2000, 0.01, 7.3},
			},
			total:  op{"", "", 18400, 0.0169, 12.337},
			object: [2]float64{4 << 30, 4 * 0.023}, hot: [2]float64{2 << 30, 0},
			topics:     map[string]float64{"a": 3 * 0.023, "b": 0.023},
			putsPerGiB: 500, monthly: 12.337 + 0.092, seconds: 3600,
		},
		{
			name: "hot disk priced, dearer PUTs", in: hour,
			prices: Prices{PutPer1000: 0.01, GetPer1000: 0.0004, StorageGBMonth: 0.023, HotStorageGBMonth: 0.08},
			ops: []op{
				{"delete", ClassFree, 300, 0, 0},
				{"get", ClassGet, 10000, 0.004, 2.92},
				{"get_range", ClassGet, 5000, 0.002, 1.46},
				{"head", ClassGet, 1000, 0.0004, 0.292},
				{"list", ClassPut, 100, 0.001, 0.73},
				{"put", ClassPut, 2000, 0.02, 14.6},
			},
			total:  op{"", "", 18400, 0.0274, 20.002},
			object: [2]float64{4 << 30, 0.092}, hot: [2]float64{2 << 30, 0.16},
			topics:     map[string]float64{"a": 0.069, "b": 0.023},
			putsPerGiB: 500, monthly: 20.002 + 0.092 + 0.16, seconds: 3600,
		},
		{
			// 90 s: a month is 29,200 windows. 3 PUTs over 1.5 MiB is 2,048 per GiB.
			name: "ninety seconds, unknown ops",
			in: Input{Start: t0, End: t0.Add(90 * time.Second),
				Ops: map[string]uint64{"put": 3, "copy": 2, "select": 10}, IngestedBytes: 3 << 19},
			prices: DefaultPrices(),
			ops: []op{
				{"copy", ClassPut, 2, 0.00001, 0.292},
				{"put", ClassPut, 3, 0.000015, 0.438},
				{"select", ClassGet, 10, 0.000004, 0.1168},
			},
			total:  op{"", "", 15, 0.000029, 0.8468},
			topics: map[string]float64{}, putsPerGiB: 2048, monthly: 0.8468, seconds: 90,
		},
		{
			name:   "empty window, nothing ingested",
			in:     Input{Start: t0, End: t0, Ops: map[string]uint64{"put": 0}},
			prices: DefaultPrices(),
			ops:    []op{{"put", ClassPut, 0, 0, 0}},
			topics: map[string]float64{}, putsPerGiB: -1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Compute(tc.in, tc.prices)
			if !near(r.Window.Seconds, tc.seconds) || r.Window.RequestedSeconds != tc.in.Requested.Seconds() {
				t.Errorf("window %+v, want %v s", r.Window, tc.seconds)
			}
			if len(r.Requests) != len(tc.ops) {
				t.Fatalf("requests %+v, want %+v", r.Requests, tc.ops)
			}
			for i, w := range tc.ops {
				g := r.Requests[i]
				if g.Op != w.name || g.Class != w.class || g.Count != w.count || !near(g.Cost, w.cost) || !near(g.Monthly, w.monthly) {
					t.Errorf("request %d: %+v, want %+v", i, g, w)
				}
			}
			if g := r.Total; g.Count != tc.total.count || !near(g.Cost, tc.total.cost) || !near(g.Monthly, tc.total.monthly) {
				t.Errorf("total %+v, want %+v", g, tc.total)
			}
			if len(r.Storage) != 2 || r.Storage[0].Tier != "object" || r.Storage[1].Tier != "hot" {
				t.Fatalf("storage %+v", r.Storage)
			}
			for i, w := range [][2]float64{tc.object, tc.hot} {
				if s := r.Storage[i]; float64(s.Bytes) != w[0] || !near(s.Monthly, w[1]) {
					t.Errorf("storage %+v, want bytes %v monthly %v", s, w[0], w[1])
				}
			}
			if len(r.Topics) != len(tc.topics) {
				t.Fatalf("topics %+v, want %v", r.Topics, tc.topics)
			}
			for i, tp := range r.Topics {
				if i > 0 && r.Topics[i-1].Topic >= tp.Topic {
					t.Errorf("topics not sorted: %+v", r.Topics)
				}
				if !near(tp.Monthly, tc.topics[tp.Topic]) {
					t.Errorf("topic %s monthly %v, want %v", tp.Topic, tp.Monthly, tc.topics[tp.Topic])
				}
			}
			if r.Ingest.Source != IngestedMetric || r.Ingest.Bytes != tc.in.IngestedBytes || r.Ingest.Puts != tc.in.Ops["put"] {
				t.Errorf("ingest %+v", r.Ingest)
			}
			switch {
			case tc.putsPerGiB < 0 && r.Ingest.PutsPerGiB != nil:
				t.Errorf("puts per GiB %v, want none", *r.Ingest.PutsPerGiB)
			case tc.putsPerGiB >= 0 && (r.Ingest.PutsPerGiB == nil || !near(*r.Ingest.PutsPerGiB, tc.putsPerGiB)):
				t.Errorf("puts per GiB %v, want %v", r.Ingest.PutsPerGiB, tc.putsPerGiB)
			}
			if !near(r.Monthly, tc.monthly) {
				t.Errorf("monthly total %v, want %v", r.Monthly, tc.monthly)
			}
		})
	}
}

func TestClass(t *testing.T) {
	for op, want := range map[string]string{
		"put": ClassPut, "list": ClassPut, "copy": ClassPut, "post": ClassPut,
		"get": ClassGet, "get_range": ClassGet, "head": ClassGet, "select": ClassGet, "": ClassGet,
		"delete": ClassFree,
	} {
		if got := Class(op); got != want {
			t.Errorf("Class(%q) = %q, want %q", op, got, want)
		}
	}
}

func TestPricesWithParams(t *testing.T) {
	for _, tc := range []struct {
		name, query string
		want        Prices
		bad         bool
	}{
		{"none", "", DefaultPrices(), false},
		{"all", "put_per_1000=0.0055&get_per_1000=0.00044&storage_gb_month=0.021&hot_storage_gb_month=0.08",
			Prices{0.0055, 0.00044, 0.021, 0.08}, false},
		{"one, others kept", "storage_gb_month=0", Prices{0.005, 0.0004, 0, 0}, false},
		{"not a number", "put_per_1000=cheap", Prices{}, true},
		{"negative", "get_per_1000=-1", Prices{}, true},
		{"infinite", "get_per_1000=Inf", Prices{}, true},
		{"NaN", "storage_gb_month=NaN", Prices{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DefaultPrices().WithParams(q)
			if tc.bad {
				if err == nil {
					t.Fatalf("got %+v, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	if err := (Prices{PutPer1000: -1}).Validate(); err == nil {
		t.Error("a negative price validates")
	}
	if err := (Prices{StorageGBMonth: math.Inf(1)}).Validate(); err == nil {
		t.Error("an infinite price validates")
	}
	if len(PriceParams) != 4 {
		t.Errorf("PriceParams %v", PriceParams)
	}
}
