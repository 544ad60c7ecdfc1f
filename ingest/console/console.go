package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/broker"
	"github.com/strata-log/strata/ingest/group"
	"github.com/strata-log/strata/ingest/httpapi"
	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
)

// Broker is what the console asks of the node's broker.
type Broker interface {
	NodeID() int32
	LiveNodes(ctx context.Context) ([]metadata.Node, error)
	Leaders(ctx context.Context) (map[metadata.TopicPartition]metadata.Lease, error)
	LedPartitions() map[metadata.TopicPartition]int32
	TierStatus(tp metadata.TopicPartition) (broker.TierStatus, bool)
	ListOffset(ctx context.Context, tp metadata.TopicPartition, ts int64) (offset, timestamp int64, err error)
	Fetch(ctx context.Context, tp metadata.TopicPartition, offset int64, maxBytes int) (broker.FetchResult, error)
	IsCoordinator(group string) bool
	CoordinatorFor(ctx context.Context, group string) (metadata.Node, error)
}

// Topics is what the console asks of topic administration.
type Topics interface {
	Topics(ctx context.Context) ([]metadata.Topic, error)
	Topic(ctx context.Context, name string) (metadata.Topic, error)
	CreateTopic(ctx context.Context, spec topics.Spec) (metadata.Topic, error)
	DeleteTopic(ctx context.Context, name string) error
	AlterTopicConfigs(ctx context.Context, name string, ops []topics.ConfigOp, validateOnly bool) error
	DescribeTopicConfigs(ctx context.Context, name string, names []string) ([]topics.ConfigEntry, error)
}

