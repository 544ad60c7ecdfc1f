package natsmeta

// SetBatching changes how many writes of a bucket may be in flight alone before writes queue for
// a batch, and how many queued writes make one; it returns a func restoring the old values.
// Stores opened afterwards use them. Tests and benchmarks only.
func SetBatching(alone, minPuts int) (restore func()) {
	oldAlone, oldMin := aloneMax, batchMinPuts
	aloneMax, batchMinPuts = alone, minPuts
	return func() { aloneMax, batchMinPuts = oldAlone, oldMin }
}
