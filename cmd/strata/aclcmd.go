package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const aclUsage = `Usage:
  strata acl add    --principal User:NAME --operation OP [--operation OP ...] RESOURCE [--prefixed] [--deny] [--host IP]
  strata acl list   [--principal User:NAME] [RESOURCE]        every ACL, or those of a principal or resource
  strata acl remove --principal User:NAME --operation OP [--operation OP ...] RESOURCE [--prefixed] [--deny] [--host IP]

RESOURCE is one of --topic NAME, --group NAME, --transactional-id NAME or --cluster; NAME "*"
is every resource of the type. OP is one of all, read, write, create, delete, alter, describe,
cluster-action, describe-configs, alter-configs, idempotent-write. The node must run with
--authorizer acl, and the caller needs ALTER (add, remove) or DESCRIBE (list) on the cluster: a
super user, say. Every subcommand takes the client flags (--bootstrap, --timeout, TLS and SASL).
`

var aclOperations = map[string]kmsg.ACLOperation{
	"all": kmsg.ACLOperationAll, "read": kmsg.ACLOperationRead, "write": kmsg.ACLOperationWrite,
	"create": kmsg.ACLOperationCreate, "delete": kmsg.ACLOperationDelete, "alter": kmsg.ACLOperationAlter,
	"describe": kmsg.ACLOperationDescribe, "cluster-action": kmsg.ACLOperationClusterAction,
	"describe-configs": kmsg.ACLOperationDescribeConfigs, "alter-configs": kmsg.ACLOperationAlterConfigs,
	"idempotent-write": kmsg.ACLOperationIdempotentWrite,
}

func runACL(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usagef("want a subcommand: add, list, remove (see strata acl help)")
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "add", "list", "remove":
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, aclUsage)
		return nil
	default:
		return usagef("unknown acl subcommand %q (want add, list, remove; see strata acl help)", sub)
	}
	fs := flag.NewFlagSet("acl "+sub, flag.ContinueOnError)
	var cf clientFlags
	cf.register(fs)
	principal := fs.String("principal", "", "principal, User:NAME (User:* is everyone)")
	var ops multiFlag
	fs.Var(&ops, "operation", "operation (repeatable): "+strings.Join(slices.Sorted(maps.Keys(aclOperations)), ", "))
	topic := fs.String("topic", "", "topic name")
	group := fs.String("group", "", "consumer group id")
	txnID := fs.String("transactional-id", "", "transactional id")
	cluster := fs.Bool("cluster", false, "the cluster")
	prefixed := fs.Bool("prefixed", false, "the name is a prefix (default: the literal name)")
	deny := fs.Bool("deny", false, "deny instead of allow")
	host := fs.String("host", "*", "client IP address the ACL applies to")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	rt, name, n := kmsg.ACLResourceTypeAny, (*string)(nil), 0
	for _, r := range []struct {
		set  bool
		t    kmsg.ACLResourceType
		name string
	}{{*topic != "", kmsg.ACLResourceTypeTopic, *topic}, {*group != "", kmsg.ACLResourceTypeGroup, *group},
		{*txnID != "", kmsg.ACLResourceTypeTransactionalId, *txnID}, {*cluster, kmsg.ACLResourceTypeCluster, "kafka-cluster"}} {
		if r.set {
			rt, name, n = r.t, kmsg.StringPtr(r.name), n+1
		}
	}
	if n > 1 {
		return usagef("name one resource: --topic, --group, --transactional-id or --cluster")
	}
	pattern := kmsg.ACLResourcePatternTypeLiteral
	if *prefixed {
		pattern = kmsg.ACLResourcePatternTypePrefixed
	}
	perm := kmsg.ACLPermissionTypeAllow
	if *deny {
		perm = kmsg.ACLPermissionTypeDeny
	}
	var kops []kmsg.ACLOperation
	for _, o := range ops {
		op, ok := aclOperations[strings.ToLower(o)]
		if !ok {
			return usagef("--operation %q: want one of %s", o, strings.Join(slices.Sorted(maps.Keys(aclOperations)), ", "))
		}
		kops = append(kops, op)
	}
	if sub != "list" {
		switch {
		case *principal == "":
			return usagef("%s needs --principal User:NAME", sub)
		case len(kops) == 0:
			return usagef("%s needs --operation", sub)
		case n == 0:
			return usagef("%s needs a resource: --topic, --group, --transactional-id or --cluster", sub)
		}
	}
	cl, err := cf.client(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()

	switch sub {
	case "add":
		req := kmsg.NewPtrCreateACLsRequest()
		for _, op := range kops {
			c := kmsg.NewCreateACLsRequestCreation()
			c.ResourceType, c.ResourceName, c.ResourcePatternType = rt, *name, pattern
			c.Principal, c.Host, c.Operation, c.PermissionType = *principal, *host, op, perm
			req.Creations = append(req.Creations, c)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		for i, r := range resp.Results {
			if err := aclErr(r.ErrorCode, r.ErrorMessage); err != nil {
				return fmt.Errorf("%s %s: %w", *principal, strings.ToLower(kops[i].String()), err)
			}
		}
		fmt.Fprintf(stdout, "added %d ACLs\n", len(resp.Results))
		return nil
	case "remove":
		req := kmsg.NewPtrDeleteACLsRequest()
		for _, op := range kops {
			f := kmsg.NewDeleteACLsRequestFilter()
			f.ResourceType, f.ResourceName, f.ResourcePatternType = rt, name, pattern
			f.Principal, f.Host, f.Operation, f.PermissionType = principal, host, op, perm
			req.Filters = append(req.Filters, f)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		removed := 0
		for _, r := range resp.Results {
			if err := aclErr(r.ErrorCode, r.ErrorMessage); err != nil {
				return err
			}
			removed += len(r.MatchingACLs)
		}
		fmt.Fprintf(stdout, "removed %d ACLs\n", removed)
		return nil
	}
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType, req.ResourceName, req.ResourcePatternType = rt, name, kmsg.ACLResourcePatternTypeAny
	req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	if *principal != "" {
		req.Principal = principal
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	if err := aclErr(resp.ErrorCode, resp.ErrorMessage); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RESOURCE\tPATTERN\tPRINCIPAL\tHOST\tOPERATION\tPERMISSION")
	for _, r := range resp.Resources {
		for _, a := range r.ACLs {
			fmt.Fprintf(tw, "%s:%s\t%s\t%s\t%s\t%s\t%s\n", strings.ToLower(r.ResourceType.String()), r.ResourceName,
				strings.ToLower(r.ResourcePatternType.String()), a.Principal, a.Host,
				strings.ToLower(a.Operation.String()), strings.ToLower(a.PermissionType.String()))
		}
	}
	return tw.Flush()
}

// aclErr is the error of an ACL API answer, with the broker's message.
func aclErr(code int16, msg *string) error {
	err := kerr.ErrorForCode(code)
	if err == nil || msg == nil || *msg == "" {
		return err
	}
	return fmt.Errorf("%w: %s", err, *msg)
}
