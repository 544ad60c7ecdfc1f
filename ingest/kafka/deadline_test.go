package kafka

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// A peer that announces a frame and then stalls is disconnected after IOTimeout, and the server
// keeps serving others.
func TestSlowSenderDisconnected(t *testing.T) {
	n := startNode(t, nodeOpts{serverCfg: func(c *Config) { c.IOTimeout = 300 * time.Millisecond }})
	slow := n.raw(t)
	var size [4]byte
	binary.BigEndian.PutUint32(size[:], 1000)
	slow.writeRaw(append(size[:], 0, 18)) // 6 of the 1000 announced bytes
	slow.expectClosed()

	r := n.raw(t)
	if resp := r.roundTrip(kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions after a slow sender: error %d", resp.ErrorCode)
	}
}

// A connection that sends nothing is closed after IdleTimeout; one that keeps talking is not.
func TestIdleConnectionClosed(t *testing.T) {
	n := startNode(t, nodeOpts{serverCfg: func(c *Config) { c.IdleTimeout = 400 * time.Millisecond }})
	busy := n.raw(t)
	idle := n.raw(t)
	for i := 0; i < 5; i++ { // 1 s of requests, each well within the idle timeout
		busy.roundTrip(kmsg.NewPtrApiVersionsRequest())
		time.Sleep(200 * time.Millisecond)
	}
	idle.expectClosed()
	busy.roundTrip(kmsg.NewPtrApiVersionsRequest())
}
