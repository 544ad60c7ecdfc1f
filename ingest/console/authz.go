package console

import (
	"net/http"

	"github.com/strata-log/strata/ingest/httpapi"
	"github.com/strata-log/strata/metadata"
)

// With Config.Authorizer set, the console answers as the Kafka APIs would for the same principal
// (the HTTP Basic user, or User:ANONYMOUS): topic and group lists show only what it may DESCRIBE;
// a topic's page and partitions need DESCRIBE, its records READ; creating a topic needs CREATE on
// the cluster or the topic, altering its configs ALTER_CONFIGS, deleting it DELETE; a group's page
// needs DESCRIBE on the group. A denial answers 403. Requests between nodes carry the user's
// credentials, so a peer checks the same principal.

// allowed reports whether r may perform op on the resource; true without an authorizer.
func (s *Server) allowed(r *http.Request, op metadata.ACLOperation, rt metadata.ResourceType, name string) bool {
	return httpapi.AuthorizeRequest(r, s.cfg.Authorizer, op, rt, name)
}

// requireTopic is a 403 error unless r may perform op on topic.
func (s *Server) requireTopic(r *http.Request, op metadata.ACLOperation, topic string) error {
	if s.allowed(r, op, metadata.ResourceTopic, topic) {
		return nil
	}
	return errorf(http.StatusForbidden, "not authorized: %s on topic %q is needed", opName(op), topic)
}

// requireGroup is a 403 error unless r may DESCRIBE group.
func (s *Server) requireGroup(r *http.Request, group string) error {
	if s.allowed(r, metadata.OpDescribe, metadata.ResourceGroup, group) {
		return nil
	}
	return errorf(http.StatusForbidden, "not authorized: DESCRIBE on group %q is needed", group)
}

func opName(op metadata.ACLOperation) string {
	switch op {
	case metadata.OpRead:
		return "READ"
	case metadata.OpDescribe:
		return "DESCRIBE"
	case metadata.OpDelete:
		return "DELETE"
	case metadata.OpAlterConfigs:
		return "ALTER_CONFIGS"
	case metadata.OpCreate:
		return "CREATE"
	}
	return "permission"
}
