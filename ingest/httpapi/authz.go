package httpapi

// Authorization of HTTP ingest, when Config.Authorizer is set.
//
// POST /v1/topics/{topic}/records needs WRITE on the topic, as a Kafka Produce does, and, when the
// topic does not exist yet, CREATE on the cluster or on the topic to create it, as a Kafka
// Metadata request's auto-creation does. A denial answers 403 before the body is read, and
// nothing is written. The principal is the one Authenticate put in the request's context
// ("User:<name>"), or User:ANONYMOUS when authentication is off; the host is the client's IP.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/metadata"
)

// Authorizer decides whether a principal may perform an operation on a resource.
// *acl.Authorizer is one. It must be safe for concurrent use.
type Authorizer interface {
	Authorize(principal, host string, op metadata.ACLOperation, rt metadata.ResourceType, name string) bool
}

// anonymous is the principal of a request without credentials, as in Kafka.
const anonymous = PrincipalPrefix + "ANONYMOUS"

// errForbidden marks a request the ACLs deny.
var errForbidden = errors.New("httpapi: not authorized")

// allowed reports whether r may perform op on the resource; true without an authorizer.
func (in *ingester) allowed(r *http.Request, op metadata.ACLOperation, rt metadata.ResourceType, name string) bool {
	return AuthorizeRequest(r, in.cfg.Authorizer, op, rt, name)
}

// AuthorizeRequest reports whether a lets r's client perform op on the resource: the principal
// Authenticate put in r's context (User:ANONYMOUS without one), from r's remote address. A nil a
// allows everything.
func AuthorizeRequest(r *http.Request, a Authorizer, op metadata.ACLOperation, rt metadata.ResourceType, name string) bool {
	if a == nil {
		return true
	}
	return a.Authorize(principalOf(r.Context()), clientHost(r), op, rt, name)
}

// AuthorizeContext is AuthorizeRequest for code that holds only the request's context: the
// client's address is the one WithClientHost put there ("" when none did).
func AuthorizeContext(ctx context.Context, a Authorizer, op metadata.ACLOperation, rt metadata.ResourceType, name string) bool {
	if a == nil {
		return true
	}
	host, _ := ctx.Value(clientHostKey{}).(string)
	return a.Authorize(principalOf(ctx), host, op, rt, name)
}

// WithClientHost passes each request to h with its client's address in the context, for
// AuthorizeContext.
func WithClientHost(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientHostKey{}, clientHost(r))))
	})
}

type clientHostKey struct{}

func principalOf(ctx context.Context) string {
	if p, ok := Principal(ctx); ok {
		return p
	}
	return anonymous
}

// clientHost is r's remote address without its port.
func clientHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ensureTopic returns the topic, created if missing when r may create it (errForbidden if not).
func (in *ingester) ensureTopic(ctx context.Context, r *http.Request, topic string) (metadata.Topic, error) {
	if in.cfg.Authorizer == nil {
		return in.cfg.Topics.EnsureTopic(ctx, topic, true)
	}
	t, err := in.cfg.Topics.EnsureTopic(ctx, topic, false)
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		return t, err
	}
	if !in.allowed(r, metadata.OpCreate, metadata.ResourceCluster, metadata.ClusterResourceName) &&
		!in.allowed(r, metadata.OpCreate, metadata.ResourceTopic, topic) {
		return metadata.Topic{}, fmt.Errorf("%w: creating topic %q needs CREATE on the cluster or the topic", errForbidden, topic)
	}
	return in.cfg.Topics.EnsureTopic(ctx, topic, true)
}

// forbid answers 403. Like a 401, it closes the connection rather than drain an upload it
// will not read.
func forbid(w http.ResponseWriter, r *http.Request, msg string) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
	writeJSON(w, http.StatusForbidden, errorBody{Error: msg + "; nothing was written"})
}
