package main

import "testing"

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1024": 1024, "128MiB": 128 << 20, "2GiB": 2 << 30, "64KiB": 64 << 10, "100MB": 100e6,
		"1TB": 1e12, "512B": 512, " 3 MiB ": 3 << 20,
	} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, int64(b), err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5GiB", "GiB", "12XB", "9999999999TiB", "0x10"} {
		var b byteSize
		if err := b.Set(in); err == nil {
			t.Errorf("Set(%q) = %d, want an error", in, int64(b))
		}
	}
}
