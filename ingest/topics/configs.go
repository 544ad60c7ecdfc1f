package topics

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

// The topic configs Strata knows, with their types, defaults and value rules (see the package doc).

type configDef struct {
	name  string
	typ   kmsg.ConfigType
	def   func(d Defaults) string
	check func(v string) error
}

func fixed(v string) func(Defaults) string { return func(Defaults) string { return v } }

func longIn(lo, hi int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a long", v)
		}
		if n < lo || n > hi {
			return fmt.Errorf("%d is outside [%d, %d]", n, lo, hi)
		}
		return nil
	}
}

func intIn(lo, hi int64) func(string) error {
	return longIn(max(lo, math.MinInt32), min(hi, math.MaxInt32))
}

func oneOf(vals ...string) func(string) error {
	return func(v string) error {
		if !slices.Contains(vals, v) {
			return fmt.Errorf("%q is not one of %v", v, vals)
		}
		return nil
	}
}

func listOf(vals ...string) func(string) error {
	return func(v string) error {
		for _, e := range strings.Split(v, ",") {
			if !slices.Contains(vals, strings.TrimSpace(e)) {
				return fmt.Errorf("%q is not a list of %v", v, vals)
			}
		}
		return nil
	}
}

func boolean(v string) error {
	if v != "true" && v != "false" {
		return fmt.Errorf("%q is not a boolean", v)
	}
	return nil
}

func doubleIn(lo, hi float64) func(string) error {
	return func(v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f >= lo && f <= hi) { // NaN is in no range
			return fmt.Errorf("%q is not a number in [%v, %v]", v, lo, hi)
		}
		return nil
	}
}

// checkCompactionLags refuses min.compaction.lag.ms above max.compaction.lag.ms, as Kafka does
// (each config alone is checked by ValidateConfig).
func checkCompactionLags(cfgs map[string]string) error {
	parse := func(name string, def int64) int64 {
		if n, err := strconv.ParseInt(strings.TrimSpace(cfgs[name]), 10, 64); err == nil {
			return n
		}
		return def
	}
	lo, hi := parse("min.compaction.lag.ms", 0), parse("max.compaction.lag.ms", math.MaxInt64)
	if lo > hi {
		return kafkaErr(kerr.InvalidConfig, "invalid value for min.compaction.lag.ms: %d is above max.compaction.lag.ms %d", lo, hi)
	}
	return nil
}

var (
	tBool   = kmsg.ConfigTypeBoolean
	tString = kmsg.ConfigTypeString
	tInt    = kmsg.ConfigTypeInt
	tLong   = kmsg.ConfigTypeLong
	tDouble = kmsg.ConfigTypeDouble
	tList   = kmsg.ConfigTypeList
)

