package acl

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/strata-log/strata/metadata"
)

// snapshot is an immutable index of every ACL, by resource type: literal patterns (the wildcard
// included) by name, prefixed patterns in a list. Decisions are memoized (the ACLs cannot change
// under them: a change makes a new snapshot), up to maxDecisions of them.
type snapshot struct {
	byType map[metadata.ResourceType]*typeACLs

	decisions sync.Map // decisionKey → bool
	cached    atomic.Int64
}

// maxDecisions bounds the memoized decisions of one snapshot (about 100 bytes each).
const maxDecisions = 1 << 16

type decisionKey struct {
	principal, host, name string
	op                    metadata.ACLOperation
	rt                    metadata.ResourceType
}

type typeACLs struct {
	literal  map[string][]metadata.ACL
	prefixed []metadata.ACL
}

func newSnapshot(acls []metadata.ACL) *snapshot {
	s := &snapshot{byType: map[metadata.ResourceType]*typeACLs{}}
	for _, a := range acls {
		t := s.byType[a.ResourceType]
		if t == nil {
			t = &typeACLs{literal: map[string][]metadata.ACL{}}
			s.byType[a.ResourceType] = t
		}
		if a.PatternType == metadata.PatternPrefixed {
			t.prefixed = append(t.prefixed, a)
		} else {
			t.literal[a.ResourceName] = append(t.literal[a.ResourceName], a)
		}
	}
	return s
}

// applies reports whether a's principal and host cover the request's.
func applies(a metadata.ACL, principal, host string) bool {
	return (a.Principal == principal || a.Principal == metadata.WildcardPrincipal) &&
		(a.Host == host || a.Host == metadata.WildcardHost)
}

// implies reports whether an ALLOW of granted allows op.
func implies(granted, op metadata.ACLOperation) bool {
	switch {
	case granted == op || granted == metadata.OpAll:
		return true
	case op == metadata.OpDescribe:
		return granted == metadata.OpRead || granted == metadata.OpWrite || granted == metadata.OpDelete || granted == metadata.OpAlter
	case op == metadata.OpDescribeConfigs:
		return granted == metadata.OpAlterConfigs
	}
	return false
}

// denies reports whether a DENY of denied denies op (only the operation itself, or ALL).
func denies(denied, op metadata.ACLOperation) bool { return denied == op || denied == metadata.OpAll }

func (s *snapshot) allowed(principal, host string, op metadata.ACLOperation, rt metadata.ResourceType, name string) bool {
	k := decisionKey{principal: principal, host: host, name: name, op: op, rt: rt}
	if d, ok := s.decisions.Load(k); ok {
		return d.(bool)
	}
	d := s.decide(principal, host, op, rt, name)
	if s.cached.Load() < maxDecisions {
		if _, loaded := s.decisions.LoadOrStore(k, d); !loaded {
			s.cached.Add(1)
		}
	}
	return d
}

// decide applies the rules (see the package doc) to the ACLs that match the resource.
func (s *snapshot) decide(principal, host string, op metadata.ACLOperation, rt metadata.ResourceType, name string) bool {
	t := s.byType[rt]
	if t == nil {
		return false
	}
	allow, deny := false, false
	visit := func(acls []metadata.ACL) {
		for _, a := range acls {
			if !applies(a, principal, host) {
				continue
			}
			if a.Permission == metadata.PermissionDeny {
				deny = deny || denies(a.Operation, op)
			} else {
				allow = allow || implies(a.Operation, op)
			}
		}
	}
	visit(t.literal[name])
	if name != metadata.WildcardResource {
		visit(t.literal[metadata.WildcardResource])
	}
	for _, a := range t.prefixed {
		if strings.HasPrefix(name, a.ResourceName) {
			visit([]metadata.ACL{a})
		}
	}
	return allow && !deny
}

// allowedAny is Kafka's authorizeByResourceType: some ALLOW for op (or ALL) on a pattern that no
// DENY for op (or ALL) covers. A literal wildcard DENY covers everything; a literal DENY covers
// that literal; a prefixed DENY covers the literals and prefixes that begin with it.
func (s *snapshot) allowedAny(principal, host string, op metadata.ACLOperation, rt metadata.ResourceType) bool {
	t := s.byType[rt]
	if t == nil {
		return false
	}
	var allows, denyLiteral, denyPrefix []metadata.ACL
	collect := func(a metadata.ACL) {
		if !applies(a, principal, host) {
			return
		}
		switch {
		case a.Permission == metadata.PermissionDeny && denies(a.Operation, op):
			if a.PatternType == metadata.PatternPrefixed {
				denyPrefix = append(denyPrefix, a)
			} else {
				denyLiteral = append(denyLiteral, a)
			}
		case a.Permission == metadata.PermissionAllow && (a.Operation == op || a.Operation == metadata.OpAll):
			allows = append(allows, a)
		}
	}
	for _, acls := range t.literal {
		for _, a := range acls {
			collect(a)
		}
	}
	for _, a := range t.prefixed {
		collect(a)
	}
	for _, d := range denyLiteral {
		if d.ResourceName == metadata.WildcardResource {
			return false
		}
	}
	for _, al := range allows {
		covered := false
		for _, d := range denyPrefix {
			if strings.HasPrefix(al.ResourceName, d.ResourceName) {
				covered = true
				break
			}
		}
		if !covered && al.PatternType == metadata.PatternLiteral {
			for _, d := range denyLiteral {
				if d.ResourceName == al.ResourceName {
					covered = true
					break
				}
			}
		}
		if !covered {
			return true
		}
	}
	return false
}
