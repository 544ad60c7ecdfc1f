package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/strata-log/strata/query"
)

// TestInterNodeCallsOverSecuredListeners runs two nodes whose Kafka listeners want TLS with client
// certificates and SCRAM logins, with ACLs on. The nodes call each other as --inter-node-user:
// transactions spanning partitions led by both get every marker written (the last stable offset
// reaches the high watermark everywhere), and SQL asked of one node counts the other node's hot
// tail. Without inter-node credentials neither worked on a secured listener.
func TestInterNodeCallsOverSecuredListeners(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile, pool := writeTestCerts(t, dir)
	users := writeUsers(t, dir) // alice, bob
	c := startCluster(t, 1, 0)
	for id := 1; id <= 2; id++ {
		n := c.add(id)
		n.extraArgs = []string{"--kafka-tls-cert", certFile, "--kafka-tls-key", keyFile, "--kafka-tls-client-ca", caFile,
			"--inter-node-tls-ca", caFile, "--sasl-users", users, "--inter-node-user", "alice",
			"--authorizer", "acl", "--super-users", "User:alice,User:bob"}
		c.start(id)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	cl := c.client(t, kgo.DialTLSConfig(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}),
		kgo.SASL(scram.Auth{User: "bob", Pass: "hunter2"}.AsSha512Mechanism()))
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// Topics whose partitions both nodes lead.
	const nparts = 6
	for _, topic := range []string{"txns", "tails"} {
		if _, err := adm.CreateTopic(ctx, nparts, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
		for {
			md, err := adm.Metadata(ctx, topic)
			led := map[int32]int{}
			if err == nil {
				for _, p := range md.Topics[topic].Partitions {
					if p.Err == nil && p.Leader >= 0 {
						led[p.Leader]++
					}
				}
			}
			if len(led) == 2 && led[1]+led[2] == nparts {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: partitions not led by both nodes: %v (%v)\n%s", topic, led, err, c.logs())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// Transactions whose coordinators sit on either node: markers go to both.
	for _, txid := range []string{"secure-a", "secure-b", "secure-c", "secure-d"} {
		p := c.client(t, kgo.DialTLSConfig(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}),
			kgo.SASL(scram.Auth{User: "bob", Pass: "hunter2"}.AsSha512Mechanism()),
			kgo.TransactionalID(txid), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		var rs []*kgo.Record
		for part := range int32(nparts) {
			rs = append(rs, &kgo.Record{Topic: "txns", Partition: part, Value: []byte(txid)})
		}
		if err := p.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatalf("%s: produce: %v", txid, err)
		}
		if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatalf("%s: commit: %v\n%s", txid, err, c.logs())
		}
	}
	for {
		ends, err := adm.ListEndOffsets(ctx, "txns")
		if err != nil {
			t.Fatal(err)
		}
		stable, err := adm.ListCommittedOffsets(ctx, "txns")
		if err != nil {
			t.Fatal(err)
		}
		done := true
		ends.Each(func(o kadm.ListedOffset) {
			s, _ := stable.Lookup("txns", o.Partition)
			done = done && o.Offset == 8 && s.Offset == o.Offset // 4 records, 4 markers
		})
		if done {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("markers missing: end offsets %v, last stable offsets %v\n%s", ends, stable, c.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Hot records on both nodes, counted by SQL asked of node 1.
	const records = 60
	var rs []*kgo.Record
	for i := range records {
		rs = append(rs, &kgo.Record{Topic: "tails", Key: []byte(fmt.Sprint(i)), Value: []byte("v")})
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+c.node(1).http+"/v1/sql", strings.NewReader(`SELECT count(*) AS n FROM tails`))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("bob", "hunter2")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Trailer.Get(query.TrailerError) != "" {
		t.Fatalf("SQL: %s %s (trailer error %q)\n%s", resp.Status, body, resp.Trailer.Get(query.TrailerError), c.logs())
	}
	var row struct{ N int }
	if err := json.Unmarshal(bytes.TrimSpace(body), &row); err != nil {
		t.Fatalf("SQL answer %q: %v", body, err)
	}
	if row.N != records {
		t.Fatalf("SQL on node 1 counted %d records of tails, want %d (node 2's hot tail included)", row.N, records)
	}
}
