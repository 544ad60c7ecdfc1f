package load

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// ErrScrape marks a /metrics endpoint that could not be read.
var ErrScrape = errors.New("load: scrape")

// Sample is one series of a Prometheus text exposition.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Samples is a parsed exposition.
type Samples []Sample

// ParseText parses the Prometheus text exposition format (version 0.0.4): comment lines are
// ignored, every other line is `name{label="value",...} value [timestamp]`. Lines it cannot parse
// are skipped and counted in bad; it never panics on any input.
func ParseText(r io.Reader) (s Samples, bad int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		smp, ok := parseLine(line)
		if !ok {
			bad++
			continue
		}
		s = append(s, smp)
	}
	return s, bad, sc.Err()
}

func parseLine(line string) (Sample, bool) {
	var smp Sample
	i := strings.IndexAny(line, "{ \t")
	if i <= 0 {
		return smp, false
	}
	smp.Name = line[:i]
	rest := line[i:]
	if rest[0] == '{' {
		labels, n, ok := parseLabels(rest)
		if !ok {
			return smp, false
		}
		smp.Labels = labels
		rest = rest[n:]
	}
	f := strings.Fields(rest)
	if len(f) < 1 || len(f) > 2 {
		return smp, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return smp, false
	}
	smp.Value = v
	return smp, true
}

// parseLabels reads `{k="v",...}` at the start of s and returns the labels and the bytes consumed.
func parseLabels(s string) (map[string]string, int, bool) {
	labels := map[string]string{}
	i := 1
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == ',') {
			i++
		}
		if i >= len(s) {
			return nil, 0, false
		}
		if s[i] == '}' {
			return labels, i + 1, true
		}
		eq := strings.IndexByte(s[i:], '=')
		if eq <= 0 || i+eq+1 >= len(s) || s[i+eq+1] != '"' {
			return nil, 0, false
		}
		key := strings.TrimSpace(s[i : i+eq])
		i += eq + 2
		var val strings.Builder
		for {
			if i >= len(s) {
				return nil, 0, false
			}
			c := s[i]
			if c == '\\' && i+1 < len(s) {
				switch s[i+1] {
				case 'n':
					val.WriteByte('\n')
				default:
					val.WriteByte(s[i+1])
				}
				i += 2
				continue
			}
			i++
			if c == '"' {
				break
			}
			val.WriteByte(c)
		}
		labels[key] = val.String()
	}
}

// Sum adds the values of the series called name whose labels include every pair in match.
func (s Samples) Sum(name string, match map[string]string) float64 {
	var total float64
next:
	for _, smp := range s {
		if smp.Name != name {
			continue
		}
		for k, v := range match {
			if smp.Labels[k] != v {
				continue next
			}
		}
		total += smp.Value
	}
	return total
}

