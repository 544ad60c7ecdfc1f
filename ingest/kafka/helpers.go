package kafka

import (
	"context"
	"errors"
	"net"
	"regexp"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/ingest/broker"
	"github.com/strata-log/strata/metadata"
)

// code maps a broker error to a Kafka error code, logging internal failures (which the client only
// sees as UNKNOWN_SERVER_ERROR).
func (s *Server) code(err error, what string, args ...any) int16 {
	c := broker.Code(err)
	if c == -1 {
		s.log.Error("kafka: "+what, append(args, "err", err)...)
	}
	return c
}

// errMsg is the optional error message for responses that carry one. For an error meant for the
// client (one wrapping a kerr code) it is the detail alone, as Apache Kafka's messages are: the
// code travels beside it, so its text (": INVALID_CONFIG: Configuration is invalid.") is cut from
// the end, and Go package prefixes ("topics: ") from the start.
func errMsg(err error) *string {
	if err == nil {
		return nil
	}
	m := err.Error()
	if ke := (*kerr.Error)(nil); errors.As(err, &ke) {
		m = strings.TrimSuffix(m, ": "+ke.Error())
		for {
			loc := pkgPrefix.FindStringIndex(m)
			if loc == nil || loc[1] == len(m) {
				break
			}
			m = m[loc[1]:]
		}
	}
	return &m
}

// pkgPrefix matches a leading Go package prefix of an error's text.
var pkgPrefix = regexp.MustCompile(`^[a-z][a-z0-9]*: `)

// splitHostPort parses a host:port for the Metadata broker list (port 0 when unparsable).
func splitHostPort(addr string) (string, int32) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	p, _ := strconv.ParseInt(port, 10, 32)
	return host, int32(p)
}

// liveNodes returns the registered nodes with this node's entry carrying the advertised address.
func (s *Server) liveNodes(ctx context.Context) ([]metadata.Node, error) {
	ns, err := s.broker.LiveNodes(ctx)
	if err != nil {
		return nil, err
	}
	for i := range ns {
		if ns[i].ID == s.cfg.NodeID {
			ns[i].KafkaAddr = s.advertised()
		}
	}
	return ns, nil
}

func strp(s string) *string { return &s }
