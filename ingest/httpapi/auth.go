package httpapi

// Authentication on the HTTP listener.
//
// Authenticate wraps a node's whole HTTP surface (the routes of Handler and any composed beside
// them, such as the cost report). With users configured, every request needs HTTP Basic
// credentials of one of those users, except the probes (/healthz, /readyz) and, with
// AuthConfig.OpenMetrics, /metrics and /debug/pprof/. A request without credentials, with
// malformed ones or with a wrong user or password answers 401 with
// `WWW-Authenticate: Basic realm="strata"` before its handler runs, so nothing is read from its
// body and nothing is written. A path is matched as sent: an unclean path that would only
// redirect to an open route needs credentials too.
//
// An authenticated request carries its principal, "User:<name>" as in Kafka's ACLs, in its
// context (see Principal), for an authorizer to check later. Passwords are checked by the
// Users (one PBKDF2 per request for the SASL users file: about 1 ms of CPU) and never logged.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// PasswordChecker verifies a user's password. It must be safe for concurrent use and should
// take the same time whether or not the user exists. *kafka.Credentials (the --sasl-users file)
// is one.
type PasswordChecker interface {
	CheckPassword(user, password string) bool
}

// AuthConfig configures Authenticate.
type AuthConfig struct {
	// Users checks credentials; nil turns authentication off (every route open, no principal).
	Users PasswordChecker
	// OpenMetrics leaves /metrics and /debug/pprof/ open to requests without credentials (for a
	// scraper); by default they need credentials like every route but the probes.
	OpenMetrics bool
	// Registerer receives strata_http_auth_failures_total; nil registers nothing.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Realm is the realm named in WWW-Authenticate.
const Realm = "strata"

// PrincipalPrefix begins every principal, as in Kafka ("User:alice").
const PrincipalPrefix = "User:"

type principalKey struct{}

// Principal returns the principal that a request authenticated as ("User:<name>") from the
// request's context, and false when the request carried none: authentication is off or the route
// is open. An authorizer calls it with r.Context().
func Principal(ctx context.Context) (string, bool) {
	p, ok := ctx.Value(principalKey{}).(string)
	return p, ok
}

// withPrincipal returns ctx carrying principal p.
func withPrincipal(ctx context.Context, p string) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// Authenticate returns next behind HTTP Basic authentication as configured (next itself when
// cfg.Users is nil).
func Authenticate(next http.Handler, cfg AuthConfig) (http.Handler, error) {
	if next == nil {
		return nil, errors.New("httpapi: Authenticate needs a handler")
	}
	if cfg.Users == nil {
		return next, nil
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	failures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_http_auth_failures_total",
		Help: "HTTP requests refused with 401, by reason (missing: no or malformed Basic credentials; invalid: unknown user or wrong password).",
	}, []string{"reason"})
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(failures); err != nil {
			return nil, fmt.Errorf("httpapi: register metrics: %w", err)
		}
	}
	return &authenticator{next: next, cfg: cfg,
		missing: failures.WithLabelValues("missing"), invalid: failures.WithLabelValues("invalid")}, nil
}

type authenticator struct {
	next             http.Handler
	cfg              AuthConfig
	missing, invalid prometheus.Counter
}

// open reports whether path may be served without credentials.
func (a *authenticator) open(path string) bool {
	switch {
	case path == "/healthz" || path == "/readyz":
		return true
	case path == "/metrics" || path == "/debug/pprof" || strings.HasPrefix(path, "/debug/pprof/"):
		return a.cfg.OpenMetrics
	}
	return false
}

func (a *authenticator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.open(r.URL.Path) {
		a.next.ServeHTTP(w, r)
		return
	}
	user, password, ok := r.BasicAuth()
	if !ok || user == "" {
		a.missing.Inc()
		a.refuse(w, r, "")
		return
	}
	if !a.cfg.Users.CheckPassword(user, password) {
		a.invalid.Inc()
		a.cfg.Logger.Debug("http: authentication failed", "user", user, "remote", r.RemoteAddr, "path", r.URL.Path)
		a.refuse(w, r, user)
		return
	}
	a.next.ServeHTTP(w, r.WithContext(withPrincipal(r.Context(), PrincipalPrefix+user)))
}

// refuse answers 401. The body says only that credentials are needed or were refused, not
// whether the user exists.
func (a *authenticator) refuse(w http.ResponseWriter, r *http.Request, user string) {
	w.Header().Set("WWW-Authenticate", `Basic realm="`+Realm+`"`)
	msg := "authentication required: HTTP Basic credentials of a --sasl-users user"
	if user != "" {
		msg = "authentication failed: unknown user or wrong password"
	}
	// The body is not read: close the connection rather than drain an unauthenticated upload.
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
	writeJSON(w, http.StatusUnauthorized, errorBody{Error: msg})
}
