package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/strata-log/strata/ingest/kafka"
)

// clientFlags are shared by the commands that talk to a running broker.
type clientFlags struct {
	bootstrap    string
	timeout      time.Duration
	tls          bool
	tlsCA        string
	saslMech     string
	saslUser     string
	saslPassword string
}

func (c *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.bootstrap, "bootstrap", "127.0.0.1:9092", "comma-separated Kafka addresses of Strata nodes")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "how long to wait for the cluster to answer")
	fs.BoolVar(&c.tls, "tls", false, "connect with TLS (implied by --tls-ca)")
	fs.StringVar(&c.tlsCA, "tls-ca", "", "PEM CA certificates to trust for TLS (default: the system's)")
	fs.StringVar(&c.saslMech, "sasl-mechanism", "", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (default: no SASL)")
	fs.StringVar(&c.saslUser, "sasl-user", "", "SASL user name")
	fs.StringVar(&c.saslPassword, "sasl-password", "", "SASL password (prefer the STRATA_SASL_PASSWORD environment variable)")
}

// clientTLS is the TLS a client command connects with: nil when neither on nor a CA file is
// given, else TLS 1.2+ trusting caFile's certificates (the system's when none).
func clientTLS(on bool, caFile string) (*tls.Config, error) {
	if !on && caFile == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := kafka.LoadCertPool(caFile)
		if err != nil {
			return nil, usagef("--tls-ca: %v", err)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// securityOpts turns the TLS and SASL flags into client options.
func (c *clientFlags) securityOpts() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if tc, err := clientTLS(c.tls, c.tlsCA); err != nil {
		return nil, err
	} else if tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if c.saslMech == "" {
		if c.saslUser != "" || c.saslPassword != "" {
			return nil, usagef("--sasl-user and --sasl-password need --sasl-mechanism")
		}
		return opts, nil
	}
	if c.saslUser == "" || c.saslPassword == "" {
		return nil, usagef("--sasl-mechanism %s needs --sasl-user and --sasl-password", c.saslMech)
	}
	switch strings.ToUpper(c.saslMech) {
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: c.saslUser, Pass: c.saslPassword}.AsMechanism()))
	case "SCRAM-SHA-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: c.saslUser, Pass: c.saslPassword}.AsSha256Mechanism()))
	case "SCRAM-SHA-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: c.saslUser, Pass: c.saslPassword}.AsSha512Mechanism()))
	default:
		return nil, usagef("--sasl-mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", c.saslMech)
	}
	return opts, nil
}

// dial checks the bootstrap addresses before franz-go starts retrying forever, so an unreachable
// server is a clear error rather than a hang.
func (c *clientFlags) client(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error) {
	seeds := strings.Split(c.bootstrap, ",")
	var reachable bool
	var lastErr error
	for _, s := range seeds {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return nil, usagef("--bootstrap %q: want host:port[,host:port]", c.bootstrap)
		}
		conn, err := (&net.Dialer{Timeout: c.timeout}).DialContext(ctx, "tcp", s)
		if err != nil {
			lastErr = err
			continue
		}
		conn.Close()
		reachable = true
		break
	}
	if !reachable {
		return nil, fmt.Errorf("cannot reach a Strata node at %s: %v", c.bootstrap, lastErr)
	}
	sec, err := c.securityOpts()
	if err != nil {
		return nil, err
	}
	opts = append(append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.RetryTimeout(c.timeout)}, sec...), opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil || len(sec) == 0 {
		return cl, err
	}
	// A TLS or SASL failure would otherwise leave produce retrying for ever: check once.
	pctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := cl.Ping(pctx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("cannot connect to %s with the TLS/SASL settings given: %w", c.bootstrap, err)
	}
	return cl, nil
}

// describeErr formats a Kafka error answer: the code's name and the broker's message, or the
// error alone when the broker sent no message.
func describeErr(err error, msg string) string {
	if msg == "" {
		return err.Error()
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message + ": " + msg
	}
	return fmt.Sprintf("%v: %s", err, msg)
}

