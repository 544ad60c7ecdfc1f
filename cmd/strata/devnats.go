package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/strata-log/strata/metadata/natsmeta"
)

// runDevNATS runs one clustered NATS server with JetStream until SIGTERM: a member of a dev
// cluster's metadata cluster (`strata dev nats`, started by `dev cluster up`). JetStream fsyncs
// before every acknowledgement (sync_interval: always), as a production NATS for Strata should.
// It listens, so it requires a token of clients and routes: the one in --token-file (created
// with mode 0600 when missing; `dev cluster up` makes one for the whole cluster), or by default
// one kept in <dir>/nats.token.
func runDevNATS(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev nats", flag.ContinueOnError)
	name := fs.String("name", "", "server name, unique in the cluster")
	dir := fs.String("dir", "", "JetStream directory")
	host := fs.String("host", "127.0.0.1", "listen address")
	port := fs.Int("port", 4222, "client port")
	clusterPort := fs.Int("cluster-port", 6222, "route port")
	routes := fs.String("routes", "", "comma-separated nats-route://host:port of every member")
	tokenFile := fs.String("token-file", "", "file holding the token clients and routes must present, created (mode 0600) when missing (default <dir>/nats.token)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if *name == "" || *dir == "" || *routes == "" {
		return usagef("--name, --dir and --routes are required")
	}
	if *tokenFile == "" {
		if err := os.MkdirAll(*dir, 0o755); err != nil {
			return err
		}
		*tokenFile = filepath.Join(*dir, "nats.token")
	}
	token, err := natsmeta.LoadOrCreateToken(*tokenFile)
	if err != nil {
		return usagef("--token-file: %v", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	e, err := natsmeta.StartEmbedded(natsmeta.EmbeddedConfig{Dir: *dir, Host: *host, Port: *port, ServerName: *name,
		ClusterName: "strata-meta", ClusterPort: *clusterPort, Routes: strings.Split(*routes, ","), Token: token})
	if err != nil {
		return err
	}
	defer e.Shutdown()
	// The embedded server logs nothing by default; from here on its notices go to this log.
	e.Server().SetLoggerV2(natsLogger{log.With("nats", *name)}, false, false, false)
	log.Info("nats serving", "name", *name, "client", e.ClientURL(), "cluster_port", *clusterPort,
		"routes", *routes, "sync", "always", "token_file", *tokenFile)
	<-ctx.Done()
	log.Info("nats shutting down", "name", *name)
	return nil
}

// natsLogger hands nats-server's log lines to slog.
type natsLogger struct{ log *slog.Logger }

var _ server.Logger = natsLogger{}

func (l natsLogger) Noticef(format string, v ...any) { l.log.Info(fmt.Sprintf(format, v...)) }
func (l natsLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l natsLogger) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l natsLogger) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l natsLogger) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l natsLogger) Tracef(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }

// natsTokenPath is the token file of a dev cluster's NATS servers, which its nodes present too.
func (l devLayout) natsTokenPath() string { return filepath.Join(l.dir, "nats.token") }