// Groups is what the console asks of the consumer group coordinator.
type Groups interface {
	ListGroups(ctx context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse
	DescribeGroups(ctx context.Context, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse
	Committed(ctx context.Context, group string) (map[metadata.TopicPartition]int64, error)
}

// Catalogs reads partitions' catalogs (the tiered part of their logs) from metadata, and reports
// their changes so that what was read can be kept (see catalogCache).
type Catalogs interface {
	GetCatalog(ctx context.Context, tp metadata.TopicPartition) (metadata.PartitionCatalog, error)
	metadata.CatalogWatcher
}

var (
	_ Broker = (*broker.Broker)(nil)
	_ Topics = (*topics.Admin)(nil)
	_ Groups = (*group.Coordinator)(nil)
)

// Config configures a Server.
type Config struct {
	Broker   Broker   // required
	Topics   Topics   // required
	Groups   Groups   // required
	Catalogs Catalogs // required
	// ObjectStore checks that the object store answers (the cluster page's health); nil reports
	// it unknown.
	ObjectStore func(ctx context.Context) error
	// Version is this node's build, shown per node.
	Version string
	// Authorizer, when set, applies the ACLs to every topic and group the console shows or
	// changes (authz.go).
	Authorizer httpapi.Authorizer
	// RequireAuth refuses mutations whose request carries no authenticated principal (set it
	// when the listener authenticates).
	RequireAuth bool
	// Peers asks other nodes' HTTP listeners (default: a client with a 10 s timeout); PeerScheme
	// is their scheme, "http" (default) or "https".
	Peers      *http.Client
	PeerScheme string
	// Timeout bounds one request (default 30s).
	Timeout time.Duration
	// CatalogReads bounds the catalog reads in flight for one request (default 32).
	CatalogReads int
	// CatalogTTL bounds how long a catalog read is kept (default 1m); a watch drops it sooner
	// when the catalog changes.
	CatalogTTL time.Duration
	Logger     *slog.Logger
}

// Validate checks the config and fills defaults.
func (c *Config) Validate() error {
	if c.Broker == nil || c.Topics == nil || c.Groups == nil || c.Catalogs == nil {
		return errors.New("console: Config.Broker, Topics, Groups and Catalogs are required")
	}
	switch c.PeerScheme {
	case "":
		c.PeerScheme = "http"
	case "http", "https":
	default:
		return fmt.Errorf("console: PeerScheme %q: want http or https", c.PeerScheme)
	}
	if c.Timeout < 0 || c.CatalogReads < 0 || c.CatalogTTL < 0 {
		return errors.New("console: negative Timeout, CatalogReads or CatalogTTL")
	}
	if c.CatalogTTL == 0 {
		c.CatalogTTL = time.Minute
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	if c.CatalogReads == 0 {
		c.CatalogReads = 32
	}
	if c.Peers == nil {
		c.Peers = &http.Client{Timeout: 10 * time.Second}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

//go:embed assets
var assets embed.FS

// Server serves the console and its JSON endpoints. Close stops its catalog watch.
type Server struct {
	cfg      Config
	static   http.Handler
	index    []byte
	catalogs *catalogCache
}

// New validates cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, fmt.Errorf("console: assets: %w", err)
	}
	index, err := fs.ReadFile(sub, "index.html")
	if err != nil {
		return nil, fmt.Errorf("console: assets: %w", err)
	}
	return &Server{cfg: cfg, static: http.StripPrefix("/console/", http.FileServerFS(sub)), index: index,
		catalogs: newCatalogCache(cfg.Catalogs, cfg.CatalogTTL)}, nil
}

// Close stops the goroutine that keeps the catalog cache fresh and waits for it. Idempotent;
// requests served after it read every catalog afresh.
func (s *Server) Close() error {
	s.catalogs.close()
	return nil
}

// Register adds the console's routes to mux. Paths it does not name stay with mux's other
// handlers (the node's "/" catch-all among them).
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", s.serveIndex)
	mux.Handle("GET /console/", s.static)
	mux.HandleFunc("GET /v1/cluster", s.handle(s.cluster))
	mux.HandleFunc("GET /v1/node", s.handle(s.node))
	mux.HandleFunc("GET /v1/topics", s.handle(s.listTopics))
	mux.HandleFunc("POST /v1/topics", s.mutation(s.createTopic))
	mux.HandleFunc("GET /v1/topics/{topic}", s.handle(s.getTopic))
	mux.HandleFunc("PATCH /v1/topics/{topic}/configs", s.mutation(s.alterConfigs))
	mux.HandleFunc("DELETE /v1/topics/{topic}", s.mutation(s.deleteTopic))
	mux.HandleFunc("GET /v1/topics/{topic}/partitions", s.handle(s.partitions))
	mux.HandleFunc("GET /v1/topics/{topic}/partitions/{partition}/records", s.handle(s.records))
	mux.HandleFunc("GET /v1/groups", s.handle(s.listGroups))
	mux.HandleFunc("GET /v1/groups/{group}", s.handle(s.getGroup))
}

// Handler returns a handler serving only the console's routes (404 for anything else).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.Register(mux)
	return mux
}

func (s *Server) serveIndex(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(s.index)
}

// httpError is an error with the status it answers.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) error {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

// endpoint answers a request with a value to encode as JSON, or an error.
type endpoint func(ctx context.Context, r *http.Request) (any, error)

// handle adapts an endpoint: its timeout, its JSON answer, its errors' statuses.
func (s *Server) handle(e endpoint) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
		defer cancel()
		v, err := e(ctx, r)
		if err != nil {
			status, msg := statusOf(err)
			if status >= 500 {
				s.cfg.Logger.Warn("console: request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
			}
			writeJSON(w, status, errorBody{Error: msg})
			return
		}
		status := http.StatusOK
		if c, ok := v.(created); ok {
			status, v = http.StatusCreated, c.v
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, status, v)
	}
}

// created marks an endpoint's answer as 201 Created.
type created struct{ v any }

