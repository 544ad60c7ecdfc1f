// Package promshare registers Prometheus collectors so that several instances of one component
// (object-store buckets, hot-log directories, uploaders and readers in one process or test) share
// one set of series on a registry instead of failing on the second registration.
package promshare

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c on reg and returns it, or returns the collector already registered there
// under the same description when that one is a C. Any other failure (the same name with other
// labels or help: a programming error) is returned with c, which is then not registered.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}

// Keep is Register for components whose collectors are fixed and cannot clash: a failure leaves c
// working but unregistered.
func Keep[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	c, _ = Register(reg, c)
	return c
}
