package kafka

// TLS on the Kafka listener.
//
// With Config.TLS set, Serve wraps every accepted connection in tls.Server; the handshake runs on
// the connection's own goroutine (a slow or silent peer never holds up the accept loop) under
// IOTimeout. A failed handshake closes that connection only: it is logged at debug level and
// counted in strata_kafka_tls_handshake_failures_total. The advertised address stays host:port;
// clients choose TLS themselves (security.protocol=SSL or SASL_SSL).

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrTLS wraps errors loading certificates and keys for the listener.
var ErrTLS = errors.New("kafka: tls")

// handshake completes the TLS handshake of a TLS connection (a no-op for plaintext) and reports
// whether the connection may be served.
func (cc *clientConn) handshake() bool {
	tc, ok := cc.nc.(*tls.Conn)
	if !ok {
		return true
	}
	_ = tc.SetDeadline(time.Now().Add(cc.s.cfg.IOTimeout))
	if err := tc.HandshakeContext(cc.ctx); err != nil {
		cc.s.sec.tlsFailures.Inc()
		cc.log.Debug("kafka: tls handshake failed", "err", err)
		cc.cancel()
		tc.Close()
		return false
	}
	_ = tc.SetDeadline(time.Time{})
	return true
}

// ServerTLSConfig loads a listener certificate and key (PEM files) and, when clientCAFile is not
// empty, requires every client to present a certificate signed by one of the CAs in that PEM file
// (mutual TLS). The minimum version is TLS 1.2.
func ServerTLSConfig(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" {
		return nil, fmt.Errorf("%w: both a certificate and a key are needed", ErrTLS)
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate: %w", ErrTLS, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: key: %w", ErrTLS, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate %s and key %s: %w", ErrTLS, certFile, keyFile, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCAFile != "" {
		pool, err := LoadCertPool(clientCAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// LoadCertPool reads a PEM file of CA certificates.
func LoadCertPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w: CA file: %w", ErrTLS, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%w: CA file %s holds no PEM certificate", ErrTLS, file)
	}
	return pool, nil
}

// securityMetrics count TLS and SASL outcomes.
type securityMetrics struct {
	tlsFailures prometheus.Counter
	saslAuth    *prometheus.CounterVec
}

func newSecurityMetrics(reg prometheus.Registerer) (*securityMetrics, error) {
	m := &securityMetrics{
		tlsFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_kafka_tls_handshake_failures_total",
			Help: "Kafka connections closed because their TLS handshake failed.",
		}),
		saslAuth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_kafka_sasl_authentications_total",
			Help: "SASL authentications on the Kafka listener, by mechanism and result (success or failure).",
		}, []string{"mechanism", "result"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.tlsFailures, m.saslAuth} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("%w: register metrics: %v", ErrConfig, err)
		}
	}
	return m, nil
}
