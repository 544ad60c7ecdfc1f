package main

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/ingest/acl"
	"github.com/strata-log/strata/ingest/httpapi"
	"github.com/strata-log/strata/metadata"
)

// validateACL checks --authorizer and --super-users and parses the latter.
func (c *serverConfig) validateACL() error {
	switch c.authorizer {
	case "", "none":
	case "acl":
	default:
		return usagef(`--authorizer %q: want "acl" or "none"`, c.authorizer)
	}
	users, err := acl.ParseSuperUsers(c.superUsersFlag)
	if err != nil {
		return usagef("--super-users: %v", err)
	}
	if len(users) > 0 && c.authorizer != "acl" {
		return usagef("--super-users needs --authorizer acl")
	}
	c.superUsers = users
	return nil
}

// newAuthorizer starts the ACL authorizer when --authorizer acl is set (nil, nil otherwise).
func newAuthorizer(ctx context.Context, cfg serverConfig, store metadata.ACLs, log *slog.Logger, reg prometheus.Registerer) (*acl.Authorizer, error) {
	if cfg.authorizer != "acl" {
		return nil, nil
	}
	return acl.New(ctx, acl.Config{Store: store, SuperUsers: cfg.superUsers, Logger: log, Registerer: reg})
}

// httpAuthorizer is a's httpapi face: a nil interface, not a typed nil, when a is nil.
func httpAuthorizer(a *acl.Authorizer) httpapi.Authorizer {
	if a == nil {
		return nil
	}
	return a
}
