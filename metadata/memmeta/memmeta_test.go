package memmeta_test

import (
	"testing"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/memmeta"
	"github.com/strata-log/strata/metadata/metatest"
)

func TestConformance(t *testing.T) {
	metatest.Run(t, func(t *testing.T) metadata.Store {
		s, err := memmeta.New(memmeta.Config{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
