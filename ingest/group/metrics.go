package group

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	rebalances prometheus.Counter
	members    *prometheus.GaugeVec
	commits    prometheus.Counter
	// KIP-932 share partitions led by this node.
	shareAcquired prometheus.Counter
	shareAcks     *prometheus.CounterVec
	shareExpired  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		rebalances: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_group_rebalances_total",
			Help: "Consumer group rebalances started on this coordinator.",
		}),
		members: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "strata_group_members",
			Help: "Members of each consumer group coordinated by this node.",
		}, []string{"group"}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_group_offset_commits_total",
			Help: "Partition offsets committed through this coordinator.",
		}),
		shareAcquired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_group_share_records_acquired_total",
			Help: "Records acquired by share group members from partitions this node leads.",
		}),
		shareAcks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_group_share_acknowledged_records_total",
			Help: "Records share group members acknowledged on this node, by type.",
		}, []string{"type"}),
		shareExpired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_group_share_lock_expiries_total",
			Help: "Acquired records whose acquisition lock expired before they were acknowledged.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.rebalances, m.members, m.commits, m.shareAcquired, m.shareAcks, m.shareExpired} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("%w: metrics already registered: %v", ErrConfig, err)
			}
			return nil, fmt.Errorf("group: register metrics: %w", err)
		}
	}
	return m, nil
}

// forget drops the per-group series of a group that no longer lives here.
func (m *metrics) forget(group string) { m.members.DeleteLabelValues(group) }
