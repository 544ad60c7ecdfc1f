package metadata

import (
	"errors"
	"testing"
)

func TestACLValidate(t *testing.T) {
	ok := ACL{ResourceType: ResourceTopic, ResourceName: "t", PatternType: PatternLiteral, Principal: "User:a", Host: "*",
		Operation: OpRead, Permission: PermissionAllow}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid ACL: %v", err)
	}
	for name, mutate := range map[string]func(*ACL){
		"any resource type":    func(a *ACL) { a.ResourceType = ResourceAny },
		"match pattern":        func(a *ACL) { a.PatternType = PatternMatch },
		"any operation":        func(a *ACL) { a.Operation = OpAny },
		"any permission":       func(a *ACL) { a.Permission = PermissionAny },
		"empty name":           func(a *ACL) { a.ResourceName = "" },
		"empty host":           func(a *ACL) { a.Host = "" },
		"principal no type":    func(a *ACL) { a.Principal = "alice" },
		"principal no name":    func(a *ACL) { a.Principal = "User:" },
		"prefixed wildcard":    func(a *ACL) { a.PatternType, a.ResourceName = PatternPrefixed, "*" },
		"cluster not named so": func(a *ACL) { a.ResourceType, a.ResourceName = ResourceCluster, "c" },
		"cluster prefixed": func(a *ACL) {
			a.ResourceType, a.ResourceName, a.PatternType = ResourceCluster, ClusterResourceName, PatternPrefixed
		},
	} {
		a := ok
		mutate(&a)
		if err := a.Validate(); !errors.Is(err, ErrInvalidACL) {
			t.Errorf("%s: Validate = %v, want ErrInvalidACL", name, err)
		}
	}
}

func TestPatternMatches(t *testing.T) {
	for _, c := range []struct {
		pattern     PatternType
		patternName string
		name        string
		want        bool
	}{
		{PatternLiteral, "orders", "orders", true},
		{PatternLiteral, "orders", "orders2", false},
		{PatternLiteral, "*", "anything", true},
		{PatternPrefixed, "ord", "orders", true},
		{PatternPrefixed, "ord", "or", false},
		{PatternPrefixed, "*", "*x", true}, // a prefix, not a wildcard (Validate refuses it anyway)
		{PatternMatch, "orders", "orders", false},
	} {
		if got := PatternMatches(c.pattern, c.patternName, c.name); got != c.want {
			t.Errorf("PatternMatches(%d, %q, %q) = %v, want %v", c.pattern, c.patternName, c.name, got, c.want)
		}
	}
}