// Names returns the distinct metric names with the given prefix, sorted.
func (s Samples) Names(prefix string) []string {
	seen := map[string]bool{}
	for _, smp := range s {
		if strings.HasPrefix(smp.Name, prefix) {
			seen[smp.Name] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Scrape fetches and parses url (a /metrics endpoint).
func Scrape(ctx context.Context, url string) (Samples, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrScrape, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrScrape, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s: %s", ErrScrape, url, resp.Status)
	}
	s, _, err := ParseText(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrScrape, err)
	}
	return s, nil
}

// ObjStoreCounters are Strata's object-store counters at one moment.
type ObjStoreCounters struct {
	Puts, Gets, Errors float64
	PutBytes, GetBytes float64
	// FlushPuts are the objects object-durability flushes wrote (one per flush per node, however
	// many partitions it holds); Puts less FlushPuts are segment uploads and compaction's rewrites.
	FlushPuts float64
}

// ObjStoreFrom reads the counters from a scrape (gets include ranged gets).
func ObjStoreFrom(s Samples) ObjStoreCounters {
	const ops, bytes = "strata_objstore_operations_total", "strata_objstore_bytes_total"
	return ObjStoreCounters{
		Puts:      s.Sum(ops, map[string]string{"op": "put"}),
		Gets:      s.Sum(ops, map[string]string{"op": "get"}) + s.Sum(ops, map[string]string{"op": "get_range"}),
		Errors:    s.Sum("strata_objstore_errors_total", nil),
		PutBytes:  s.Sum(bytes, map[string]string{"direction": "write"}),
		GetBytes:  s.Sum(bytes, map[string]string{"direction": "read"}),
		FlushPuts: s.Sum("strata_tier_shared_objects_total", nil),
	}
}

// ObjStoreDelta is what a scenario cost in object-store calls, with the per-GiB rates against the
// record bytes the scenario moved.
type ObjStoreDelta struct {
	Puts        float64 `json:"puts"`
	Gets        float64 `json:"gets"`
	Errors      float64 `json:"errors"`
	PutBytes    float64 `json:"put_bytes"`
	GetBytes    float64 `json:"get_bytes"`
	MovedBytes  float64 `json:"moved_bytes"`
	PutsPerGiB  float64 `json:"puts_per_gib"`
	GetsPerGiB  float64 `json:"gets_per_gib"`
	BytesPerPut float64 `json:"bytes_per_put"`
	BytesPerGet float64 `json:"bytes_per_get"`
	// FlushPuts are the PUTs of object-durability flushes among Puts, and Seconds the wall time
	// the counters were taken over (the scenario's topic creation and warm-up included); the
	// per-second rates are per node (the bench runs one).
	FlushPuts     float64 `json:"flush_puts"`
	Seconds       float64 `json:"seconds,omitempty"`
	PutsPerS      float64 `json:"puts_per_s,omitempty"`
	FlushPutsPerS float64 `json:"flush_puts_per_s,omitempty"`
	// FlushPutsPerGiB is FlushPuts per GiB moved: the flush cost without compaction's rewrites.
	FlushPutsPerGiB float64 `json:"flush_puts_per_gib,omitempty"`
}

// Delta is after-before, rated against moved record bytes.
func Delta(before, after ObjStoreCounters, moved int64) ObjStoreDelta {
	d := ObjStoreDelta{
		Puts: after.Puts - before.Puts, Gets: after.Gets - before.Gets, Errors: after.Errors - before.Errors,
		PutBytes: after.PutBytes - before.PutBytes, GetBytes: after.GetBytes - before.GetBytes,
		FlushPuts: after.FlushPuts - before.FlushPuts, MovedBytes: float64(moved),
	}
	d.derive()
	return d
}

func (d *ObjStoreDelta) add(o ObjStoreDelta) {
	d.Puts += o.Puts
	d.Gets += o.Gets
	d.Errors += o.Errors
	d.PutBytes += o.PutBytes
	d.GetBytes += o.GetBytes
	d.MovedBytes += o.MovedBytes
	d.FlushPuts += o.FlushPuts
	d.Seconds += o.Seconds
}

func (d *ObjStoreDelta) derive() {
	ratio := func(a, b float64) float64 {
		if b <= 0 {
			return 0
		}
		return math.Round(a/b*100) / 100
	}
	gib := d.MovedBytes / (1 << 30)
	d.PutsPerGiB = ratio(d.Puts, gib)
	d.GetsPerGiB = ratio(d.Gets, gib)
	d.BytesPerPut = ratio(d.PutBytes, d.Puts)
	d.BytesPerGet = ratio(d.GetBytes, d.Gets)
	d.PutsPerS = ratio(d.Puts, d.Seconds)
	d.FlushPutsPerS = ratio(d.FlushPuts, d.Seconds)
	d.FlushPutsPerGiB = ratio(d.FlushPuts, gib)
}

// SetSeconds records the wall time the delta was taken over and derives the per-second rates.
func (d *ObjStoreDelta) SetSeconds(s float64) {
	d.Seconds = s
	d.derive()
}

// ServerCounters are Strata's request-path counters at one moment.
type ServerCounters struct {
	ProduceRequests, FetchRequests, FetchResponseBytes float64
	Fsyncs, Batches                                    float64
}

// ServerFrom reads the request-path counters from a scrape.
func ServerFrom(s Samples) ServerCounters {
	const reqs = "strata_kafka_requests_total"
	return ServerCounters{
		ProduceRequests:    s.Sum(reqs, map[string]string{"api": "Produce"}),
		FetchRequests:      s.Sum(reqs, map[string]string{"api": "Fetch"}),
		FetchResponseBytes: s.Sum("strata_kafka_response_bytes_total", map[string]string{"api": "Fetch"}),
		Fsyncs:             s.Sum("strata_hotlog_fsync_duration_seconds_count", nil),
		Batches:            s.Sum("strata_hotlog_appended_batches_total", nil),
	}
}

// ServerDelta is how Strata's request path served a scenario: how many requests, how big the
// fetch responses, how many batches each fsync carried.
type ServerDelta struct {
	ProduceRequests    float64 `json:"produce_requests"`
	FetchRequests      float64 `json:"fetch_requests"`
	FetchResponseBytes float64 `json:"fetch_response_bytes"`
	BytesPerFetch      float64 `json:"bytes_per_fetch"`
	Fsyncs             float64 `json:"fsyncs"`
	Batches            float64 `json:"batches"`
	BatchesPerFsync    float64 `json:"batches_per_fsync"`
}

// ServerDeltaOf is after-before.
func ServerDeltaOf(before, after ServerCounters) ServerDelta {
	d := ServerDelta{
		ProduceRequests:    after.ProduceRequests - before.ProduceRequests,
		FetchRequests:      after.FetchRequests - before.FetchRequests,
		Fsyncs:             after.Fsyncs - before.Fsyncs,
		FetchResponseBytes: after.FetchResponseBytes - before.FetchResponseBytes,
		Batches:            after.Batches - before.Batches,
	}
	if d.FetchRequests > 0 {
		d.BytesPerFetch = math.Round(d.FetchResponseBytes / d.FetchRequests)
	}
	if d.Fsyncs > 0 {
		d.BatchesPerFsync = math.Round(d.Batches/d.Fsyncs*100) / 100
	}
	return d
}
