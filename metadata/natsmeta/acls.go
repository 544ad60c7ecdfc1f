package natsmeta

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strata-log/strata/metadata"
)

// ACLs live in their own bucket, one key per distinct ACL: the hex of the first 16 bytes of the
// SHA-256 of its JSON value, so creating an ACL twice writes the same key and deleting needs no
// index. The value is JSON with "v": 1; a decoded value must pass metadata.ACL.Validate (else
// ErrCorrupt).

type aclJSON struct {
	V            int    `json:"v"`
	ResourceType int8   `json:"resource_type"`
	ResourceName string `json:"resource_name"`
	PatternType  int8   `json:"pattern_type"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    int8   `json:"operation"`
	Permission   int8   `json:"permission"`
}

func encodeACL(a metadata.ACL) []byte {
	b, _ := json.Marshal(aclJSON{V: jsonVersion, ResourceType: int8(a.ResourceType), ResourceName: a.ResourceName,
		PatternType: int8(a.PatternType), Principal: a.Principal, Host: a.Host, Operation: int8(a.Operation),
		Permission: int8(a.Permission)})
	return b
}

func decodeACL(b []byte) (metadata.ACL, error) {
	var j aclJSON
	if err := decodeJSON(b, &j, &j.V); err != nil {
		return metadata.ACL{}, err
	}
	a := metadata.ACL{ResourceType: metadata.ResourceType(j.ResourceType), ResourceName: j.ResourceName,
		PatternType: metadata.PatternType(j.PatternType), Principal: j.Principal, Host: j.Host,
		Operation: metadata.ACLOperation(j.Operation), Permission: metadata.ACLPermission(j.Permission)}
	if err := a.Validate(); err != nil {
		return metadata.ACL{}, fmt.Errorf("%w: acl: %v", ErrCorrupt, err)
	}
	return a, nil
}

// aclKey is the key of a's record.
func aclKey(a metadata.ACL) string {
	sum := sha256.Sum256(encodeACL(a))
	return hex.EncodeToString(sum[:16])
}

// CreateACLs implements metadata.Store. The ACLs are written one by one; a failure part way leaves
// the ones before it stored, and a retry of the call writes the same keys again.
func (s *Store) CreateACLs(ctx context.Context, acls []metadata.ACL) (err error) {
	defer s.observe("create_acls", time.Now(), &err)
	for _, a := range acls {
		if err := a.Validate(); err != nil {
			return err
		}
	}
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	for _, a := range acls {
		key := aclKey(a)
		cur, err := s.get(ctx, s.acls, key)
		if err != nil {
			return err
		}
		if cur.live {
			continue // stored already: no write, no watch signal
		}
		if _, err := s.put(ctx, s.acls, key, encodeACL(a), anyRev, putOpts{}); err != nil {
			return err
		}
	}
	return nil
}

// DeleteACLs implements metadata.Store. Each matching ACL is purged under compare-and-swap on the
// revision listed; one deleted meanwhile by another caller is not reported.
func (s *Store) DeleteACLs(ctx context.Context, f metadata.ACLFilter) (_ []metadata.ACL, err error) {
	defer s.observe("delete_acls", time.Now(), &err)
	if err := f.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	es, err := s.list(ctx, s.acls)
	if err != nil {
		return nil, err
	}
	var out []metadata.ACL
	for _, e := range es {
		a, err := decodeACL(e.Value())
		if err != nil {
			return nil, err
		}
		if !f.Matches(a) {
			continue
		}
		switch err := s.purge(ctx, s.acls, e.Key(), e.Revision()); {
		case err == nil:
			out = append(out, a)
		case errors.Is(err, errMismatch): // deleted (or deleted and created again) by someone else
		default:
			return nil, err
		}
	}
	slices.SortFunc(out, metadata.CompareACLs)
	return out, nil
}

// ListACLs implements metadata.Store.
func (s *Store) ListACLs(ctx context.Context) (_ []metadata.ACL, err error) {
	defer s.observe("list_acls", time.Now(), &err)
	ctx, cancel := s.methodCtx(ctx)
	defer cancel()
	es, err := s.list(ctx, s.acls)
	if err != nil {
		return nil, err
	}
	out := make([]metadata.ACL, 0, len(es))
	for _, e := range es {
		a, err := decodeACL(e.Value())
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	slices.SortFunc(out, metadata.CompareACLs)
	return out, nil
}

// WatchACLs implements metadata.Store with a headers-only ordered consumer of the ACL bucket from
// the stream's next sequence at the call (see fromNow): every put and purge signals. The channel
// is closed when ctx ends or the Store closes.
func (s *Store) WatchACLs(ctx context.Context) (<-chan struct{}, error) {
	wctx, cancel := context.WithCancel(ctx)
	out := make(chan struct{}, 1)
	var mu sync.Mutex // orders callbacks still running after Stop with close(out)
	closed := false
	var cc jetstream.ConsumeContext
	err := s.call(wctx, "watch", func(cctx context.Context) error {
		cfg, err := s.fromNow(cctx, s.acls)
		if err != nil {
			return err
		}
		cons, err := s.js.OrderedConsumer(cctx, s.acls.stream, cfg)
		if err != nil {
			return err
		}
		cc, err = cons.Consume(func(jetstream.Msg) {
			mu.Lock()
			defer mu.Unlock()
			if closed {
				return
			}
			select {
			case out <- struct{}{}:
			default:
			}
		}, jetstream.PullHeartbeat(time.Second), jetstream.PullExpiry(5*time.Second),
			jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
				s.log.Debug("natsmeta: acl watch", "err", err)
			}))
		return err
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("natsmeta: watch acls: %w", err)
	}
	s.wg.Add(1)
	go func() { // owned by the store; ends with ctx or Close
		defer s.wg.Done()
		defer cancel()
		select {
		case <-wctx.Done():
		case <-s.done:
		}
		cc.Stop()
		mu.Lock()
		closed = true
		close(out)
		mu.Unlock()
	}()
	return out, nil
}