// topicErr is a failed answer about topic, which is named once: not again when the broker's
// message names it already.
func topicErr(topic string, err error, msg string) error {
	d := describeErr(err, msg)
	if strings.Contains(msg, strconv.Quote(topic)) {
		return errors.New(d)
	}
	return fmt.Errorf("topic %q: %s", topic, d)
}

func runProduce(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("produce", flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	sep := fs.String("key-separator", "", "split each line into key and value at the first SEP (default: no key)")
	acks := fs.String("acks", "all", "acks: all, 1 or 0")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one topic name")
	}
	topic := pos[0]
	var ack kgo.Acks
	// A missing topic is created if the broker auto-creates topics, as other Kafka clients do.
	opts := []kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation()}
	switch *acks {
	case "all", "-1":
		ack = kgo.AllISRAcks()
	case "1":
		ack = kgo.LeaderAck()
		opts = append(opts, kgo.DisableIdempotentWrite())
	case "0":
		ack = kgo.NoAck()
		opts = append(opts, kgo.DisableIdempotentWrite())
	default:
		return usagef("--acks %q: want all, 1 or 0", *acks)
	}
	cl, err := cf.client(ctx, append(opts, kgo.RequiredAcks(ack))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := autoCreate(ctx, cl, topic, cf.timeout); err != nil {
		return err
	}

	start := time.Now()
	var sent, acked atomic.Int64
	pr := newProgress(stderr)
	stopShow := pr.ticking(func() string {
		return fmt.Sprintf("produce %s: %d records sent, %d acked", topic, sent.Load(), acked.Load())
	})
	summary := func() {
		stopShow()
		pr.done("produce %s: %d records sent, %d acked in %s", topic, sent.Load(), acked.Load(), seconds(time.Since(start)))
	}

	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	errc := make(chan error, 1)
	for sc.Scan() {
		line := sc.Text()
		r := &kgo.Record{Value: []byte(line)}
		if *sep != "" {
			if k, v, ok := strings.Cut(line, *sep); ok {
				r.Key, r.Value = []byte(k), []byte(v)
			}
		}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errc <- err:
				default:
				}
				return
			}
			acked.Add(1)
		})
		sent.Add(1)
	}
	if err := sc.Err(); err != nil {
		summary()
		return fmt.Errorf("reading stdin: %w", err)
	}
	err = cl.Flush(ctx)
	summary()
	if err != nil {
		return err
	}
	var firstErr error
	select {
	case firstErr = <-errc:
	default:
	}
	if firstErr != nil {
		return topicProduceErr(topic, firstErr)
	}
	fmt.Fprintf(stdout, "produced %d records to %s\n", sent.Load(), topic)
	return nil
}

