package metadata

// Access control lists, in Kafka's model (KIP-290 patterns included). The numeric values of every
// enum are Kafka's wire values, so the Kafka handlers pass them through unchanged and a stored ACL
// reads the same in `kafka-acls.sh --list` as it was written.
//
// An ACL grants or denies one principal, from one host, one operation on the resources its pattern
// names. The rules that decide a request (deny beats allow, implied operations) belong to the
// authorizer; this file holds the data, its validation and the filter matching that DescribeAcls
// and DeleteAcls share.

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidACL marks an ACL or filter that cannot be stored or matched (an unknown enum value, a
// principal without a type, a cluster resource not named kafka-cluster, ...).
var ErrInvalidACL = errors.New("metadata: invalid ACL")

// ResourceType is what an ACL protects (Kafka's ResourceType codes).
type ResourceType int8

const (
	ResourceAny             ResourceType = 1 // filters only
	ResourceTopic           ResourceType = 2
	ResourceGroup           ResourceType = 3
	ResourceCluster         ResourceType = 4
	ResourceTransactionalID ResourceType = 5
)

// ClusterResourceName is the only name of the cluster resource, as in Kafka.
const ClusterResourceName = "kafka-cluster"

// PatternType says how an ACL's resource name matches names (Kafka's PatternType codes).
type PatternType int8

const (
	PatternAny      PatternType = 1 // filters only: literal or prefixed
	PatternMatch    PatternType = 2 // filters only: the ACLs that would apply to the filter's name
	PatternLiteral  PatternType = 3 // the name itself, or every name when it is "*"
	PatternPrefixed PatternType = 4 // every name that begins with it
)

// WildcardResource is the literal name that matches every resource of its type.
const WildcardResource = "*"

// ACLOperation is what an ACL allows or denies (Kafka's AclOperation codes).
type ACLOperation int8

const (
	OpAny             ACLOperation = 1 // filters only
	OpAll             ACLOperation = 2
	OpRead            ACLOperation = 3
	OpWrite           ACLOperation = 4
	OpCreate          ACLOperation = 5
	OpDelete          ACLOperation = 6
	OpAlter           ACLOperation = 7
	OpDescribe        ACLOperation = 8
	OpClusterAction   ACLOperation = 9
	OpDescribeConfigs ACLOperation = 10
	OpAlterConfigs    ACLOperation = 11
	OpIdempotentWrite ACLOperation = 12
)

var opNames = map[ACLOperation]string{OpAny: "ANY", OpAll: "ALL", OpRead: "READ", OpWrite: "WRITE", OpCreate: "CREATE",
	OpDelete: "DELETE", OpAlter: "ALTER", OpDescribe: "DESCRIBE", OpClusterAction: "CLUSTER_ACTION",
	OpDescribeConfigs: "DESCRIBE_CONFIGS", OpAlterConfigs: "ALTER_CONFIGS", OpIdempotentWrite: "IDEMPOTENT_WRITE"}

// String is Kafka's name of the operation.
func (o ACLOperation) String() string {
	if n, ok := opNames[o]; ok {
		return n
	}
	return fmt.Sprintf("OPERATION(%d)", int8(o))
}

// ACLPermission is whether an ACL allows or denies (Kafka's AclPermissionType codes).
type ACLPermission int8

const (
	PermissionAny   ACLPermission = 1 // filters only
	PermissionDeny  ACLPermission = 2
	PermissionAllow ACLPermission = 3
)

// WildcardPrincipal and WildcardHost match every principal and every host.
const (
	WildcardPrincipal = "User:*"
	WildcardHost      = "*"
)

// ACL is one access control entry bound to a resource pattern.
type ACL struct {
	ResourceType ResourceType
	ResourceName string
	PatternType  PatternType // PatternLiteral or PatternPrefixed
	Principal    string      // "User:<name>", or WildcardPrincipal
	Host         string      // a client IP, or WildcardHost
	Operation    ACLOperation
	Permission   ACLPermission
}

func (a ACL) String() string {
	perm := "ALLOW"
	if a.Permission == PermissionDeny {
		perm = "DENY"
	}
	pat := "LITERAL"
	if a.PatternType == PatternPrefixed {
		pat = "PREFIXED"
	}
	return fmt.Sprintf("%s %s %s on %d:%s:%s from %s", a.Principal, perm, a.Operation, a.ResourceType, pat, a.ResourceName, a.Host)
}

// Validate reports an ACL that may not be stored, wrapping ErrInvalidACL.
func (a ACL) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidACL, fmt.Sprintf(format, args...))
	}
	switch {
	case a.ResourceType < ResourceTopic || a.ResourceType > ResourceTransactionalID:
		return bad("resource type %d is not topic, group, cluster or transactional id", a.ResourceType)
	case a.PatternType != PatternLiteral && a.PatternType != PatternPrefixed:
		return bad("pattern type %d is not literal or prefixed", a.PatternType)
	case a.Operation < OpAll || a.Operation > OpIdempotentWrite:
		return bad("operation %d is not a Kafka operation", a.Operation)
	case a.Permission != PermissionAllow && a.Permission != PermissionDeny:
		return bad("permission %d is not allow or deny", a.Permission)
	case a.ResourceName == "":
		return bad("empty resource name")
	case a.ResourceType == ResourceCluster && (a.ResourceName != ClusterResourceName || a.PatternType != PatternLiteral):
		return bad("the cluster resource is the literal %q", ClusterResourceName)
	case a.PatternType == PatternPrefixed && a.ResourceName == WildcardResource:
		return bad("a prefixed pattern cannot be the wildcard %q", WildcardResource)
	case a.Host == "":
		return bad("empty host (use %q for every host)", WildcardHost)
	}
	if kind, name, ok := strings.Cut(a.Principal, ":"); !ok || kind == "" || name == "" {
		return bad("principal %q is not Type:name", a.Principal)
	}
	return nil
}

