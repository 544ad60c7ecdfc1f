//go:build race

package segment_test

// raceEnabled: under the race detector sync.Pool drops items at random, so pooled decoders are
// rebuilt now and then and allocation bounds that count on the pool do not hold.
const raceEnabled = true
