//go:build !unix

package hotlog

import "os"

// dupFile: without Unix descriptors, reads copy (ReadSpans returns bytes).
func dupFile(file) (*os.File, bool) { return nil, false }

func spanFileLimit() int64 { return 0 }
