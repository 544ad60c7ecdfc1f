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
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
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

// securityOpts turns the TLS and SASL flags into client options.
func (c *clientFlags) securityOpts() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if c.tls || c.tlsCA != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.tlsCA != "" {
			pool, err := kafka.LoadCertPool(c.tlsCA)
			if err != nil {
				return nil, usagef("--tls-ca: %v", err)
			}
			tc.RootCAs = pool
		}
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

func runTopic(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usagef("want a subcommand: create, list, describe, delete, alter")
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "create", "list", "describe", "delete", "alter":
	default:
		return usagef("unknown topic subcommand %q (want create, list, describe, delete, alter)", sub)
	}
	fs := flag.NewFlagSet("topic "+sub, flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	partitions := fs.Int("partitions", 0, "partition count (create: default from the broker; alter: new total)")
	var configs multiFlag
	fs.Var(&configs, "config", "topic config key=value (repeatable)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	cfgs := map[string]*string{}
	for _, kv := range configs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usagef("--config %q: want key=value", kv)
		}
		cfgs[k] = kadm.StringPtr(v)
	}
	needTopic := func() (string, error) {
		if len(pos) != 1 {
			return "", usagef("want exactly one topic name")
		}
		return pos[0], nil
	}
	cl, err := cf.client(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()

	switch sub {
	case "create":
		topic, err := needTopic()
		if err != nil {
			return err
		}
		p := int32(-1)
		if *partitions > 0 {
			p = int32(*partitions)
		}
		resp, err := adm.CreateTopic(ctx, p, -1, cfgs, topic)
		if err != nil {
			return err
		}
		if resp.Err != nil {
			return fmt.Errorf("topic %q: %v", topic, describeErr(resp.Err, resp.ErrMessage))
		}
		fmt.Fprintf(stdout, "created topic %s (%d partitions)\n", topic, resp.NumPartitions)
	case "list":
		topics, err := adm.ListTopics(ctx)
		if err != nil {
			return err
		}
		for _, name := range topics.Names() {
			fmt.Fprintf(stdout, "%s\t%d\n", name, len(topics[name].Partitions))
		}
	case "describe":
		topic, err := needTopic()
		if err != nil {
			return err
		}
		return describeTopic(ctx, adm, topic, stdout)
	case "delete":
		topic, err := needTopic()
		if err != nil {
			return err
		}
		resp, err := adm.DeleteTopic(ctx, topic)
		if err != nil {
			return err
		}
		if resp.Err != nil {
			return fmt.Errorf("topic %q: %v", topic, describeErr(resp.Err, resp.ErrMessage))
		}
		fmt.Fprintf(stdout, "deleted topic %s\n", topic)
	case "alter":
		topic, err := needTopic()
		if err != nil {
			return err
		}
		if len(cfgs) == 0 && *partitions == 0 {
			return usagef("alter needs --config k=v or --partitions N")
		}
		if len(cfgs) > 0 {
			var alters []kadm.AlterConfig
			for k, v := range cfgs {
				alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: v})
			}
			rs, err := adm.AlterTopicConfigs(ctx, alters, topic)
			if err != nil {
				return err
			}
			for _, r := range rs {
				if r.Err != nil {
					return fmt.Errorf("topic %q: %v", topic, describeErr(r.Err, r.ErrMessage))
				}
			}
		}
		if *partitions > 0 {
			rs, err := adm.UpdatePartitions(ctx, *partitions, topic)
			if err != nil {
				return err
			}
			for _, r := range rs {
				if r.Err != nil {
					return fmt.Errorf("topic %q: %v", topic, describeErr(r.Err, r.ErrMessage))
				}
			}
		}
		fmt.Fprintf(stdout, "altered topic %s\n", topic)
	default:
		return usagef("unknown topic subcommand %q (want create, list, describe, delete, alter)", sub)
	}
	return nil
}