// CompareACLs orders ACLs by resource type, name, pattern, principal, host, operation and
// permission: the order ListACLs returns.
func CompareACLs(a, b ACL) int {
	return cmp.Or(cmp.Compare(a.ResourceType, b.ResourceType), strings.Compare(a.ResourceName, b.ResourceName),
		cmp.Compare(a.PatternType, b.PatternType), strings.Compare(a.Principal, b.Principal),
		strings.Compare(a.Host, b.Host), cmp.Compare(a.Operation, b.Operation), cmp.Compare(a.Permission, b.Permission))
}

// ACLFilter selects ACLs, as DescribeAcls and DeleteAcls filters do in Kafka. A nil string
// matches every value; the *Any enum values match every value.
type ACLFilter struct {
	ResourceType ResourceType
	ResourceName *string
	// PatternType PatternAny matches literal and prefixed ACLs whose name equals ResourceName;
	// PatternMatch matches the ACLs that apply to a resource named ResourceName: that literal
	// name, the wildcard, and every prefix of it.
	PatternType PatternType
	Principal   *string
	Host        *string
	Operation   ACLOperation
	Permission  ACLPermission
}

// Validate reports a filter with values outside Kafka's enums, wrapping ErrInvalidACL.
func (f ACLFilter) Validate() error {
	switch {
	case f.ResourceType < ResourceAny || f.ResourceType > ResourceTransactionalID:
		return fmt.Errorf("%w: filter resource type %d", ErrInvalidACL, f.ResourceType)
	case f.PatternType < PatternAny || f.PatternType > PatternPrefixed:
		return fmt.Errorf("%w: filter pattern type %d", ErrInvalidACL, f.PatternType)
	case f.Operation < OpAny || f.Operation > OpIdempotentWrite:
		return fmt.Errorf("%w: filter operation %d", ErrInvalidACL, f.Operation)
	case f.Permission < PermissionAny || f.Permission > PermissionAllow:
		return fmt.Errorf("%w: filter permission %d", ErrInvalidACL, f.Permission)
	}
	return nil
}

// Matches reports whether a is selected by f.
func (f ACLFilter) Matches(a ACL) bool {
	switch {
	case f.ResourceType != ResourceAny && f.ResourceType != a.ResourceType:
		return false
	case f.Principal != nil && *f.Principal != a.Principal:
		return false
	case f.Host != nil && *f.Host != a.Host:
		return false
	case f.Operation != OpAny && f.Operation != a.Operation:
		return false
	case f.Permission != PermissionAny && f.Permission != a.Permission:
		return false
	}
	switch f.PatternType {
	case PatternAny:
		return f.ResourceName == nil || *f.ResourceName == a.ResourceName
	case PatternMatch:
		if f.ResourceName == nil {
			return true
		}
		return PatternMatches(a.PatternType, a.ResourceName, *f.ResourceName)
	default:
		return f.PatternType == a.PatternType && (f.ResourceName == nil || *f.ResourceName == a.ResourceName)
	}
}

// PatternMatches reports whether a pattern (literal or prefixed pattern of the given name) applies
// to a resource called name.
func PatternMatches(pattern PatternType, patternName, name string) bool {
	switch pattern {
	case PatternLiteral:
		return patternName == name || patternName == WildcardResource
	case PatternPrefixed:
		return strings.HasPrefix(name, patternName)
	}
	return false
}