// mutation is handle for requests that change something: see the package doc's Authentication.
func (s *Server) mutation(e endpoint) http.HandlerFunc {
	return s.handle(func(ctx context.Context, r *http.Request) (any, error) {
		if s.cfg.RequireAuth {
			if _, ok := httpapi.Principal(r.Context()); !ok {
				return nil, errorf(http.StatusUnauthorized, "authentication required to change topics")
			}
		}
		if o := r.Header.Get("Origin"); o != "" {
			u, err := url.Parse(o)
			if err != nil || u.Host != r.Host {
				return nil, errorf(http.StatusForbidden, "cross-origin request refused (Origin %q, host %q)", o, r.Host)
			}
		}
		if r.ContentLength != 0 && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			return nil, errorf(http.StatusUnsupportedMediaType, "body must be application/json")
		}
		return e(ctx, r)
	})
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// statusOf maps an error to its HTTP status and message.
func statusOf(err error) (int, string) {
	var he *httpError
	if errors.As(err, &he) {
		return he.status, he.msg
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		switch ke {
		case kerr.TopicAlreadyExists:
			return http.StatusConflict, err.Error()
		case kerr.UnknownTopicOrPartition, kerr.GroupIDNotFound:
			return http.StatusNotFound, err.Error()
		case kerr.InvalidTopicException, kerr.InvalidConfig, kerr.InvalidPartitions, kerr.InvalidReplicationFactor,
			kerr.InvalidRequest, kerr.PolicyViolation, kerr.OffsetOutOfRange, kerr.InvalidRecord, kerr.CorruptMessage:
			return http.StatusBadRequest, err.Error()
		case kerr.NotLeaderForPartition, kerr.LeaderNotAvailable, kerr.NotCoordinator, kerr.CoordinatorNotAvailable,
			kerr.RequestTimedOut:
			return http.StatusServiceUnavailable, err.Error()
		}
	}
	if errors.Is(err, metadata.ErrNotFound) {
		return http.StatusNotFound, err.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return http.StatusGatewayTimeout, "timed out: " + err.Error()
	}
	return http.StatusInternalServerError, err.Error()
}

// decodeBody reads a JSON body of at most 1 MiB into v, refusing unknown fields.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, "bad JSON body: %v", err)
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, "bad JSON body: more than one value")
	}
	return nil
}

// local reports whether the request asks for this node's own view only (?local=1): a request
// forwarded by a peer.
func local(r *http.Request) bool { return r.URL.Query().Get("local") == "1" }

// askPeer GETs path (escaped, as url.PathEscape leaves each segment) with query q from node's
// HTTP listener with the request's credentials and ?local=1, decoding the JSON answer into out.
func (s *Server) askPeer(ctx context.Context, r *http.Request, node metadata.Node, path string, q url.Values, out any) error {
	if node.HTTPAddr == "" {
		return fmt.Errorf("node %d has no HTTP address registered", node.ID)
	}
	if q == nil {
		q = url.Values{}
	}
	q.Set("local", "1")
	u := s.cfg.PeerScheme + "://" + node.HTTPAddr + path + "?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	if a := r.Header.Get("Authorization"); a != "" {
		req.Header.Set("Authorization", a)
	}
	resp, err := s.cfg.Peers.Do(req)
	if err != nil {
		return fmt.Errorf("node %d (%s): %w", node.ID, node.HTTPAddr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("node %d (%s): %w", node.ID, node.HTTPAddr, err)
	}
	if resp.StatusCode != http.StatusOK {
		var eb errorBody
		_ = json.Unmarshal(body, &eb)
		if eb.Error == "" {
			eb.Error = strings.TrimSpace(string(body))
		}
		return &peerError{node: node.ID, status: resp.StatusCode, msg: eb.Error}
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("node %d (%s): bad answer: %w", node.ID, node.HTTPAddr, err)
	}
	return nil
}

// peerError is a peer's error answer; a client error keeps its status, anything else is a 502.
type peerError struct {
	node   int32
	status int
	msg    string
}

func (e *peerError) Error() string { return fmt.Sprintf("node %d: %s", e.node, e.msg) }

func asHTTP(err error) error {
	var pe *peerError
	if errors.As(err, &pe) {
		if pe.status >= 400 && pe.status < 500 {
			return errorf(pe.status, "%s", pe.Error())
		}
		return errorf(http.StatusBadGateway, "%s", pe.Error())
	}
	var he *httpError
	if errors.As(err, &he) {
		return err
	}
	return errorf(http.StatusBadGateway, "%v", err)
}

// nodeByID finds a live node.
func (s *Server) nodeByID(ctx context.Context, id int32) (metadata.Node, error) {
	nodes, err := s.cfg.Broker.LiveNodes(ctx)
	if err != nil {
		return metadata.Node{}, err
	}
	for _, n := range nodes {
		if n.ID == id {
			return n, nil
		}
	}
	return metadata.Node{}, errorf(http.StatusServiceUnavailable, "node %d is not live", id)
}
