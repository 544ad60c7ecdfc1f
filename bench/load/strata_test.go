package load

import (
	"context"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAgainstStrata runs the scenarios, small, against a real `strata server` process built from
// this tree: the harness must start and stop it by pid, move every record it claims to, and read
// the object-store counters.
func TestAgainstStrata(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a strata server")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "strata")
	build := exec.Command("go", "build", "-o", bin, "github.com/strata-log/strata/cmd/strata")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sp := &StrataProc{Bin: bin, Dir: filepath.Join(dir, "node")}
	if err := sp.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := sp.Stop(); err != nil {
			t.Error(err)
		}
	}()
	tg := Target{Broker: sp}
	p := Params{RecordSize: 1024, ProduceBytes: 4 << 20, ProduceTimeout: time.Minute, LatencyRate: 200,
		LatencyDuration: time.Second, LatencyPartitions: 3, ConsumeTimeout: time.Minute, ReplayBytes: 1 << 20,
		DetectTimeout: 2 * time.Second, WarmupBytes: 1 << 20, HotDropTimeout: time.Second}

	if err := Warmup(ctx, tg, p); err != nil {
		t.Fatal(err)
	}
	before, err := Scrape(ctx, sp.MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	r, topic, err := Produce(ctx, tg, p, 3)
	if err != nil {
		t.Fatal(err)
	}
	if r.Records != 4096 || r.Bytes != 4<<20 || r.Errors != 0 || r.MBPerS <= 0 || r.P99Ms <= 0 {
		t.Fatalf("produce %+v", r)
	}
	after, err := Scrape(ctx, sp.MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	// The broker's own count agrees with the client's.
	appended := after.Sum("strata_broker_appended_records_total", nil) - before.Sum("strata_broker_appended_records_total", nil)
	if appended != 4096 {
		t.Fatalf("broker appended %v records, client acked 4096", appended)
	}
	c, err := Consume(ctx, tg, p, topic)
	if err != nil {
		t.Fatal(err)
	}
	if c.Records != 4096 || c.Bytes != 4<<20 || c.Errors != 0 {
		t.Fatalf("consume %+v", c)
	}
	l, err := Latency(ctx, tg, p, ScenarioLatency, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.Records != 200 || l.Note != "" || l.P50Ms <= 0 || l.E2EP50Ms <= 0 || len(l.CDF) == 0 || len(l.E2ECDF) == 0 {
		t.Fatalf("latency %+v", l)
	}
	// Object durability and replay either run or say why not; a skip names tiering.
	reason, err := DetectObjectDurability(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	if reason != "" && !strings.HasPrefix(reason, needsTiering) {
		t.Fatalf("object skip reason %q", reason)
	}
	rp, err := Replay(ctx, tg, p)
	if err != nil {
		t.Fatal(err)
	}
	if rp.Skipped != "" && !strings.HasPrefix(rp.Skipped, needsTiering) {
		t.Fatalf("replay skip reason %q", rp.Skipped)
	}
	if rp.Skipped == "" && rp.Records != 1024 {
		t.Fatalf("replay read %d records, want 1024", rp.Records)
	}
	t.Logf("object: %q; replay: %q", reason, rp.Skipped)

	// Idle partitions: every one gets a leader, and the node reports its idle CPU and its
	// metadata writes, the latter at least the heartbeats (4 a second at the default interval).
	p.IdlePartitions, p.IdleLeadTimeout, p.IdleSettle, p.IdleWindow = 200, time.Minute, time.Second, 2*time.Second
	ip, err := IdlePartitions(ctx, tg, p)
	if err != nil || ip.Skipped != "" {
		t.Fatalf("partitions: %+v, %v", ip, err)
	}
	// The CPU figure may be 0: an idle node can use less than one clock tick (10 ms) in 2 s.
	if ip.Seconds <= 0 || ip.IdleCPUPct < 0 || math.IsNaN(ip.IdleCPUPct) || ip.MetadataWritesPerS < 1 || !strings.HasPrefix(ip.Note, "200 partitions led") {
		t.Fatalf("partitions %+v", ip)
	}
	t.Logf("partitions: %s, cpu %.1f%%, %.1f metadata writes/s", ip.Note, ip.IdleCPUPct, ip.MetadataWritesPerS)
}