var configDefs = []configDef{
	{"cleanup.policy", tList, fixed("delete"), listOf("delete", "compact")},
	{"compression.type", tString, fixed("producer"), oneOf("producer", "uncompressed", "gzip", "snappy", "lz4", "zstd")},
	{"delete.retention.ms", tLong, fixed("86400000"), longIn(0, math.MaxInt64)},
	{"file.delete.delay.ms", tLong, fixed("60000"), longIn(0, math.MaxInt64)},
	{"flush.messages", tLong, fixed("9223372036854775807"), longIn(1, math.MaxInt64)},
	{"flush.ms", tLong, fixed("9223372036854775807"), longIn(0, math.MaxInt64)},
	{"index.interval.bytes", tInt, fixed("4096"), intIn(0, math.MaxInt32)},
	{"local.retention.bytes", tLong, fixed("-2"), longIn(-2, math.MaxInt64)},
	{"local.retention.ms", tLong, fixed("-2"), longIn(-2, math.MaxInt64)},
	{"max.compaction.lag.ms", tLong, fixed("9223372036854775807"), longIn(1, math.MaxInt64)},
	{"max.message.bytes", tInt, func(d Defaults) string { return strconv.Itoa(int(d.MaxMessageBytes)) }, intIn(0, math.MaxInt32)},
	{"message.timestamp.after.max.ms", tLong, fixed("9223372036854775807"), longIn(0, math.MaxInt64)},
	{"message.timestamp.before.max.ms", tLong, fixed("9223372036854775807"), longIn(0, math.MaxInt64)},
	{"message.timestamp.type", tString, fixed("CreateTime"), oneOf("CreateTime", "LogAppendTime")},
	{"min.cleanable.dirty.ratio", tDouble, fixed("0.5"), doubleIn(0, 1)},
	{"min.compaction.lag.ms", tLong, fixed("0"), longIn(0, math.MaxInt64)},
	{"min.insync.replicas", tInt, fixed("1"), intIn(1, math.MaxInt32)},
	{"preallocate", tBool, fixed("false"), boolean},
	{"remote.storage.enable", tBool, fixed("true"), boolean},
	{"retention.bytes", tLong, func(d Defaults) string { return strconv.FormatInt(d.RetentionBytes, 10) }, longIn(-1, math.MaxInt64)},
	{"retention.ms", tLong, func(d Defaults) string { return strconv.FormatInt(d.RetentionMs, 10) }, longIn(-1, math.MaxInt64)},
	{"segment.bytes", tInt, func(d Defaults) string { return strconv.FormatInt(d.SegmentBytes, 10) }, intIn(14, math.MaxInt32)},
	{"segment.index.bytes", tInt, fixed("10485760"), intIn(4, math.MaxInt32)},
	{"segment.jitter.ms", tLong, fixed("0"), longIn(0, math.MaxInt64)},
	{"segment.ms", tLong, func(d Defaults) string { return strconv.FormatInt(d.SegmentMs, 10) }, longIn(1, math.MaxInt64)},
	{"unclean.leader.election.enable", tBool, fixed("false"), boolean},
	{"strata.durability", tString, fixed("local"), oneOf("local", "object")},
	{"strata.flush.ms", tLong, fixed("100"), longIn(1, math.MaxInt64)},
	{"strata.cold.format", tString, fixed("segment"), oneOf("segment", "parquet")},
	{"strata.value.format", tString, fixed("bytes"), oneOf("bytes", "json", "json-columns")},
}

var configByName = func() map[string]*configDef {
	m := make(map[string]*configDef, len(configDefs))
	for i := range configDefs {
		m[configDefs[i].name] = &configDefs[i]
	}
	return m
}()

// ValidateConfig checks one topic config; INVALID_CONFIG for an unknown name or a bad value.
func ValidateConfig(name, value string) error {
	d := configByName[name]
	if d == nil {
		return kafkaErr(kerr.InvalidConfig, "unknown topic config %q", name)
	}
	if err := d.check(value); err != nil {
		return kafkaErr(kerr.InvalidConfig, "invalid value for %s: %v", name, err)
	}
	return nil
}

// ValidateConfigs checks every entry of a topic's configs.
func ValidateConfigs(cfgs map[string]string) error {
	names := make([]string, 0, len(cfgs))
	for k := range cfgs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if err := ValidateConfig(k, cfgs[k]); err != nil {
			return err
		}
	}
	return checkCompactionLags(cfgs)
}

// ConfigEntry is one described config.
type ConfigEntry struct {
	Name      string
	Value     string
	Type      kmsg.ConfigType
	Source    kmsg.ConfigSource
	IsDefault bool
	ReadOnly  bool
}

// describeTopic lists t's configs (all, or only names), explicit values first-class and the rest as
// defaults.
func describeTopic(t metadata.Topic, d Defaults, names []string) []ConfigEntry {
	want := func(string) bool { return true }
	if names != nil {
		want = func(n string) bool { return slices.Contains(names, n) }
	}
	var out []ConfigEntry
	for _, def := range configDefs {
		if !want(def.name) {
			continue
		}
		e := ConfigEntry{Name: def.name, Type: def.typ}
		if v, ok := t.Configs[def.name]; ok {
			e.Value, e.Source = v, kmsg.ConfigSourceDynamicTopicConfig
		} else {
			e.Value, e.Source, e.IsDefault = def.def(d), kmsg.ConfigSourceDefaultConfig, true
		}
		out = append(out, e)
	}
	return out
}

