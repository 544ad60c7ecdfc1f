package objstore

import (
	"net/url"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseURL feeds arbitrary strings to the s3:// and minio:// parsers: they must never panic,
// and whatever they accept must name a valid bucket and a clean prefix.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"s3://bucket/prefix?endpoint=http://127.0.0.1:9000&region=us-east-1",
		"s3://b-1.x/a/b/?path_style=false",
		"minio://127.0.0.1:9000/bucket/prefix?secure=false",
		"minio://[::1]:9000/bkt",
		"s3://bucket/../x", "minio://h/b//c", "s3://%zz", "minio://h/b?secure=1&region=eu",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		for _, parse := range []func(*url.URL) (location, error){parseS3URL, parseMinioURL} {
			loc, err := parse(u)
			if err != nil {
				continue
			}
			if validBucketName(loc.bucket) != nil {
				t.Fatalf("%q: accepted bucket %q", raw, loc.bucket)
			}
			if loc.prefix != "" {
				p := strings.TrimSuffix(loc.prefix, "/")
				if !strings.HasSuffix(loc.prefix, "/") || ValidateKey(p) != nil || path.Clean(p) != p {
					t.Fatalf("%q: accepted prefix %q", raw, loc.prefix)
				}
			}
		}
	})
}

// FuzzValidateKey: a key that passes ValidateKey stays inside the file backend's root, is clean,
// and can be listed under.
func FuzzValidateKey(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "a//b", "/a", "a/./b", ".strata-tmp-1", "a/..b", "ü/ñ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if ValidateKey(key) != nil {
			return
		}
		if path.Clean(key) != key || strings.HasPrefix(key, "/") {
			t.Fatalf("valid key %q is not clean", key)
		}
		const root = "/root/dir"
		if p := filepath.Join(root, filepath.FromSlash(key)); !strings.HasPrefix(p, root+"/") {
			t.Fatalf("valid key %q escapes the root: %q", key, p)
		}
		if !listable(key) || !listable(key+"/") {
			t.Fatalf("valid key %q is not listable", key)
		}
	})
}
