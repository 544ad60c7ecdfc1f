package cost

import (
	"sort"
	"time"
)

const (
	// GiB is the GB of S3's storage price, and of PUTs per GiB.
	GiB = 1 << 30
	// Month is the month of a monthly rate: 730 hours, as AWS prices a month.
	Month = 730 * time.Hour
)

// Input is what a report is computed from. Counts are deltas over the window; sizes are current.
type Input struct {
	Start, End time.Time
	// Requested is the window asked for (0: since the node started); Capped says the samples did not
	// reach back that far, so Start is later than End−Requested.
	Requested time.Duration
	Capped    bool
	// Ops counts object-store requests by op (strata_objstore_operations_total's label).
	Ops map[string]uint64
	// IngestedBytes is the RecordBatch bytes produce accepted in the window.
	IngestedBytes uint64
	// HotBytes is this node's hot-log bytes on disk.
	HotBytes int64
	// Topics are the object-storage bytes per topic, from the catalog.
	Topics []TopicBytes
}

// TopicBytes is one topic's share of object storage.
type TopicBytes struct {
	Topic    string `json:"topic"`
	Bytes    int64  `json:"bytes"`
	Segments int    `json:"segments"`
}

// Report is the cost report. Amounts are US dollars.
type Report struct {
	Window   Window        `json:"window"`
	Prices   Prices        `json:"prices"`
	Requests []RequestCost `json:"requests"` // by op, sorted
	Total    RequestCost   `json:"requests_total"`
	Storage  []StorageCost `json:"storage"` // "object", then "hot"
	Topics   []TopicCost   `json:"topics"`  // by name
	Ingest   Ingest        `json:"ingest"`
	Monthly  float64       `json:"monthly_total"` // requests' monthly rate + every tier's storage per month
}

// Window is the span a report covers.
type Window struct {
	Start            time.Time `json:"start"`
	End              time.Time `json:"end"`
	Seconds          float64   `json:"seconds"`
	RequestedSeconds float64   `json:"requested_seconds,omitempty"` // absent: since the node started
	Capped           bool      `json:"capped,omitempty"`
}

// RequestCost is the requests of one op (or all of them, with Op and Class empty).
type RequestCost struct {
	Op      string  `json:"op,omitempty"`
	Class   string  `json:"class,omitempty"`
	Count   uint64  `json:"count"`
	Cost    float64 `json:"cost"`    // over the window
	Monthly float64 `json:"monthly"` // the window's rate kept up for a month (0 for an empty window)
}

// StorageCost is one tier's bytes and their price per month.
type StorageCost struct {
	Tier    string  `json:"tier"`
	Bytes   int64   `json:"bytes"`
	Monthly float64 `json:"monthly"`
}

// TopicCost is one topic's object storage and its price per month.
type TopicCost struct {
	TopicBytes
	Monthly float64 `json:"monthly"`
}

// Ingest relates PUTs to the bytes produced.
type Ingest struct {
	Bytes  uint64 `json:"bytes"`
	Source string `json:"source"` // the counter Bytes comes from
	Puts   uint64 `json:"puts"`   // op "put" requests in the window
	// PutsPerGiB is Puts / (Bytes / 2^30); absent when nothing was ingested.
	PutsPerGiB *float64 `json:"puts_per_gib,omitempty"`
}

// Compute prices in by p. It does no I/O.
func Compute(in Input, p Prices) Report {
	secs := in.End.Sub(in.Start).Seconds()
	if secs < 0 {
		secs = 0
	}
	toMonth := 0.0
	if secs > 0 {
		toMonth = Month.Seconds() / secs
	}
	r := Report{
		Window: Window{Start: in.Start, End: in.End, Seconds: secs, RequestedSeconds: in.Requested.Seconds(), Capped: in.Capped},
		Prices: p,
	}
	ops := make([]string, 0, len(in.Ops))
	for op := range in.Ops {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	r.Requests = make([]RequestCost, 0, len(ops))
	for _, op := range ops {
		n := in.Ops[op]
		c := float64(n) * p.PerRequest(op)
		r.Requests = append(r.Requests, RequestCost{Op: op, Class: Class(op), Count: n, Cost: c, Monthly: c * toMonth})
		r.Total.Count += n
		r.Total.Cost += c
	}
	r.Total.Monthly = r.Total.Cost * toMonth

	var objectBytes int64
	topics := append([]TopicBytes(nil), in.Topics...)
	sort.Slice(topics, func(i, j int) bool { return topics[i].Topic < topics[j].Topic })
	r.Topics = make([]TopicCost, 0, len(topics))
	for _, t := range topics {
		objectBytes += t.Bytes
		r.Topics = append(r.Topics, TopicCost{TopicBytes: t, Monthly: perMonth(t.Bytes, p.StorageGBMonth)})
	}
	r.Storage = []StorageCost{
		{Tier: "object", Bytes: objectBytes, Monthly: perMonth(objectBytes, p.StorageGBMonth)},
		{Tier: "hot", Bytes: in.HotBytes, Monthly: perMonth(in.HotBytes, p.HotStorageGBMonth)},
	}

	r.Ingest = Ingest{Bytes: in.IngestedBytes, Source: IngestedMetric, Puts: in.Ops["put"]}
	if in.IngestedBytes > 0 {
		v := float64(r.Ingest.Puts) / (float64(in.IngestedBytes) / GiB)
		r.Ingest.PutsPerGiB = &v
	}

	r.Monthly = r.Total.Monthly
	for _, s := range r.Storage {
		r.Monthly += s.Monthly
	}
	return r
}

func perMonth(bytes int64, pricePerGB float64) float64 {
	return float64(bytes) / GiB * pricePerGB
}
