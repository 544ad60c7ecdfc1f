package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// mountTmpfs mounts a tmpfs of size bytes at dir for the test, or skips when this machine does not
// allow it (mounting needs root, which no install step can provide).
func mountTmpfs(t *testing.T, dir string, size int64) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a small tmpfs for the disk-full test (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v: %s", dir, err, out)
		}
	})
}

// TestDiskFullNodeSaysSoAndRecovers runs a node whose data dir is a 48 MiB tmpfs and produces far
// more than fits. The node refuses produce requests with KAFKA_STORAGE_ERROR once the free space
// falls below --disk-reserve, says so on /readyz and in its metrics, drops the local copies of what
// is already in object storage, and accepts again by itself once there is room: the producer only
// sees slower acks, every acknowledged record is read back exactly once, and no partition changes
// leader.
func TestDiskFullNodeSaysSoAndRecovers(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	c := startCluster(t, 1, 0)
	n := c.add(1)
	mountTmpfs(t, n.dataDir, 48<<20)
	n.extraArgs = []string{"--disk-reserve", "20MiB"}
	c.start(1)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const topic = "full"
	// Segments of 1 MiB roll often, so there is always tiered data whose local copy can go; the
	// default local retention keeps every copy (retention.ms is a week), so the disk does fill.
	c.createTopic(t, ctx, topic, 2, map[string]*string{"segment.bytes": strp("1048576")})

	var (
		mu       sync.Mutex
		notReady string
	)
	stop := make(chan struct{})
	var polls sync.WaitGroup
	polls.Add(1)
	go func() { // watch /readyz the way an orchestrator would
		defer polls.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			resp, err := http.Get("http://" + n.http + "/readyz")
			if err != nil {
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(body), "data dir full") {
				mu.Lock()
				notReady = string(body)
				mu.Unlock()
			}
		}
	}()

	// 96 MiB of 32 KiB values: twice what the data dir holds.
	cl := c.client(t, kgo.RecordDeliveryTimeout(3*time.Minute), kgo.ProducerBatchMaxBytes(1<<20))
	value := make([]byte, 16<<10) // random hex, so that compression cannot shrink it much
	var acked []string
	var ackMu sync.Mutex
	var failed atomic.Int64
	for i := 0; i < 3072; i++ {
		if _, err := rand.Read(value); err != nil {
			t.Fatal(err)
		}
		v := fmt.Sprintf("%06d-%x", i, value)
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}, func(r *kgo.Record, err error) {
			if err != nil {
				if failed.Add(1) <= 5 {
					t.Errorf("produce: %v", err)
				}
				return
			}
			ackMu.Lock()
			acked = append(acked, string(r.Value))
			ackMu.Unlock()
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("flush: %v\n%s", err, c.logs())
	}
	close(stop)
	polls.Wait()

	m := scrape(t, n.http)
	if m["strata_broker_disk_full_total"] < 1 {
		t.Fatalf("strata_broker_disk_full_total = %v: the data dir never counted as full\n%s", m["strata_broker_disk_full_total"], c.logs())
	}
	if m[`strata_broker_produce_errors_total{reason="disk_full"}`] < 1 {
		t.Errorf("no produce request was refused for a full disk")
	}
	for k, v := range m {
		if strings.HasPrefix(k, "strata_broker_leadership_changes_total") && !strings.Contains(k, `"taken"`) && v > 0 {
			t.Errorf("%s = %v: a partition changed leader while the disk was full", k, v)
		}
	}
	mu.Lock()
	seen := notReady
	mu.Unlock()
	if seen == "" {
		t.Errorf("/readyz never said the data dir was full")
	}
	if !strings.Contains(n.p.stderr.Tail(400), "data dir full") {
		t.Errorf("no log line says the data dir is full")
	}
	// The node accepts again by itself: ready, and a produce goes through.
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get("http://" + n.http + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready a minute after the produce finished\n%s", c.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	got := map[string]int{}
	for _, r := range consumeRecords(t, ctx, c, topic) {
		got[string(r.Value[:6])]++
	}
	want := make([]string, len(acked))
	for i, v := range acked {
		want[i] = v[:6]
	}
	checkAllOnce(t, got, want)
	t.Logf("acked %d of 3072 records (%d failed); readyz said: %s", len(acked), failed.Load(), strings.TrimSpace(seen))
}