// describeBroker lists the broker-level settings topics inherit. They are static (read-only).
func describeBroker(nodeID int32, d Defaults, names []string) []ConfigEntry {
	all := []ConfigEntry{
		{Name: "broker.id", Value: strconv.Itoa(int(nodeID)), Type: tInt},
		{Name: "node.id", Value: strconv.Itoa(int(nodeID)), Type: tInt},
		{Name: "num.partitions", Value: strconv.Itoa(int(d.NumPartitions)), Type: tInt},
		{Name: "auto.create.topics.enable", Value: strconv.FormatBool(!d.AutoCreateTopicsDisabled), Type: tBool},
		{Name: "default.replication.factor", Value: "1", Type: tInt},
		{Name: "log.segment.bytes", Value: strconv.FormatInt(d.SegmentBytes, 10), Type: tInt},
		{Name: "log.roll.ms", Value: strconv.FormatInt(d.SegmentMs, 10), Type: tLong},
		{Name: "log.retention.ms", Value: strconv.FormatInt(d.RetentionMs, 10), Type: tLong},
		{Name: "log.retention.bytes", Value: strconv.FormatInt(d.RetentionBytes, 10), Type: tLong},
		{Name: "message.max.bytes", Value: strconv.Itoa(int(d.MaxMessageBytes)), Type: tInt},
	}
	var out []ConfigEntry
	for _, e := range all {
		if names == nil || slices.Contains(names, e.Name) {
			e.Source, e.ReadOnly = kmsg.ConfigSourceStaticBrokerConfig, true
			out = append(out, e)
		}
	}
	return out
}

// Int is t's config name as an integer, def when unset or unparsable.
func Int(t metadata.Topic, name string, def int64) int64 {
	if v, ok := t.Configs[name]; ok {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			return n
		}
	}
	return def
}

// String is t's config name, def when unset.
func String(t metadata.Topic, name, def string) string {
	if v, ok := t.Configs[name]; ok {
		return v
	}
	return def
}

// ConfigOp is one IncrementalAlterConfigs operation.
type ConfigOp struct {
	Name  string
	Op    kmsg.IncrementalAlterConfigOp
	Value *string
}

// applyIncremental applies ops to cfgs (in place), Kafka-style: SET, DELETE, APPEND and SUBTRACT
// (the last two only for list configs).
func applyIncremental(cfgs map[string]string, ops []ConfigOp, d Defaults) error {
	for _, op := range ops {
		def := configByName[op.Name]
		if def == nil {
			return kafkaErr(kerr.InvalidConfig, "unknown topic config %q", op.Name)
		}
		val := ""
		if op.Value != nil {
			val = *op.Value
		}
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if err := ValidateConfig(op.Name, val); err != nil {
				return err
			}
			cfgs[op.Name] = val
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(cfgs, op.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if def.typ != tList {
				return kafkaErr(kerr.InvalidConfig, "%s is not a list config", op.Name)
			}
			cur, ok := cfgs[op.Name]
			if !ok {
				cur = def.def(d)
			}
			list := splitList(cur)
			for _, e := range splitList(val) {
				if op.Op == kmsg.IncrementalAlterConfigOpAppend && !slices.Contains(list, e) {
					list = append(list, e)
				} else if op.Op == kmsg.IncrementalAlterConfigOpSubtract {
					list = slices.DeleteFunc(list, func(x string) bool { return x == e })
				}
			}
			joined := strings.Join(list, ",")
			if err := ValidateConfig(op.Name, joined); err != nil {
				return err
			}
			cfgs[op.Name] = joined
		default:
			return kafkaErr(kerr.InvalidRequest, "unknown config operation %d", op.Op)
		}
	}
	return checkCompactionLags(cfgs)
}

func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}