func describeTopic(ctx context.Context, adm *kadm.Client, topic string, stdout io.Writer) error {
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return err
	}
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil {
		if ok && !errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
			return fmt.Errorf("topic %q: %v", topic, td.Err)
		}
		return fmt.Errorf("topic %q does not exist", topic)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return err
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "topic %s  id %s  partitions %d\n", topic, td.ID, len(td.Partitions))
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tLEADER\tEPOCH\tSTART\tEND")
	for _, p := range td.Partitions.Sorted() {
		s, _ := starts.Lookup(topic, p.Partition)
		e, _ := ends.Lookup(topic, p.Partition)
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\n", p.Partition, p.Leader, p.LeaderEpoch, s.Offset, e.Offset)
	}
	tw.Flush()
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return err
	}
	for _, rc := range rcs {
		var set []string
		for _, c := range rc.Configs {
			if c.Source != 5 && c.Source != 0 { // not DEFAULT_CONFIG, not unknown
				set = append(set, fmt.Sprintf("%s=%s", c.Key, c.MaybeValue()))
			}
		}
		sort.Strings(set)
		if len(set) > 0 {
			fmt.Fprintf(stdout, "configs: %s\n", strings.Join(set, " "))
		}
	}
	return nil
}

func describeErr(err error, msg string) string {
	if msg != "" {
		return fmt.Sprintf("%v: %s", err, msg)
	}
	return err.Error()
}

func runProduce(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
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
	opts := []kgo.Opt{kgo.DefaultProduceTopic(topic)}
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

	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var n int
	var firstErr error
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
			}
		})
		n++
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading stdin: %w", err)
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	select {
	case firstErr = <-errc:
	default:
	}
	if firstErr != nil {
		if errors.Is(firstErr, kerr.UnknownTopicOrPartition) {
			return fmt.Errorf("topic %q does not exist (and the broker does not auto-create it)", topic)
		}
		return firstErr
	}
	fmt.Fprintf(stdout, "produced %d records to %s\n", n, topic)
	return nil
}

func runConsume(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("consume", flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	group := fs.String("group", "", "consumer group (commits offsets); empty reads without a group")
	fromBeginning := fs.Bool("from-beginning", false, "start at the earliest offset when there is no committed one")
	maxRecords := fs.Int("max", 0, "stop after N records (0 = run until interrupted)")
	printKeys := fs.Bool("keys", false, "print key<TAB>value")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one topic name")
	}
	topic := pos[0]
	opts := []kgo.Opt{kgo.ConsumeTopics(topic)}
	if *fromBeginning {
		opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	} else {
		opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
	}
	if *group != "" {
		opts = append(opts, kgo.ConsumerGroup(*group))
	}
	cl, err := cf.client(ctx, opts...)
	if err != nil {
		return err
	}
	defer func() {
		if *group != "" {
			cctx, cancel := context.WithTimeout(context.Background(), cf.timeout)
			_ = cl.CommitUncommittedOffsets(cctx)
			cancel()
		}
		cl.Close()
	}()
	// Fail fast on an unknown topic rather than polling forever.
	mctx, cancel := context.WithTimeout(ctx, cf.timeout)
	md, err := kadm.NewClient(cl).Metadata(mctx, topic)
	cancel()
	if err != nil {
		return err
	}
	if td, ok := md.Topics[topic]; !ok || td.Err != nil {
		return fmt.Errorf("topic %q does not exist", topic)
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	n := 0
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			if ferr == nil && !errors.Is(err, context.Canceled) {
				ferr = fmt.Errorf("%s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		for it := fetches.RecordIter(); !it.Done(); {
			r := it.Next()
			if *printKeys {
				fmt.Fprintf(w, "%s\t%s\n", r.Key, r.Value)
			} else {
				fmt.Fprintf(w, "%s\n", r.Value)
			}
			n++
			if *maxRecords > 0 && n >= *maxRecords {
				return nil
			}
		}
		w.Flush()
	}
}
