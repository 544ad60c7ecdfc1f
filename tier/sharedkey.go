package tier

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SharedObjectKey is the key of an object that holds one flush of several partitions (object
// durability):
//
//	<prefix>/shared/<node-id>/<written: Unix ns, 20 digits>-<nonce: 16 hex>.seg
//
// Each partition's catalog names its byte range (metadata.SegmentRef.Position and Size). The node
// ID and time say who wrote it and when; the random nonce keeps two writers (a restarted node, a
// clock stepping back) from ever writing the same key.
func SharedObjectKey(prefix string, node int32, written time.Time) string {
	var nonce [8]byte
	_, _ = rand.Read(nonce[:]) // never fails (crypto/rand panics rather than return an error)
	return sharedKey(prefix, node, written.UnixNano(), hex.EncodeToString(nonce[:]))
}

func sharedKey(prefix string, node int32, written int64, nonce string) string {
	var b strings.Builder
	if prefix = strings.TrimSuffix(prefix, "/"); prefix != "" {
		b.WriteString(prefix)
		b.WriteByte('/')
	}
	fmt.Fprintf(&b, "shared/%d/%020d-%s.seg", node, written, nonce)
	return b.String()
}

// SharedDir is the folder of every node's shared objects under prefix.
func SharedDir(prefix string) string {
	if prefix = strings.TrimSuffix(prefix, "/"); prefix != "" {
		return prefix + "/shared/"
	}
	return "shared/"
}

// IsSharedKey reports whether key is a SharedObjectKey: an object that may hold other partitions'
// ranges, which only the orphan sweeper deletes (once no catalog names any range of it).
func IsSharedKey(key string) bool {
	k, err := ParseObjectKey(key)
	return err == nil && k.Shared
}

// parseSharedKey parses the parts of a key whose third-last element is "shared".
func parseSharedKey(key string, parts []string) (ParsedKey, error) {
	n := len(parts)
	k := ParsedKey{NextOffset: -1, Shared: true, Prefix: strings.Join(parts[:n-3], "/")}
	node, err := strconv.ParseInt(parts[n-2], 10, 32)
	if err != nil || node < 0 || strconv.FormatInt(node, 10) != parts[n-2] {
		return k, fmt.Errorf("%w: %q: node", ErrBadKey, key)
	}
	k.Node = int32(node)
	name, ok := strings.CutSuffix(parts[n-1], ".seg")
	written, nonce, ok2 := strings.Cut(name, "-")
	if !ok || !ok2 || len(written) != 20 || len(nonce) != 16 {
		return k, fmt.Errorf("%w: %q: file name", ErrBadKey, key)
	}
	if k.Written, err = strconv.ParseInt(written, 10, 64); err != nil || k.Written < 0 {
		return k, fmt.Errorf("%w: %q: time", ErrBadKey, key)
	}
	if _, err := hex.DecodeString(nonce); err != nil || strings.ToLower(nonce) != nonce {
		return k, fmt.Errorf("%w: %q: nonce", ErrBadKey, key)
	}
	k.Nonce = nonce
	return k, nil
}