func runConsume(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("consume", flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	group := fs.String("group", "", "consumer group (commits the offsets of the records printed); empty reads without a group")
	fromBeginning := fs.Bool("from-beginning", false, "start at the earliest offset when there is no committed one")
	maxRecords := fs.Int("max", 0, "stop after N records (0 = run until interrupted)")
	toEnd := fs.Bool("to-end", false, "stop at the end of the topic: the end offsets it had when consume started")
	printKeys := fs.Bool("keys", false, "print key<TAB>value")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one topic name")
	}
	if *maxRecords < 0 {
		return usagef("--max %d: want 0 (no limit) or more", *maxRecords)
	}
	topic := pos[0]
	reset := kgo.NewOffset().AtEnd()
	if *fromBeginning {
		reset = kgo.NewOffset().AtStart()
	}
	opts := []kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(reset)}
	if *group != "" {
		// Only records printed are marked, so only they are committed: by the periodic
		// autocommit, on a rebalance, and once more before exit.
		opts = append(opts, kgo.ConsumerGroup(*group), kgo.AutoCommitMarks())
	}
	if *toEnd {
		// Transaction markers hold offsets too; the end is reached only by seeing them.
		opts = append(opts, kgo.KeepControlRecords())
	}
	cl, err := cf.client(ctx, opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	// Fail fast on an unknown topic rather than polling forever.
	mctx, cancel := context.WithTimeout(ctx, cf.timeout)
	md, err := adm.Metadata(mctx, topic)
	cancel()
	if err != nil {
		return err
	}
	if td, ok := md.Topics[topic]; !ok || td.Err != nil {
		return fmt.Errorf("topic %q does not exist", topic)
	}
	var end *endTracker
	if *toEnd {
		if end, err = newEndTracker(ctx, adm, topic, *group, *fromBeginning, cf.timeout); err != nil {
			return err
		}
	}

	start := time.Now()
	pr := newProgress(stderr)
	w := bufio.NewWriter(stdout)
	n := 0
	var printed []*kgo.Record
	// flush writes out what was printed, then marks it for commit: a record is committed only
	// once it is on stdout.
	flush := func() error {
		err := w.Flush()
		if err == nil && *group != "" && len(printed) > 0 {
			cl.MarkCommitRecords(printed...)
		}
		printed = printed[:0]
		return err
	}
	finish := func(err error) error {
		if ferr := flush(); err == nil {
			err = ferr
		}
		if *group != "" {
			cctx, cancel := context.WithTimeout(context.Background(), cf.timeout)
			if cerr := cl.CommitMarkedOffsets(cctx); err == nil && cerr != nil {
				err = fmt.Errorf("committing offsets for group %s: %w", *group, cerr)
			}
			cancel()
		}
		switch {
		case end != nil:
			pr.done("consume %s: read %d records; %s in %s", topic, n, end, seconds(time.Since(start)))
		default:
			pr.done("consume %s: read %d records in %s", topic, n, seconds(time.Since(start)))
		}
		return err
	}
	for end == nil || !end.reached() {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return finish(nil)
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			if ferr == nil && !errors.Is(err, context.Canceled) {
				ferr = fmt.Errorf("%s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return finish(ferr)
		}
		for it := fetches.RecordIter(); !it.Done(); {
			r := it.Next()
			if end != nil {
				end.saw(r)
			}
			if r.Attrs.IsControl() {
				continue
			}
			if *printKeys {
				fmt.Fprintf(w, "%s\t%s\n", r.Key, r.Value)
			} else {
				fmt.Fprintf(w, "%s\n", r.Value)
			}
			printed = append(printed, r)
			n++
			if *maxRecords > 0 && n >= *maxRecords {
				return finish(nil)
			}
		}
		if err := flush(); err != nil {
			return finish(err)
		}
		if end != nil {
			pr.update("consume %s: read %d records; %s", topic, n, end)
		} else {
			pr.update("consume %s: read %d records", topic, n)
		}
	}
	return finish(nil)
}

// autoCreate asks for the topic's metadata as Kafka producers do, allowing auto-creation: the
// broker creates a missing topic if its auto.create.topics.enable is on. A missing topic it will
// not create, or a name it refuses, fails here rather than after the producer's retries.
func autoCreate(ctx context.Context, cl *kgo.Client, topic string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	req.AllowAutoTopicCreation = true
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	for _, t := range resp.Topics {
		if t.Topic != nil && *t.Topic == topic {
			if err := kerr.ErrorForCode(t.ErrorCode); errors.Is(err, kerr.UnknownTopicOrPartition) || errors.Is(err, kerr.InvalidTopicException) {
				return topicProduceErr(topic, err)
			}
		}
	}
	return nil
}

// topicProduceErr explains the errors about the topic itself a producer can meet.
func topicProduceErr(topic string, err error) error {
	switch {
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		return fmt.Errorf("topic %q does not exist and the broker does not auto-create topics; create it with: strata topic create %s", topic, topic)
	case errors.Is(err, kerr.InvalidTopicException):
		return fmt.Errorf("topic %q: INVALID_TOPIC_EXCEPTION: a name is 1 to 249 characters of [a-zA-Z0-9._-], and names starting with \"__\" are reserved for internal topics", topic)
	}
	return err
}
