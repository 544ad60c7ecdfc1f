package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-log/strata/metadata/natsmeta"
	"github.com/strata-log/strata/tier/objstore/objstoretest"
)

// cluster is a multi-process Strata deployment for tests: strata server processes (this test
// binary re-executed) on an in-process NATS cluster and a real MinIO. Each node keeps its Kafka
// and HTTP ports and its data dir across restarts.
type cluster struct {
	t      testing.TB
	nats   *natsmeta.Cluster
	minio  *objstoretest.MinIO
	meta   string
	object string

	mu    sync.Mutex
	nodes map[int]*clusterNode
}

type clusterNode struct {
	id        int
	dataDir   string
	kafka     string
	http      string
	p         *proc // nil while down
	extraArgs []string
}

// startCluster starts natsNodes embedded NATS servers (clustered when more than one), MinIO, and strata nodes 1..nodes.
func startCluster(t testing.TB, natsNodes, nodes int) *cluster {
	t.Helper()
	m := objstoretest.StartMinIO(t)
	m.SetEnv(t)
	var nc *natsmeta.Cluster
	if natsNodes == 1 {
		e, err := natsmeta.StartEmbedded(natsmeta.EmbeddedConfig{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		nc = &natsmeta.Cluster{Nodes: []*natsmeta.Embedded{e}}
	} else {
		var err error
		if nc, err = natsmeta.StartCluster(t.TempDir(), natsNodes); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(nc.Shutdown)
	c := &cluster{t: t, nats: nc, minio: m, meta: strings.Join(nc.ClientURLs(), ","),
		object: m.S3URL("strata/cluster"), nodes: map[int]*clusterNode{}}
	// Create the bucket (Open creates it) before any node needs it.
	m.Open(t, c.object)
	for id := 1; id <= nodes; id++ {
		c.add(id)
		c.start(id)
	}
	return c
}

func (c *cluster) add(id int) *clusterNode {
	n := &clusterNode{id: id, dataDir: filepath.Join(c.t.TempDir(), fmt.Sprintf("node-%d", id)),
		kafka: objstoretest.FreeAddr(c.t), http: objstoretest.FreeAddr(c.t)}
	c.mu.Lock()
	c.nodes[id] = n
	c.mu.Unlock()
	return n
}

func (c *cluster) node(id int) *clusterNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id]
}

// start runs node id (again) on its data dir and ports.
func (c *cluster) start(id int) {
	c.t.Helper()
	n := c.node(id)
	args := []string{"--node-id", fmt.Sprint(id), "--data-dir", n.dataDir, "--kafka-addr", n.kafka,
		"--http-addr", n.http, "--metadata", c.meta, "--object-store", c.object}
	p := startStrata(c.t, append(args, n.extraArgs...)...)
	c.mu.Lock()
	n.p = p
	c.mu.Unlock()
}

// kill SIGKILLs node id and waits for it to exit.
func (c *cluster) kill(id int) {
	c.t.Helper()
	n := c.node(id)
	c.mu.Lock()
	p := n.p
	n.p = nil
	c.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		c.t.Fatalf("node %d did not die", id)
	}
}

// up lists the running nodes' ids.
func (c *cluster) up() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []int
	for id, n := range c.nodes {
		if n.p != nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// seeds are every node's Kafka address, running or not.
func (c *cluster) seeds() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var s []string
	for _, n := range c.nodes {
		s = append(s, n.kafka)
	}
	return s
}

// logs concatenates the running and dead nodes' logs (for failure reports).
func (c *cluster) logs() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for id, n := range c.nodes {
		if n.p != nil {
			fmt.Fprintf(&b, "--- node %d ---\n%s\n", id, n.p.stderr.Tail(60))
		}
	}
	return b.String()
}

// client returns a franz-go client on every node, tuned to notice leader moves fast.
func (c *cluster) client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{kgo.SeedBrokers(c.seeds()...), kgo.MetadataMinAge(50 * time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond })}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func (c *cluster) createTopic(t testing.TB, ctx context.Context, name string, partitions int32, configs map[string]*string) {
	t.Helper()
	adm := kadm.NewClient(c.client(t))
	resp, err := adm.CreateTopic(ctx, partitions, 1, configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	// Wait until every partition has a leader.
	for ctx.Err() == nil {
		md, err := adm.Metadata(ctx, name)
		if err == nil {
			led := 0
			for _, p := range md.Topics[name].Partitions {
				if p.Err == nil && p.Leader >= 0 {
					led++
				}
			}
			if led == int(partitions) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("topic %s: partitions never all led", name)
}

// leaders maps each partition of topic to its leader and leader epoch (-1 when leaderless).
func leaders(ctx context.Context, adm *kadm.Client, topic string) (map[int32][2]int32, error) {
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := map[int32][2]int32{}
	for _, p := range md.Topics[topic].Partitions {
		if p.Err != nil {
			out[p.Partition] = [2]int32{-1, -1}
			continue
		}
		out[p.Partition] = [2]int32{p.Leader, p.LeaderEpoch}
	}
	return out, nil
}

func strp(s string) *string { return &s }
