package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

const topicUsage = `Usage:
  strata topic create TOPIC [--partitions N] [--config k=v ...]   N defaults to the broker's num.partitions
  strata topic list                                               every topic and its partition count
  strata topic describe TOPIC                                     partitions, leaders, offsets, configs
  strata topic delete TOPIC
  strata topic alter TOPIC [--config k=v ...] [--partitions N]    set configs; grow to N partitions

Every subcommand takes the client flags (--bootstrap, --timeout, TLS and SASL);
"strata topic create -h" lists them. Partitions can be added, not removed.
`

func runTopic(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("want a subcommand: create, list, describe, delete, alter (see strata topic help)")
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "create", "list", "describe", "delete", "alter":
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, topicUsage)
		return nil
	default:
		return usagef("unknown topic subcommand %q (want create, list, describe, delete, alter; see strata topic help)", sub)
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
	var partitionsSet bool
	fs.Visit(func(f *flag.Flag) { partitionsSet = partitionsSet || f.Name == "partitions" })
	if partitionsSet && *partitions < 1 && (sub == "create" || sub == "alter") {
		return usagef("--partitions %d: want at least 1", *partitions)
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
	if sub == "alter" && len(cfgs) == 0 && !partitionsSet {
		return usagef("alter needs --config k=v or --partitions N")
	}
	cl, err := cf.client(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	rctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()

	switch sub {
	case "create":
		topic, err := needTopic()
		if err != nil {
			return err
		}
		p := int32(-1)
		if partitionsSet {
			p = int32(*partitions)
		}
		// The broker may take the request's whole time (a topic of thousands of partitions);
		// tell it so, or the client gives up and retries, and the retry finds the topic exists.
		adm.SetTimeoutMillis(int32(min(cf.timeout.Milliseconds(), math.MaxInt32)))
		pr := newProgress(stderr)
		stop := pr.ticking(func() string { return fmt.Sprintf("topic %s: creating", topic) })
		resp, err := adm.CreateTopic(rctx, p, -1, cfgs, topic)
		stop()
		if resp.Err != nil {
			return topicErr(topic, resp.Err, resp.ErrMessage)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("topic %q: no answer within --timeout %v; the topic may still be created (see strata topic describe %s); raise --timeout for many partitions", topic, cf.timeout, topic)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created topic %s (%d partitions)\n", topic, resp.NumPartitions)
		// A new topic's partitions are served once each has a leader; say when that is.
		waitLed(ctx, adm, topic, int(resp.NumPartitions), cf.timeout, pr)
	case "list":
		topics, err := adm.ListTopics(rctx)
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
		return describeTopic(rctx, adm, topic, stdout)
	case "delete":
		topic, err := needTopic()
		if err != nil {
			return err
		}
		resp, err := adm.DeleteTopic(rctx, topic)
		if resp.Err != nil {
			return topicErr(topic, resp.Err, resp.ErrMessage)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted topic %s\n", topic)
	case "alter":
		topic, err := needTopic()
		if err != nil {
			return err
		}
		if len(cfgs) > 0 {
			var alters []kadm.AlterConfig
			for k, v := range cfgs {
				alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: v})
			}
			rs, err := adm.AlterTopicConfigs(rctx, alters, topic)
			if err != nil {
				return err
			}
			for _, r := range rs {
				if r.Err != nil {
					return topicErr(topic, r.Err, r.ErrMessage)
				}
			}
		}
		if partitionsSet {
			rs, err := adm.UpdatePartitions(rctx, *partitions, topic)
			if err != nil {
				return err
			}
			for _, r := range rs {
				if r.Err != nil {
					return topicErr(topic, r.Err, r.ErrMessage)
				}
			}
		}
		fmt.Fprintf(stdout, "altered topic %s\n", topic)
	}
	return nil
}

// waitLed polls Metadata until each of the topic's n partitions has a leader, or limit passes,
// showing "led 1200/2000" on a terminal and writing one summary line on stderr. The topic exists
// either way: partitions still without a leader are taken at their nodes' next reconcile.
func waitLed(ctx context.Context, adm *kadm.Client, topic string, n int, limit time.Duration, pr *progress) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	led := 0
	for {
		if md, err := adm.Metadata(ctx, topic); err == nil {
			if td, ok := md.Topics[topic]; ok && td.Err == nil {
				led = 0
				for _, p := range td.Partitions {
					if p.Err == nil && p.Leader >= 0 {
						led++
					}
				}
			}
		}
		if led >= n {
			pr.done("topic %s: %d/%d partitions led after %s", topic, led, n, seconds(time.Since(start)))
			return
		}
		pr.update("topic %s: led %d/%d", topic, led, n)
		select {
		case <-ctx.Done():
			pr.done("topic %s: %d/%d partitions led after %s; the rest are taken at their nodes' next reconcile",
				topic, led, n, seconds(time.Since(start)))
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
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
