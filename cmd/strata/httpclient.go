package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// httpClientFlags are shared by the commands that call a node's HTTP listener: HTTPS and the
// HTTP Basic credentials of a --sasl-users user. The flag names match the Kafka client
// commands', so STRATA_TLS_CA, STRATA_SASL_USER and STRATA_SASL_PASSWORD serve both.
type httpClientFlags struct {
	addr     string
	tls      bool
	tlsCA    string
	user     string
	password string
}

func (c *httpClientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.addr, "http-addr", "127.0.0.1:8080", "HTTP listener host:port of a Strata node")
	fs.BoolVar(&c.tls, "http-tls", false, "connect with HTTPS (implied by --tls-ca)")
	fs.StringVar(&c.tlsCA, "tls-ca", "", "PEM CA certificates to trust for HTTPS (default: the system's)")
	fs.StringVar(&c.user, "sasl-user", "", "user for HTTP Basic authentication (a user of the node's --sasl-users file)")
	fs.StringVar(&c.password, "sasl-password", "", "password of --sasl-user (prefer the STRATA_SASL_PASSWORD environment variable)")
}

// validate checks the flags; every message names the flag.
func (c *httpClientFlags) validate() error {
	if err := checkHostPort("--http-addr", c.addr); err != nil {
		return err
	}
	if (c.user == "") != (c.password == "") {
		return usagef("--sasl-user and --sasl-password (or STRATA_SASL_PASSWORD) go together")
	}
	return nil
}

// client returns an HTTP client for the flags and the URL of path on the node.
func (c *httpClientFlags) client(path string, query url.Values) (*http.Client, url.URL, error) {
	u := url.URL{Scheme: "http", Host: c.addr, Path: path, RawQuery: query.Encode()}
	tc, err := clientTLS(c.tls, c.tlsCA)
	if err != nil || tc == nil {
		return http.DefaultClient, u, err
	}
	u.Scheme = "https"
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &http.Client{Transport: tr}, u, nil
}

// do sends method path?query (no body) with the flags' credentials. A 401 becomes an error that
// says which flags are missing or refused; other statuses are the caller's.
func (c *httpClientFlags) do(ctx context.Context, method, path string, query url.Values) (*http.Response, error) {
	cl, u, err := c.client(path, query)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.password)
	}
	resp, err := cl.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach a Strata node at %s: %v", c.addr, err)
	}
	if resp.StatusCode == http.StatusBadRequest && u.Scheme == "http" {
		// net/http's answer to plain HTTP on a TLS port.
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if strings.Contains(string(b), "HTTPS server") {
			return nil, fmt.Errorf("%s serves HTTPS: give --http-tls (and --tls-ca for a private CA)", c.addr)
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
	}
	if resp.StatusCode == http.StatusUnauthorized {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if c.user == "" {
			return nil, fmt.Errorf("%s asks for credentials: give --sasl-user and STRATA_SASL_PASSWORD", c.addr)
		}
		return nil, fmt.Errorf("%s refused user %q: unknown user or wrong password", c.addr, c.user)
	}
	return resp, nil
}

// call sends method path?query, waiting at most timeout, and returns the node's JSON answer (at
// most limit bytes; see answer).
func (c *httpClientFlags) call(ctx context.Context, method, path string, query url.Values, timeout time.Duration, limit int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := c.do(ctx, method, path, query)
	if err != nil {
		return nil, err
	}
	return c.answer(resp, limit)
}

// answer reads a node's JSON answer of at most limit bytes and closes its body: the body of a
// 200; otherwise an error naming the node, with the answer's "error" field (or its status).
func (c *httpClientFlags) answer(resp *http.Response, limit int64) ([]byte, error) {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, fmt.Errorf("reading the answer from %s: %w", c.addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("%s: %s", c.addr, e.Error)
		}
		return nil, fmt.Errorf("%s answered %s (is it a Strata node?)", c.addr, resp.Status)
	}
	return body, nil
}
